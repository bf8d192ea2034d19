"""Applying a decision to a tenant's state, and the lock every writer of that state holds.

The rules (what a decision does to a state) are pure, in ``transitions.py``; this module does the
I/O around them, all under the tenant's state lock and in the order of docs/contract.md (Rolling out): the state first
(the commit point: one atomic rename), then the rollout log, then the audit line.

Crash safety. A kill before the rename leaves the old state (its temporary file is swept by the
next writer); after it, the new state with its history entry but no ``applied`` audit line for
it. The next command that writes the state, whichever it is (:func:`locked_state`), completes the
record first: rollout log and audit line, the line marked ``recovered``, the log ``applied`` with
``changed=true`` (the change did happen, once). A rerun of the same decision returns that record.
Nothing that happened to the state goes unrecorded, and nothing is applied twice.

Refusals write nothing at all, not even an audit line (docs/contract.md: "exit 4, nothing written"); the
caller reports them (exit code, terminal summary, annotations). A run that changes nothing still
appends an audit line, and writes the rollout log of its date unless that log already records an
applied change: a repeated or concurrent run never overwrites "applied" with "unchanged" (the
audit log keeps every run).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from pytest_canary.core import jsonfile
from pytest_canary.core.errors import RolloutRefused, UnreadableDecision
from pytest_canary.core.models import HistoryEntry, OperateState, QuotaState
from pytest_canary.core.records import Decision, RolloutLog
from pytest_canary.core.transitions import (
    applied_views,
    initial_state,
    plan_rollout,
)
from pytest_canary.ops import decision_markdown
from pytest_canary.render.report import rollout_markdown
from pytest_canary.store.atomic import sweep_temps, write_atomic
from pytest_canary.store.audit import append_audit, read_audit
from pytest_canary.store.faults import fault
from pytest_canary.store.files import read_bytes
from pytest_canary.store.layout import DECISION_FILE, TenantPaths, dated_files
from pytest_canary.store.lock import LOCK_TIMEOUT, state_lock
from pytest_canary.store.logs import record_action
from pytest_canary.store.readers import load_state
from pytest_canary.store.settings import BERLIN

DEFAULT_MAX_AGE = dt.timedelta(hours=26)
"""A decision older than this (after its ``created_at``) is refused: decide again."""
DEFAULT_STEPS = (10, 25, 50, 100)


# --- finding and reading a decision -----------------------------------------------------------


def newest_decision_file(paths: TenantPaths, today: dt.date) -> Path:
    """The ``<date>_decision.json`` with the latest date in its name up to ``today`` (never by
    mtime). A file dated after today was not written by ``canary decide`` (it refuses such dates),
    so it never masks today's decision.

    No decision file at all is a refusal (exit 4), not a usage error: the command line was right,
    there is just nothing to roll out until ``canary decide`` has run.
    """
    folder = paths.check(paths.canary_dir)
    dated = {day: path for day, path in dated_files(folder, DECISION_FILE).items() if day <= today}
    if not dated:
        raise RolloutRefused(
            f"{paths.tenant}: no <YYYY-MM-DD>_decision.json dated {today} or earlier in {folder};"
            " run `canary decide` first"
        )
    return paths.check(dated[max(dated)])


def load_decision(path: Path) -> Decision:
    """Strictly parse a decision file; anything wrong is a one-line :class:`UnreadableDecision`."""
    try:
        data = read_bytes(path)
        jsonfile.parse_json(data, str(path))  # NaN, duplicate keys, BOM ...
        # Strict: a quota of "50" or a time given as a number is not a file the engine wrote.
        return Decision.model_validate_json(data, strict=True)
    except jsonfile.InvalidInput as exc:
        raise UnreadableDecision(str(exc)) from None
    except ValidationError as exc:
        raise UnreadableDecision(jsonfile.validation_message(str(path), exc)) from None


# --- applying ---------------------------------------------------------------------------------


def apply_decision(
    paths: TenantPaths,
    decision: Decision,
    *,
    now: dt.datetime,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
    lock_timeout: float = LOCK_TIMEOUT,
    steps: Sequence[int] | None = None,
    verify: Callable[[Decision], None] | None = None,
) -> RolloutLog:
    """Apply ``decision`` to the tenant's state (docs/contract.md, Rolling out, in its order), under the state lock.

    Returns the rollout log that was written. Raises :class:`RolloutRefused`, having written
    nothing, for a decision of another tenant, a corrupt state, a decision older than
    ``max_age``, a stale GO, or a lock held longer than ``lock_timeout`` seconds. ``steps`` are
    the configured steps (default: the decision's own): the first is where a missing state
    starts and where BACKOUT returns. ``verify`` (a decision read from a file: see
    :mod:`pytest_canary.ops.verify`) raises :class:`RolloutRefused` for a decision that is not
    true to itself or its inputs.
    """
    require_aware(now)
    if decision.tenant != paths.tenant:
        raise RolloutRefused(
            f"{paths.tenant}: the decision is for tenant {decision.tenant!r}, not"
            f" {paths.tenant!r}; nothing was written"
        )
    ladder = tuple(steps) if steps else tuple(decision.steps)
    if not ladder:
        raise RolloutRefused(f"{paths.tenant}: the decision names no steps; decide again")
    with locked_state(paths, ladder, now, lock_timeout) as held:
        current = held.state
        plan = plan_rollout(current, decision, ladder, now, max_age)
        if (
            verify is not None
            and plan.repeat is None
            and not (decision.is_go and plan.new_state is None)
        ):
            # Under the lock, so the inputs checked are the ones the state is changed on; a
            # decision applied already, or a GO that changes nothing, was verified (or needs none).
            verify(decision)
        decision_markdown.mend(paths, decision)  # after the refusals: they write nothing
        recovered = held.recovered
        if plan.repeat is not None and recovered and recovered.decision_id == decision.decision_id:
            return recovered  # this decision's own killed run, recorded now: that is its record
        if plan.new_state is not None:
            write_state(paths, plan.new_state)
        after_state = (plan.new_state or current).snapshot
        log = _log(decision, now, plan.outcome, current.snapshot, after_state, plan.reason)
        _record(paths, log, committed=plan.new_state is not None)
        return log


@dataclass(frozen=True)
class Held:
    """The state as found under the lock, and the rollout a killed run left unrecorded, if any."""

    state: OperateState
    recovered: RolloutLog | None


@contextmanager
def locked_state(
    paths: TenantPaths, steps: Sequence[int], now: dt.datetime, lock_timeout: float
) -> Iterator[Held]:
    """Hold the tenant's lock with its state read (or refused) and the audit log caught up.

    Every command that writes a tenant's state enters here, so whatever it is, it first records
    what the last killed writer left unrecorded (:func:`complete_gap`), then writes its own.
    """
    with state_lock(paths, lock_timeout):
        current = read_state_or_refuse(paths, steps) or initial_state(paths.tenant, steps)
        fault("state:after-locked-read")
        yield Held(current, complete_gap(paths, current, now))


def complete_gap(paths: TenantPaths, state: OperateState, now: dt.datetime) -> RolloutLog | None:
    """Write the record a killed writer left out, under the lock; the rollout log it wrote, if any.

    Every writer writes the state (the commit point: one rename), then its log and audit line; a
    kill in between leaves the newest history entry unrecorded, and the next writer completes it
    before it writes anything of its own, so at most that one entry can lack its line. Whether a
    line records the entry is judged by its event and the serial it left, the fields every event
    carries. A ROLLOUT gets its rollout log too, rebuilt from the history entry alone. Lines
    retention cut away are not a gap.
    """
    entry = state.history[-1] if state.history else None
    if entry is None:
        return None
    lines = _audit_lines(paths)
    if any(_records(line, entry) or _pruned(line, entry) for line in lines):
        return None
    decided = (entry.decision, entry.decision_id, entry.kpi_date, entry.trace_id)
    if entry.event == "ROLLOUT" and None not in decided:  # else a hand-made entry: a line only
        return _complete_rollout(paths, entry, now)
    fields: dict[str, Any] = {
        "serial": entry.serial,
        "after": {
            "quota": entry.to_quota,
            "kill_switch": entry.kill_switch,
            "serial": entry.serial,
        },
        "reason": (
            f"{entry.event} of {entry.at.isoformat()} (serial {entry.serial}) was written by a"
            " run that stopped before its audit line; completed now"
        ),
        "recovered": True,
    }
    if entry.by is not None:
        fields["by"] = entry.by
    try:
        append_audit(paths, entry.event, fields, now)
    except OSError as exc:
        raise RolloutRefused(
            f"{paths.tenant}: cannot complete the audit line of serial {entry.serial}"
            f" ({why(exc)}); nothing else was written"
        ) from None
    return None


def _complete_rollout(paths: TenantPaths, entry: HistoryEntry, now: dt.datetime) -> RolloutLog:
    """The rollout log and audit line of ``entry``: what its killed run would have written."""
    before, after = applied_views(entry)
    reason = (
        f"{entry.decision} was applied at {entry.at.isoformat()} (serial {entry.serial}) by a run"
        " that stopped before its log; log and audit line completed now"
    )
    log = RolloutLog(
        tenant=paths.tenant,
        date=entry.kpi_date,
        decision=entry.decision,
        decision_id=entry.decision_id,
        trace_id=entry.trace_id,
        at=now,
        outcome="applied",
        changed=True,
        before=before,
        after=after,
        reasons=[reason, *entry.reasons],
    )
    _record(paths, log, committed=False, recovered=True)
    return log


def _pruned(line: dict[str, Any], entry: HistoryEntry) -> bool:
    """Whether ``line`` is a PRUNE that cut the audit lines of ``entry``'s day away."""
    try:
        if line["event"] != "PRUNE":
            return False
        days = dt.timedelta(days=line["retention_days"]["audit"])
        return entry.at.astimezone(BERLIN).date() < dt.date.fromisoformat(line["date"]) - days
    except (KeyError, TypeError, ValueError):  # not a PRUNE line we wrote: it proves no cut
        return False


def _records(line: dict[str, Any], entry: HistoryEntry) -> bool:
    after = line.get("after")
    return (
        line.get("event") == entry.event
        and isinstance(after, dict)
        and after.get("serial") == entry.serial
        and line.get("changed", True) is True
    )


def _audit_lines(paths: TenantPaths) -> list[dict[str, Any]]:
    try:
        return read_audit(paths.check(paths.audit))
    except OSError as exc:
        raise RolloutRefused(
            f"{paths.tenant}: cannot read the audit log {paths.audit} ({why(exc)});"
            " nothing was written"
        ) from None


def _record(
    paths: TenantPaths, log: RolloutLog, *, committed: bool, recovered: bool = False
) -> None:
    """Rollout log (JSON, Markdown) and the audit line, after the state (when it changed)."""
    fields: dict[str, Any] = {"decision": log.decision, "decision_id": log.decision_id}
    if recovered:
        fields["recovered"] = True
    try:
        record_action(paths, log, lambda: rollout_markdown(log), fields)
    except OSError as exc:
        serial = log.after.serial if log.after else "?"
        done = f"the state was written (serial {serial})" if committed else "the state is unchanged"
        raise RolloutRefused(
            f"{paths.tenant}: {done}, but the rollout log or audit line could not be written"
            f" ({why(exc)}); run the rollout again to complete them"
        ) from None


# --- small helpers ----------------------------------------------------------------------------


def read_state_or_refuse(paths: TenantPaths, steps: Sequence[int]) -> OperateState | None:
    try:
        return load_state(paths, steps)
    except jsonfile.InvalidInput as exc:
        raise RolloutRefused(
            f"{exc}; the state file is left for review, nothing was written"
        ) from None


def write_state(paths: TenantPaths, state: OperateState) -> None:
    sweep_temps(paths.state)  # a killed writer's leftover; we hold the lock, so none is live
    try:
        write_atomic(paths.state, jsonfile.model_bytes(state), label="state")
    except OSError as exc:
        raise RolloutRefused(
            f"{paths.tenant}: cannot write {paths.state} ({why(exc)}); the state is unchanged"
        ) from None


def refused_log(decision: Decision, now: dt.datetime, why: str) -> RolloutLog:
    """What a refused rollout shows in the reports (it writes no file): the refusal first."""
    return _log(decision, now, "refused", None, None, why)


def _log(
    decision: Decision,
    now: dt.datetime,
    outcome: Literal["applied", "unchanged", "refused"],
    before: QuotaState | None,
    after: QuotaState | None,
    reason: str,
) -> RolloutLog:
    return RolloutLog(
        tenant=decision.tenant,
        date=decision.date,
        decision=decision.decision,
        decision_id=decision.decision_id,
        trace_id=decision.trace_id,
        at=now,
        outcome=outcome,
        changed=outcome == "applied",
        before=before,
        after=after,
        reasons=[reason, *decision.reasons],
    )


def why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def require_aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")  # a caller's bug, not a user's
