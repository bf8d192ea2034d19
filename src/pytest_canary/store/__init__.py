"""The file layout under the canary root: tenant ids, paths, atomic writes, the lock, the audit.

Everything that touches a path under the root goes through here, so the rules live in one place:
a tenant id is checked before any file is touched, a path that resolves outside the root (symlinks
included) is refused, a tenant folder is never created, a file is replaced atomically or not at
all, and the audit log only ever grows by whole, hash-chained lines.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from pytest_canary.core import jsonfile
from pytest_canary.core.errors import CanaryUsageError, RolloutRefused
from pytest_canary.core.models import TENANT_PATTERN, AuditLine, Decision, OperateState
from pytest_canary.store.audit import (
    AuditVerdict,
    parse_line,
    read_audit,
    split_audit,
    verify_audit,
)
from pytest_canary.store.readers import parse_state

DEFAULT_LOCK_TIMEOUT = 30.0
"""Seconds a writer waits for the tenant's state lock before it refuses."""

TEMP_PREFIX = ".tmp-"
_TENANT_RE = re.compile(TENANT_PATTERN)
__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "AuditVerdict",
    "TenantPaths",
    "append_audit",
    "contained",
    "dated_files",
    "list_tenants",
    "name_date",
    "read_audit",
    "read_state",
    "record_decision",
    "state_lock",
    "sweep_temps",
    "validate_tenant_id",
    "verify_audit",
    "write_atomic",
]
_AUDIT_KEYS = frozenset({"seq", "at", "event", "tenant", "prev"})
KPI_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.json$")
DECISION_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})_decision\.json$")


def dated_files(folder: Path, pattern: re.Pattern[str]) -> dict[dt.date, Path]:
    """Files in ``folder`` named by a date (``pattern``'s first group), keyed by that date.

    A name that is not a real day (``2024-13-45.json``) is not one of ours and is left out; so is
    everything in a folder that does not exist yet.
    """
    found: dict[dt.date, Path] = {}
    if not folder.is_dir():
        return found
    for path in folder.iterdir():
        day = name_date(pattern, path.name)
        if day is not None:
            found[day] = path
    return found


def name_date(pattern: re.Pattern[str], name: str) -> dt.date | None:
    """The date in ``name`` (``pattern``'s first group), ``None`` when it has none or no real day."""
    match = pattern.match(name)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _fault(step: str, path: Path | None = None) -> None:
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


# --- tenant ids and paths ---------------------------------------------------------------------


def validate_tenant_id(tenant: str) -> str:
    """Return ``tenant`` when it is a valid id, else raise :class:`CanaryUsageError` (one line)."""
    # fullmatch and no re.IGNORECASE: a trailing newline or a look-alike letter never passes.
    if not isinstance(tenant, str) or not _TENANT_RE.fullmatch(tenant):
        raise CanaryUsageError(
            f"invalid tenant id {tenant!a}: expected 1-63 characters of a-z, 0-9, '-', '_',"
            " starting with a letter or digit"
        )
    if tenant == "all":
        raise CanaryUsageError(
            "invalid tenant id 'all': it is reserved (it selects every tenant folder)"
        )
    return tenant


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # a link loop: RuntimeError before Python 3.13, then OSError
        raise CanaryUsageError(
            f"{path}: is a link loop or cannot be resolved; replace it with a real folder or file"
        ) from None


def _inside(root: Path, path: Path) -> bool:
    return _resolve(path).is_relative_to(root)


def contained(root: Path, path: Path) -> Path:
    """The resolved ``path``; :class:`CanaryUsageError` when it (or a link on it) leaves root."""
    base = root.resolve()
    resolved = _resolve(path)
    if not resolved.is_relative_to(base):
        raise CanaryUsageError(
            f"{path}: resolves to {resolved}, outside the canary root {base};"
            " use a path under the root"
        )
    return resolved


