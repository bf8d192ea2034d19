"""Atomic file replacement: a reader sees the old file or the new one, never a mix."""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path

from pytest_canary.store.faults import fault

TEMP_PREFIX = ".tmp-"


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder entry is on disk; not every OS can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, label: str = "file", durable: bool = True) -> None:
    """Replace ``path`` by ``data``: temporary file beside it, fsync, rename, fsync of the folder.

    A reader sees the old file or the new one, never a mix. ``durable=False`` skips both fsyncs,
    for files that are recomputed from their inputs when lost (decisions): the rename keeps them
    atomic, only a power cut may take the newest one back. Creates the file's folder when it is
    missing but never its parent (so a tenant folder is never created). On failure the temporary
    file is removed and the ``OSError`` propagates for the caller to turn into a one-line refusal.
    ``label`` names the fault points (``<label>:after-write`` ...) of :func:`~pytest_canary.store.faults.fault`.
    """
    folder = path.parent
    folder.mkdir(exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=folder)
    tmp = Path(tmp_name)
    try:
        # mkstemp makes 0600; these files are read by dashboards and people, so match the old one.
        with suppress(OSError):
            os.fchmod(fd, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        with os.fdopen(fd, "wb") as handle:
            fault(f"{label}:enospc", path)
            handle.write(data)
            handle.flush()
            fault(f"{label}:after-write")
            if durable:
                os.fsync(handle.fileno())
            fault(f"{label}:after-fsync")
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    fault(f"{label}:after-rename")
    if durable:
        _fsync_dir(folder)


def sweep_temps(path: Path) -> None:
    """Remove temporary files a killed writer of ``path`` left behind.

    Call it only while holding the tenant lock: every writer of these files holds it too, so no
    temporary file found then is still being written.
    """
    with suppress(OSError):
        for leftover in path.parent.glob(f"{TEMP_PREFIX}{path.name}.*"):
            with suppress(OSError):
                leftover.unlink()
