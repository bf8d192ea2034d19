"""Retention (docs/contract.md, Retention): which of a tenant's files are old enough to go, and the audit log's cut.

A file is recognised only by its name, and its age is the date in its name (never its mtime):

| kind | files | minimum |
| --- | --- | --- |
| KPI file | ``<tenant>/YYYY-MM-DD.json`` | 90 days |
| decision/rollout log | ``canary/YYYY-MM-DD_decision.{json,md}``, ``..._rollout_log.{json,md}``, | 90 |
| | the logs by hand ``..._{kill,pause,resume}_log.{json,md}`` | |
| run log | ``canary/runs/YYYY-MM-DD*`` and the DNS check's ``ops/dns_check_YYYY-MM-DD.{json,md}`` | 30 |
| audit line | lines of ``canary/audit.jsonl`` by their ``at`` (Berlin date) | 365 |

A file goes when its date is more than its retention's days before today. Nothing under
``operate/`` (the state, its lock) and no other file is ever touched; links are left alone.

The audit log is cut only in front of a ``PRUNE`` line. Every prune that finds an audit log appends
one (at most one per day), chained like any line; a later prune removes the lines before the
newest such checkpoint that has only expired lines before it. The kept log then starts at a line
the next line vouches for, so ``canary audit verify`` still checks every kept line. The cutting
granularity is therefore the pruning schedule: retention is a minimum, a line may stay a little
longer. A log that does not verify is never cut (cutting could hide what was changed).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_canary.core import jsonfile
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.store.atomic import sweep_temps, write_atomic
from pytest_canary.store.audit import (
    MAX_AUDIT_BYTES,
    append_audit,
    parse_line,
    split_audit,
    verify_audit_bytes,
)
from pytest_canary.store.files import read_bytes
from pytest_canary.store.layout import KPI_FILE, TenantPaths, name_date
from pytest_canary.store.lock import LOCK_TIMEOUT, state_lock
from pytest_canary.store.settings import BERLIN

MINIMUM_DAYS = {"kpi": 90, "log": 90, "audit": 365, "run_log": 30}
"""docs/contract.md: each retention may be raised, never lowered below these."""

KIND_LABELS = {
    "kpi": "KPI file",
    "log": "decision/rollout log",
    "run_log": "run log",
}
_DATE = r"(\d{4}-\d{2}-\d{2})"
_LOG_KINDS = "decision|rollout_log|kill_log|pause_log|resume_log"
_LOG = re.compile(rf"^{_DATE}_(?:{_LOG_KINDS})\.(?:json|md)$")
_RUN_LOG = re.compile(rf"^{_DATE}[A-Za-z0-9_.-]*$")
_DNS_LOG = re.compile(rf"^dns_check_{_DATE}\.(?:json|md)$")
RUNS_DIR = "runs"


@dataclass(frozen=True)
class Retention:
    """Days to keep each kind; build it with :meth:`from_days`, which enforces the minimums."""

    kpi: int = MINIMUM_DAYS["kpi"]
    log: int = MINIMUM_DAYS["log"]
    audit: int = MINIMUM_DAYS["audit"]
    run_log: int = MINIMUM_DAYS["run_log"]

    @classmethod
    def from_days(cls, **given: int | None) -> Retention:
        values: dict[str, int] = {}
        for kind, days in given.items():
            if days is None:
                continue
            minimum = MINIMUM_DAYS[kind]
            if days < minimum:
                option = "--" + kind.replace("_", "-") + "-days"
                raise CanaryUsageError(
                    f"{option} {days}: below the minimum of {minimum} days (docs/retention.md);"
                    " retention can be raised, never lowered"
                )
            values[kind] = days
        return cls(**values)

    def as_dict(self) -> dict[str, int]:
        return {"kpi": self.kpi, "log": self.log, "audit": self.audit, "run_log": self.run_log}


@dataclass(frozen=True)
class Expired:
    """One file that is older than its retention."""

    path: Path
    kind: str
    date: dt.date
    age: int


@dataclass(frozen=True)
class AuditCut:
    """What pruning does to one audit log: lines cut from its head, and whether a checkpoint is due."""

    path: Path
    expired: int  # complete lines older than the audit retention
    kept_expired: int  # of those, lines other than checkpoints that stay until a later cut
    cut: int  # of those (and torn ones among them), the lines removed now
    keep_from: int  # byte offset of the first kept line
    first_kept_seq: int | None
    checkpoint_due: bool
    problem: str | None = None


@dataclass
class TenantPrune:
    tenant: str
    files: list[Expired] = field(default_factory=list)
    audit: AuditCut | None = None
    problems: list[str] = field(default_factory=list)


def _regular_files(folder: Path) -> Iterator[Path]:
    if folder.is_symlink() or not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.is_symlink():
            yield path


def recognised(paths: TenantPaths) -> Iterator[tuple[Path, str, dt.date]]:
    """Every file retention knows, with its kind and the date in its name."""
    for folder, patterns in (
        (paths.dir, ((KPI_FILE, "kpi"),)),
        (paths.canary_dir, ((_LOG, "log"),)),
        (paths.canary_dir / RUNS_DIR, ((_RUN_LOG, "run_log"),)),
        (paths.ops_dir, ((_DNS_LOG, "run_log"),)),
    ):
        for path in _regular_files(folder):
            for pattern, kind in patterns:
                day = name_date(pattern, path.name)
                if day is not None:
                    yield path, kind, day


def expired_files(paths: TenantPaths, retention: Retention, today: dt.date) -> list[Expired]:
    days = retention.as_dict()
    result = []
    for path, kind, day in recognised(paths):
        age = (today - day).days
        if age > days[kind]:
            result.append(Expired(path, kind, day, age))
    return result


def _line_date(parsed: dict[str, Any]) -> dt.date | None:
    try:
        return dt.datetime.fromisoformat(str(parsed["at"])).astimezone(BERLIN).date()
    except (KeyError, ValueError):
        return None


def plan_audit(path: Path, retention_days: int, today: dt.date) -> AuditCut | None:
    """Where to cut ``path`` (``None`` when there is no audit log). Reads, never writes."""
    if not path.is_file():
        return None
    data = read_bytes(path, limit=MAX_AUDIT_BYTES)
    verdict = verify_audit_bytes(path, data)
    lines, _ = split_audit(data)
    cutoff = today - dt.timedelta(days=retention_days)
    offset, expired, all_expired = 0, 0, True
    cut, keep_from, first_kept = 0, 0, None
    last_prune: str | None = None
    expired_at: list[int] = []  # expired lines other than checkpoints, by index
    for index, raw in enumerate(lines):
        parsed = parse_line(raw)
        day = _line_date(parsed) if parsed is not None else None
        if parsed is not None and parsed["event"] == "PRUNE":
            last_prune = str(parsed.get("date", day))
            if all_expired and index > 0 and "torn_prev" not in parsed:
                cut, keep_from, first_kept = index, offset, parsed["seq"]
        if day is not None and day < cutoff:
            expired += 1
            if parsed is not None and parsed["event"] != "PRUNE":
                expired_at.append(index)
        elif parsed is not None:
            all_expired = False
        if first_kept is None and parsed is not None and index == 0:
            first_kept = parsed["seq"]
        offset += len(raw) + 1
    problem = None
    if not verdict.ok:
        problem = f"{verdict.problem}; the audit log is not cut while its chain is broken"
        cut, keep_from = 0, 0
    return AuditCut(
        path=path,
        expired=expired,
        kept_expired=sum(1 for index in expired_at if index >= cut),
        cut=cut,
        keep_from=keep_from,
        first_kept_seq=first_kept,
        checkpoint_due=verdict.ok and last_prune != today.isoformat(),
        problem=problem,
    )


def plan(paths: TenantPaths, retention: Retention, today: dt.date) -> TenantPrune:
    """What pruning one tenant would do; reads only."""
    result = TenantPrune(paths.tenant, files=expired_files(paths, retention, today))
    try:
        result.audit = plan_audit(paths.check(paths.audit), retention.audit, today)
    except jsonfile.InvalidInput as exc:
        result.problems.append(str(exc))
    if result.audit is not None and result.audit.problem is not None:
        result.problems.append(result.audit.problem)
    return result


def _delete(paths: TenantPaths, result: TenantPrune) -> list[Expired]:
    """Delete the planned files; those that could not go are problems of ``result``."""
    deleted = []
    for item in result.files:
        try:
            paths.check(item.path).unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            result.problems.append(f"{item.path}: not deleted ({exc.strerror})")
            continue
        deleted.append(item)
    return deleted


def apply(
    paths: TenantPaths,
    retention: Retention,
    today: dt.date,
    now: dt.datetime,
    *,
    lock_timeout: float = LOCK_TIMEOUT,
) -> TenantPrune:
    """Delete the expired files and cut the audit log, under the tenant's lock.

    The plan is made again under the lock, so a line appended meanwhile is judged too. The audit
    cut is one atomic rewrite of the kept bytes; the ``PRUNE`` checkpoint is appended after it,
    so a crash in between leaves a log that still verifies.
    """
    with state_lock(paths, lock_timeout):
        result = plan(paths, retention, today)
        result.files = deleted = _delete(paths, result)
        audit = result.audit
        if audit is None or audit.problem is not None:
            return result
        cut_done = False
        try:
            if audit.cut:
                sweep_temps(audit.path)  # a killed prune's leftover; we hold the lock
                data = read_bytes(audit.path, limit=MAX_AUDIT_BYTES)
                write_atomic(audit.path, data[audit.keep_from :], label="audit-prune")
                cut_done = True
            if audit.checkpoint_due or audit.cut:
                counts: dict[str, int] = {}
                for item in deleted:
                    counts[item.kind] = counts.get(item.kind, 0) + 1
                append_audit(
                    paths,
                    "PRUNE",
                    {
                        "date": today.isoformat(),
                        "retention_days": retention.as_dict(),
                        "deleted": counts,
                        "audit_lines_cut": audit.cut,
                        "first_kept_seq": audit.first_kept_seq,
                    },
                    now,
                )
        except (OSError, jsonfile.InvalidInput) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            done = "was cut, but its PRUNE checkpoint" if cut_done else "was not cut: it"
            result.problems.append(
                f"{audit.path}: the audit log {done} could not be written ({why}); run prune again"
            )
            if not cut_done:
                result.audit = replace(audit, cut=0)
    return result