@dataclass(frozen=True)
class TenantPaths:
    """Where one tenant's files live. Build it with :meth:`open`, which checks the id and folder."""

    root: Path
    tenant: str
    dir: Path

    @classmethod
    def open(cls, root: Path, tenant: str) -> TenantPaths:
        """Check the id, then the folder: it must exist, inside the root. Creates nothing."""
        validate_tenant_id(tenant)
        base = root.resolve()
        folder = base / tenant
        if not folder.is_dir():
            known = list_tenants(base)
            shown = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if known[10:] else "")
            raise CanaryUsageError(
                f"unknown tenant {tenant!r}: no folder {folder}"
                f" (tenants under this root: {shown or 'none'})"
            )
        paths = cls(root=base, tenant=tenant, dir=folder)
        # The folders and the state file are checked now; every writer checks again before writing.
        for path in (folder, paths.ops_dir, paths.operate_dir, paths.canary_dir):
            paths.check(path)
        for path in (paths.state, paths.blocklist, paths.audit):
            paths.check(path)
        return paths

    def check(self, path: Path) -> Path:
        """``path`` itself when it (and every link on the way) stays under the root, else refuse."""
        if (path.exists() or path.is_symlink()) and not _inside(self.root, path):
            raise CanaryUsageError(
                f"{path}: resolves to {path.resolve()}, outside the canary root {self.root};"
                " replace the link with a real folder or file"
            )
        return path

    @property
    def ops_dir(self) -> Path:
        return self.dir / "ops"

    @property
    def operate_dir(self) -> Path:
        return self.dir / "operate"

    @property
    def canary_dir(self) -> Path:
        return self.dir / "canary"

    @property
    def blocklist(self) -> Path:
        return self.ops_dir / "blocklist.json"

    @property
    def state(self) -> Path:
        return self.operate_dir / "operate_state.json"

    @property
    def lock(self) -> Path:
        return self.operate_dir / "operate_state.json.lock"

    @property
    def audit(self) -> Path:
        return self.canary_dir / "audit.jsonl"

    def kpi(self, date: dt.date) -> Path:
        return self.dir / f"{date.isoformat()}.json"

    def decision_json(self, date: dt.date) -> Path:
        return self.canary_dir / f"{date.isoformat()}_decision.json"

    def decision_md(self, date: dt.date) -> Path:
        return self.canary_dir / f"{date.isoformat()}_decision.md"

    def rollout_json(self, date: dt.date) -> Path:
        return self.canary_dir / f"{date.isoformat()}_rollout_log.json"

    def rollout_md(self, date: dt.date) -> Path:
        return self.canary_dir / f"{date.isoformat()}_rollout_log.md"

    def control_json(self, date: dt.date, action: str) -> Path:
        """The log of a kill, pause or resume by hand: ``<date>_<action>_log.json``."""
        return self.canary_dir / f"{date.isoformat()}_{action.lower()}_log.json"

    def control_md(self, date: dt.date, action: str) -> Path:
        return self.canary_dir / f"{date.isoformat()}_{action.lower()}_log.md"


def list_tenants(root: Path) -> list[str]:
    """Sorted names of the folders under ``root`` that are valid tenant ids (``all`` excluded).

    A folder that is a link leaving the root is still listed, so that selecting it with ``all``
    is refused loudly by :meth:`TenantPaths.open` instead of being skipped in silence.
    """
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    names = [p.name for p in entries if p.name != "all" and _TENANT_RE.fullmatch(p.name)]
    return sorted(name for name in names if (root / name).is_dir())


# --- atomic writes ----------------------------------------------------------------------------


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
    ``label`` names the fault points (``<label>:after-write`` ...) of :func:`_fault`.
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
            _fault(f"{label}:enospc", path)
            handle.write(data)
            handle.flush()
            _fault(f"{label}:after-write")
            if durable:
                os.fsync(handle.fileno())
            _fault(f"{label}:after-fsync")
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    _fault(f"{label}:after-rename")
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


# --- the lock ---------------------------------------------------------------------------------


@contextmanager
def state_lock(paths: TenantPaths, timeout: float) -> Iterator[None]:
    """Hold the tenant's state lock (a filelock beside the state), or refuse after ``timeout``."""
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
        yield
    finally:
        lock.release()


