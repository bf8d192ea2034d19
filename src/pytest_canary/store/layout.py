"""The one layout of the canary root: tenant ids, every path of a tenant's files, containment.

Every path under the root is built here, so the rules live in one place: a tenant id is checked
before any file is touched, a path that resolves outside the root (symlinks included) is refused,
and a tenant folder is never created.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.tenants import is_tenant_id, validate_tenant_id

KPI_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.json$")
DECISION_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})_decision\.json$")
STATE_FILE = "operate_state.json"
BLOCKLIST_FILE = "blocklist.json"
AUDIT_FILE = "audit.jsonl"
DECISION_SUFFIX = "_decision.json"
ROLLOUT_LOG_SUFFIX = "_rollout_log.json"


def control_log_suffix(action: str) -> str:
    """The end of the name of a kill, pause or resume log: ``_<action>_log.json``."""
    return f"_{action.lower()}_log.json"


def _resolve(path: Path) -> Path:
    """``path`` with every link followed; a link loop is refused on every Python.

    Strict first: since Python 3.13 a lenient ``resolve()`` returns a looping path as it is, which
    would then pass for a path inside the root. Only a path that is not there (yet) is resolved
    leniently, and then nothing past the missing part can loop.
    """
    try:
        return path.resolve(strict=True)
    except FileNotFoundError:
        pass
    except (RuntimeError, OSError):  # a loop: RuntimeError before Python 3.13, OSError(ELOOP) since
        raise CanaryUsageError(
            f"{path}: is a link loop or cannot be resolved; replace it with a real folder or file"
        ) from None
    return path.resolve()


def _inside(root: Path, path: Path) -> bool:
    return _resolve(path).is_relative_to(root)


_MISSING = (errno.ENOENT, errno.ENOTDIR)


def _plain_below(root: Path, path: Path) -> bool | None:
    """Whether ``path`` exists with no link on it below the resolved ``root``; None: it is missing.

    One ``lstat`` per component below the root, instead of ``Path.resolve()``'s one per component
    of the whole absolute path: with a resolved root and no link or ``..`` below it, the path
    resolves to itself. A link, a ``..`` or an unreadable component answers False, and the caller
    resolves the path in full.
    """
    parts = path.parts[len(root.parts) :]
    if path.parts[: len(root.parts)] != root.parts or ".." in parts:
        return False
    here = str(root)
    for part in parts:
        here = os.path.join(here, part)
        try:
            mode = os.lstat(here).st_mode
        except OSError as exc:
            return None if exc.errno in _MISSING else False
        if stat.S_ISLNK(mode):
            return False
    return True


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
    """Where one tenant's files live. Build it with :meth:`open`, which checks the id and folder.

    The fixed paths are built once per tenant (``cached_property``): a run asks for them per item.
    """

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
        if _plain_below(self.root, path) is not False:
            return path  # missing, or made of real folders below the resolved root
        if (path.exists() or path.is_symlink()) and not _inside(self.root, path):
            raise CanaryUsageError(
                f"{path}: resolves to {path.resolve()}, outside the canary root {self.root};"
                " replace the link with a real folder or file"
            )
        return path

    @cached_property
    def ops_dir(self) -> Path:
        return self.dir / "ops"

    @cached_property
    def operate_dir(self) -> Path:
        return self.dir / "operate"

    @cached_property
    def canary_dir(self) -> Path:
        return self.dir / "canary"

    @cached_property
    def blocklist(self) -> Path:
        return self.ops_dir / BLOCKLIST_FILE

    @cached_property
    def state(self) -> Path:
        return self.operate_dir / STATE_FILE

    @cached_property
    def lock(self) -> Path:
        return self.operate_dir / f"{STATE_FILE}.lock"

    @cached_property
    def audit(self) -> Path:
        return self.canary_dir / AUDIT_FILE

    # A dated path is checked as it is built (the fixed ones are checked by open and every writer):
    # no reader of a day's file can follow a link out of the root, whoever asks for the path.
    def kpi(self, date: dt.date) -> Path:
        return self.check(self.dir / f"{date.isoformat()}.json")

    def decision_json(self, date: dt.date) -> Path:
        return self.check(self.canary_dir / f"{date.isoformat()}{DECISION_SUFFIX}")

    def decision_md(self, date: dt.date) -> Path:
        return self.check(self.canary_dir / f"{date.isoformat()}_decision.md")

    def rollout_json(self, date: dt.date) -> Path:
        return self.check(self.canary_dir / f"{date.isoformat()}{ROLLOUT_LOG_SUFFIX}")

    def rollout_md(self, date: dt.date) -> Path:
        return self.check(self.canary_dir / f"{date.isoformat()}_rollout_log.md")

    def control_json(self, date: dt.date, action: str) -> Path:
        """The log of a kill, pause or resume by hand: ``<date>_<action>_log.json``."""
        return self.check(self.canary_dir / f"{date.isoformat()}{control_log_suffix(action)}")

    def control_md(self, date: dt.date, action: str) -> Path:
        return self.check(self.canary_dir / f"{date.isoformat()}_{action.lower()}_log.md")

    def dns_check(self, date: dt.date, suffix: str) -> Path:
        """The sender DNS check's report of ``date``: ``ops/dns_check_<date>.json`` or ``.md``."""
        return self.check(self.ops_dir / f"dns_check_{date.isoformat()}.{suffix}")


def list_tenants(root: Path) -> list[str]:
    """Sorted names of the folders under ``root`` that are valid tenant ids (``all`` excluded).

    A folder that is a link leaving the root is still listed, so that selecting it with ``all``
    is refused loudly by :meth:`TenantPaths.open` instead of being skipped in silence.
    """
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    names = [p.name for p in entries if is_tenant_id(p.name)]
    return sorted(name for name in names if (root / name).is_dir())


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
