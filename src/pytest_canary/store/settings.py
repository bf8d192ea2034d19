"""Settings of one run, each resolved in one place with errors that name where a value came from.

The root: ``--canary-root``, else env ``CANARY_ROOT``, else ini ``canary_root``, else
``artifacts/reports/mahnwesen``. A flag or env value is taken from the working directory, an ini
value or the default from pytest's rootdir.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from pytest_canary.core.errors import CanaryUsageError

BERLIN = ZoneInfo("Europe/Berlin")
DEFAULT_ROOT = "artifacts/reports/mahnwesen"
ENV_ROOT = "CANARY_ROOT"
ENV_TRACE = "CANARY_TRACE_ID"
LOCK_TIMEOUT = 30.0
"""Seconds a writer waits for the tenant's state lock before it refuses (the lock lives in
``store.lock``; the default is here so the CLI's parser can name it without importing pydantic)."""
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRACE = re.compile(r"^[0-9a-f]{32}$")


def resolve_root(
    option: str | None, environ: Mapping[str, str], ini: str | None, cwd: Path, rootdir: Path
) -> Path:
    """The canary root, which must be an existing folder."""
    if option:
        path, source = cwd / option, "--canary-root"
    elif environ.get(ENV_ROOT):
        path, source = cwd / environ[ENV_ROOT], f"env {ENV_ROOT}"
    elif ini:
        path, source = rootdir / ini, "ini canary_root"
    else:
        path, source = rootdir / DEFAULT_ROOT, "the default root"
    if not path.is_dir():
        raise CanaryUsageError(
            f"{source}: {path} is not a folder (the canary root holds one per tenant)"
        )
    return path.resolve()


def parse_date(
    text: str | None, source: str = "--canary-date", now: dt.datetime | None = None
) -> dt.date:
    """A ``YYYY-MM-DD`` date, or today in Europe/Berlin when ``text`` is empty."""
    if not text:
        return (now or dt.datetime.now(BERLIN)).astimezone(BERLIN).date()
    if not _DATE.fullmatch(text):
        raise CanaryUsageError(f"{source} {text!r}: expected a date as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CanaryUsageError(f"{source} {text!r}: no such day") from None


def trace_id(environ: Mapping[str, str]) -> str:
    """``CANARY_TRACE_ID`` when set (32 lowercase hex characters), else a fresh random one."""
    given = environ.get(ENV_TRACE)
    if given is None or given == "":
        return uuid.uuid4().hex
    if not _TRACE.fullmatch(given):  # fullmatch: "$" alone lets a trailing newline through
        raise CanaryUsageError(f"{ENV_TRACE}={given!r}: expected 32 lowercase hex characters")
    return given


def now_berlin() -> dt.datetime:
    return dt.datetime.now(BERLIN).replace(microsecond=0)
