"""Fault injection for the crash, race and full-disk tests: a no-op unless ``CANARY_FAULT_POINT`` is set."""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

PAUSE_LIMIT = 120.0
"""The longest a paused step waits to be released (a test that forgot to release it)."""


def fault(step: str, path: Path | None = None) -> None:
    """For tests only: crash, fail or pause at ``step`` when env ``CANARY_FAULT_POINT`` names it.

    ``CANARY_FAULT_POINT`` holds one step or several separated by commas, e.g.
    ``state:after-write``, ``state:after-fsync``, ``state:after-rename``, ``audit:after-write``,
    ``rolloutlog:after-write``. At a named step the process kills itself with SIGKILL (no cleanup,
    no ``finally``: what a power cut or an OOM kill leaves). ``<label>:enospc`` raises
    ``OSError(ENOSPC)`` where the data would be written. ``<step>@pause`` (e.g.
    ``state:after-read@pause``) stops there instead, so a test can run another command in the
    middle: the process creates ``<step>.paused`` in the folder env ``CANARY_FAULT_DIR`` names
    and goes on once the test creates ``<step>.go`` there. Read at call time, so a test can set
    it per subprocess; unset (always, outside tests) it costs one dictionary lookup.
    """
    wanted = os.environ.get("CANARY_FAULT_POINT")
    if not wanted:
        return
    points = wanted.split(",")
    if f"{step}@pause" in points:
        _pause(step)
    if step not in points:
        return
    if step.endswith(":enospc"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path) if path else None)
    os.kill(os.getpid(), signal.SIGKILL)


def _pause(step: str) -> None:
    folder = Path(os.environ["CANARY_FAULT_DIR"])
    (folder / f"{step}.paused").touch()
    release = folder / f"{step}.go"
    deadline = time.monotonic() + PAUSE_LIMIT
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
