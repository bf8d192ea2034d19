"""The tenant's state lock: one writer of a tenant's state, audit log and decisions at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from pytest_canary.core.errors import CanaryUsageError, RolloutRefused
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.settings import LOCK_TIMEOUT

__all__ = ["LOCK_TIMEOUT", "state_lock"]


@contextmanager
def state_lock(paths: TenantPaths, timeout: float) -> Iterator[None]:
    """Hold the tenant's state lock (a filelock beside the state), or refuse after ``timeout``.

    Every writer of a tenant's files holds it, and every one of them ends with an audit line; so
    the audit log is checked here, once the lock is held and before the caller writes anything:
    a log with an unreadable line refuses the whole command, not its last step.
    """
    # Imported here: the canary parser reads LOCK_TIMEOUT, and the audit log's models are heavy.
    from pytest_canary.store.audit import require_readable

    paths.check(paths.operate_dir)
    if paths.lock.is_symlink():
        raise CanaryUsageError(f"{paths.lock}: is a link; remove it (the lock file is ours)")
    lock = FileLock(str(paths.lock), timeout=timeout)
    try:
        paths.operate_dir.mkdir(exist_ok=True)
        lock.acquire()
    except Timeout:
        raise RolloutRefused(
            f"{paths.tenant}: state is locked by another rollout (waited {timeout:g}s);"
            " try again later"
        ) from None
    except OSError as exc:  # a read-only or full disk: the lock file cannot even be opened
        raise RolloutRefused(
            f"{paths.tenant}: cannot take the state lock {paths.lock}"
            f" ({exc.strerror or exc}); nothing was written"
        ) from None
    try:
        require_readable(paths)
        yield
    finally:
        lock.release()
