"""Reading a file we did not write: a regular file, bounded in size, errors as one line."""

from __future__ import annotations

from pathlib import Path

from pytest_canary.core.jsonfile import InvalidInput

MAX_INPUT_BYTES = 16 * 1024 * 1024


def read_bytes(path: Path, where: str | None = None, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read a regular file of at most ``limit`` bytes, or raise :class:`InvalidInput`."""
    label = where or str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except IsADirectoryError:
        raise InvalidInput(f"{label}: is a folder, expected a file") from None
    except OSError as exc:
        raise InvalidInput(f"{label}: cannot be read ({exc.strerror})") from None
    if len(data) > limit:
        raise InvalidInput(f"{label}: larger than {limit // (1024 * 1024)} MiB")
    return data