# --- the audit chain --------------------------------------------------------------------------


def append_audit(
    paths: TenantPaths,
    event: str,
    fields: dict[str, Any],
    at: dt.datetime,
    *,
    durable: bool = True,
) -> AuditLine:
    """Append one complete line, chained to the line before by its sha256 (``prev``), fsynced.

    Hold the tenant lock while calling it: the chain is read, then extended. ``fields`` carry
    ids, decisions, counts and reasons only, never an address. A torn last line (a crash
    mid-write) is left in place, not chained onto: the new line starts on a fresh line, chains to
    the last complete one and records the torn bytes' hash as ``torn_prev``, which
    :func:`verify_audit` accepts. ``durable=False`` leaves the fsync to the next durable line (an
    fsync flushes the whole file), for lines that record no change of state.
    """
    clash = _AUDIT_KEYS & fields.keys()
    if clash:
        raise ValueError(f"audit fields may not set {sorted(clash)}")
    audit = paths.check(paths.audit)
    paths.check(paths.canary_dir).mkdir(exist_ok=True)
    try:
        data = audit.read_bytes()
    except FileNotFoundError:
        data = b""
    lines, torn = split_audit(data)
    last = lines[-1] if lines else None
    last_seq = next((parsed["seq"] for raw in reversed(lines) if (parsed := parse_line(raw))), 0)
    record: dict[str, Any] = {
        "seq": last_seq + 1,
        "at": at.isoformat(),
        "event": event,
        "tenant": paths.tenant,
        "prev": jsonfile.sha256_hex(last) if last is not None else None,
        **fields,
    }
    if torn is not None:
        record["torn_prev"] = jsonfile.sha256_hex(torn)
    line = AuditLine.model_validate(record)  # a bug (bad event, naive time) fails before writing
    fresh_line = b"\n" if data and not data.endswith(b"\n") else b""
    payload = fresh_line + jsonfile.canonical_json(record) + b"\n"
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(audit, flags, 0o644)
    try:
        # One write of the whole line: with O_APPEND it lands after whatever is there, in one piece.
        written = os.write(fd, payload)
        while written < len(payload):  # a short write on a full disk: finish it or fail
            written += os.write(fd, payload[written:])
        _fault("audit:after-write")
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    return line


# --- state and decisions ----------------------------------------------------------------------


def read_state(paths: TenantPaths) -> OperateState | None:
    """The tenant's operate state, ``None`` when there is no file, ``InvalidInput`` when corrupt."""
    path = paths.check(paths.state)
    if not (path.exists() or path.is_symlink()):
        return None
    return parse_state(jsonfile.read_bytes(path), str(path), paths.tenant)


def record_decision(
    paths: TenantPaths,
    decision: Decision,
    markdown: str,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Write ``<date>_decision.json`` and ``.md`` atomically, then a ``DECISION`` audit line.

    Under the tenant lock, so the audit chain is extended by one writer at a time. Not fsynced: a
    decision changes no state and the same inputs give it again (same ``decision_id``); the rename
    keeps each file whole, and the rollout's fsync of the audit log flushes this line too.
    """
    if decision.tenant != paths.tenant:
        raise CanaryUsageError(
            f"decision for tenant {decision.tenant!r} cannot be recorded under {paths.dir}"
        )
    with state_lock(paths, lock_timeout):
        paths.check(paths.canary_dir)
        json_path = paths.check(paths.decision_json(decision.date))
        md_path = paths.check(paths.decision_md(decision.date))
        for target in (json_path, md_path):
            sweep_temps(target)
        write_atomic(json_path, jsonfile.model_bytes(decision), label="decision", durable=False)
        write_atomic(md_path, markdown.encode(), label="decision-md", durable=False)
        append_audit(
            paths,
            "DECISION",
            {
                "date": decision.date.isoformat(),
                "decision": decision.decision,
                "decision_id": decision.decision_id,
                "trace_id": decision.trace_id,
                "reasons": list(decision.reasons),
            },
            decision.created_at,
            durable=False,
        )
