"""Fault injection for the crash and full-disk tests: a no-op unless ``CANARY_FAULT_POINT`` is set."""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path


def fault(step: str, path: Path | None = None) -> None:
    """For tests only: crash or fail at ``step`` when env ``CANARY_FAULT_POINT`` names it.

    ``CANARY_FAULT_POINT`` holds one step or several separated by commas, e.g.
    ``state:after-write``, ``state:after-fsync``, ``state:after-rename``, ``audit:after-write``,
    ``rolloutlog:after-write``. At a named step the process kills itself with SIGKILL (no cleanup,
    no ``finally``: what a power cut or an OOM kill leaves). ``<label>:enospc`` raises
    ``OSError(ENOSPC)`` where the data would be written. Read at call time, so a test can set
    it per subprocess; unset (always, outside tests) it costs one dictionary lookup.
    """
    wanted = os.environ.get("CANARY_FAULT_POINT")
    if not wanted or step not in wanted.split(","):
        return
    if step.endswith(":enospc"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path) if path else None)
    os.kill(os.getpid(), signal.SIGKILL)
