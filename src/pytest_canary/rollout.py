"""Applying a decision or a review to a tenant's state: the only writer of ``operate_state.json``.

Every write happens under the tenant's state lock, in the order of SPEC §6: the state first (the
commit point: one atomic rename), then the rollout log, then the audit line. A crash before the
rename leaves the old state; after it, the new state with its history entry. A re-run after a
crash between the rename and the audit line finds the decision in the history but no ``applied``
audit line for it, and completes the record (rollout log and audit line, marked ``recovered``)
instead of reporting a bare "unchanged": nothing that happened to the state goes unrecorded.

Refusals write nothing at all, not even an audit line (SPEC §6: "exit 4, nothing written"); the
caller reports them (exit code, terminal summary, annotations).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from pytest_canary import jsonfile
from pytest_canary.errors import CanaryUsageError, RolloutRefused
from pytest_canary.models import (
    Decision,
    HistoryEntry,
    OperateState,
    QuotaState,
    Review,
    RolloutLog,
)
from pytest_canary.report import rollout_markdown
from pytest_canary.store import (
    DEFAULT_LOCK_TIMEOUT,
    TenantPaths,
    append_audit,
    read_audit,
    read_state,
    state_lock,
    sweep_temps,
    write_atomic,
)

DEFAULT_MAX_AGE = dt.timedelta(hours=26)
"""A decision older than this (after ``created_at``) is refused: decide again."""
DEFAULT_STEPS = (10, 25, 50, 100)

_DECISION_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})_decision\.json$")
_ADDRESS = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")


@dataclass(frozen=True)
class _Plan:
    outcome: Literal["applied", "unchanged"]
    reason: str
    new_state: OperateState | None  # None: the state file is not written


# --- finding and reading a decision -----------------------------------------------------------


def newest_decision_file(paths: TenantPaths) -> Path:
    """The ``<date>_decision.json`` with the latest date in its name (never by mtime).

    No decision file at all is a refusal (exit 4), not a usage error: the command line was right,
    there is just nothing to roll out until ``canary decide`` has run.
    """
    folder = paths.check(paths.canary_dir)
    dated: list[tuple[dt.date, Path]] = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _DECISION_FILE.match(path.name)
            if match is None:
                continue
            try:
                dated.append((dt.date.fromisoformat(match.group(1)), path))
            except ValueError:  # 2024-13-45_decision.json is not ours
                continue
    if not dated:
        raise RolloutRefused(
            f"{paths.tenant}: no <YYYY-MM-DD>_decision.json in {folder}; run `canary decide` first"
        )
    return paths.check(max(dated)[1])


def load_decision(path: Path) -> Decision:
    """Strictly parse a decision file; anything wrong is a one-line :class:`RolloutRefused`."""
    try:
        raw = jsonfile.parse_json(jsonfile.read_bytes(path), str(path))
        return Decision.model_validate(raw)
    except jsonfile.InvalidInput as exc:
        raise RolloutRefused(f"{exc}; nothing was written") from None
    except ValidationError as exc:
        message = jsonfile.validation_message(str(path), exc)
        raise RolloutRefused(f"{message}; nothing was written") from None


# --- applying ---------------------------------------------------------------------------------


def apply_decision(
    paths: TenantPaths,
    decision: Decision,
    *,
    now: dt.datetime,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    steps: Sequence[int] | None = None,
) -> RolloutLog:
    """Apply ``decision`` to the tenant's state (SPEC §6, in its order), under the state lock.

    Returns the rollout log that was written; raises :class:`RolloutRefused` (nothing written)
    for a foreign, too old or stale decision, a corrupt state, or a lock held too long. ``steps``
    are the configured steps (default: the decision's own); the first is where a missing state
    starts and where BACKOUT returns.

    A run that changes nothing still appends an audit line, and writes the rollout log unless
    the log of that date already records an applied change (so a repeated or concurrent run
    never overwrites "applied" with "unchanged"; the audit log keeps every run).
    """
    _require_aware(now)
    if decision.tenant != paths.tenant:
        raise RolloutRefused(
            f"{paths.tenant}: the decision is for tenant {decision.tenant!r}, not"
            f" {paths.tenant!r}; nothing was written"
        )
    ladder = tuple(steps) if steps else tuple(decision.steps)
    if not ladder:
        raise RolloutRefused(f"{paths.tenant}: the decision names no steps; decide again")
    with state_lock(paths, lock_timeout):
        state = _read_state_or_refuse(paths)
        if state is not None and state.quota not in ladder:
            raise RolloutRefused(
                f"{paths.state}: quota {state.quota} is not one of the steps"
                f" {', '.join(map(str, ladder))}; the state file is left for review,"
                " nothing was written"
            )
        current = state or _initial(paths.tenant, ladder)
        entry = next(
            (
                h
                for h in current.history
                if h.event == "ROLLOUT" and h.decision_id == decision.decision_id
            ),
            None,
        )
        if entry is not None:
            return _repeat(paths, decision, current, entry, now)
        plan = _plan(current, decision, ladder, now, max_age)
        if plan.new_state is not None:
            sweep_temps(paths.state)
            try:
                write_atomic(paths.state, jsonfile.model_bytes(plan.new_state), label="state")
            except OSError as exc:
                raise RolloutRefused(
                    f"{paths.tenant}: cannot write {paths.state} ({_why(exc)});"
                    " the state is unchanged"
                ) from None
        after = plan.new_state or current
        log = _log(decision, now, plan.outcome, _quota(current), _quota(after), plan.reason)
        _record(paths, log, committed=plan.new_state is not None)
        return log


def _plan(
    state: OperateState,
    decision: Decision,
    steps: tuple[int, ...],
    now: dt.datetime,
    max_age: dt.timedelta,
) -> _Plan:
    """Rules 3-5 of SPEC §6 on a decision not yet applied: pure, raises on refusal."""
    tenant = state.tenant
    if decision.is_go:
        earlier = next(
            (
                h
                for h in state.history
                if h.event == "ROLLOUT" and h.kpi_date == decision.date and _is_go(h.decision)
            ),
            None,
        )
        if earlier is not None:
            return _Plan(
                "unchanged",
                f"a GO for KPI date {decision.date} was already applied ({earlier.decision},"
                f" serial {earlier.serial}): one step per KPI date",
                None,
            )
    age = now - decision.created_at
    if age > max_age:
        raise RolloutRefused(
            f"{tenant}: the {decision.decision} decision of {decision.date} was created at"
            f" {decision.created_at.isoformat()}, more than {_hours(max_age)} ago (--max-age);"
            " decide again; nothing was written"
        )
    if decision.is_go:
        base = decision.base
        if (base.quota, base.kill_switch) != (state.quota, state.kill_switch):
            raise RolloutRefused(
                f"{tenant}: stale {decision.decision} decision: made for quota {base.quota}"
                f" {_switch(base.kill_switch)}, but the state is now quota {state.quota}"
                f" {_switch(state.kill_switch)} (serial {state.serial}); decide again;"
                " nothing was written"
            )
        target = decision.target.quota
        if target not in steps:
            raise RolloutRefused(
                f"{tenant}: {decision.decision} targets quota {target}, not one of the steps"
                f" {', '.join(map(str, steps))}; nothing was written"
            )
        if (state.quota, state.kill_switch, state.review) == (target, False, None):
            # At the top step every good day is GO_100 again: nothing to change, nothing to log
            # as a change (the history records changes, not confirmations).
            return _Plan("unchanged", f"{decision.decision}: already at quota {target}", None)
        return _Plan(
            "applied",
            f"{decision.decision}: quota {state.quota} → {target}, kill switch off",
            _next_state(state, decision, now, quota=target, kill_switch=False),
        )
    if decision.decision == "BACKOUT":
        first = steps[0]
        if state.kill_switch and state.quota == first and state.review is None:
            return _Plan(
                "unchanged", f"BACKOUT: already backed out (quota {first}, kill switch on)", None
            )
        return _Plan(
            "applied",
            f"BACKOUT: kill switch on, quota {state.quota} → {first}",
            _next_state(state, decision, now, quota=first, kill_switch=True),
        )
    return _Plan("unchanged", f"{decision.decision}: no change to the state", None)


def _next_state(
    state: OperateState, decision: Decision, now: dt.datetime, *, quota: int, kill_switch: bool
) -> OperateState:
    entry = HistoryEntry(
        serial=state.serial + 1,
        at=now,
        event="ROLLOUT",
        decision=decision.decision,
        decision_id=decision.decision_id,
        kpi_date=decision.date,
        trace_id=decision.trace_id,
        base=state.base,
        from_quota=state.quota,
        to_quota=quota,
        kill_switch=kill_switch,
        reasons=list(decision.reasons),
    )
    return _successor(state, now, entry, quota=quota, kill_switch=kill_switch, review=None)


def _repeat(
    paths: TenantPaths,
    decision: Decision,
    state: OperateState,
    entry: HistoryEntry,
    now: dt.datetime,
) -> RolloutLog:
    """Rule 2: the decision is in the history already. The state is not touched.

    When the newest ROLLOUT entry has no ``applied`` audit line, the run that wrote it was killed
    between the rename and the audit line: write its log and audit line now (``recovered``).
    """
    rollouts = [h for h in state.history if h.event == "ROLLOUT"]
    audited = any(
        line.get("event") == "ROLLOUT"
        and line.get("decision_id") == decision.decision_id
        and line.get("changed") is True
        for line in read_audit(paths.audit)
    )
    if entry is rollouts[-1] and not audited:
        before = QuotaState(
            quota=entry.base.quota,
            kill_switch=entry.base.kill_switch,
            serial=entry.serial - 1,
            review=entry.base.review,
        )
        after = QuotaState(
            quota=entry.to_quota, kill_switch=entry.kill_switch, serial=entry.serial, review=None
        )
        reason = (
            f"{decision.decision} was applied at {entry.at.isoformat()} (serial {entry.serial})"
            " by a run that stopped before its log; log and audit line completed now"
        )
        log = _log(decision, now, "applied", before, after, reason)
        _record(paths, log, committed=False, recovered=True)
        return log
    reason = f"{decision.decision} already applied (serial {entry.serial}); nothing to do"
    log = _log(decision, now, "unchanged", _quota(state), _quota(state), reason)
    _record(paths, log, committed=False)
    return log


def _record(
    paths: TenantPaths, log: RolloutLog, *, committed: bool, recovered: bool = False
) -> None:
    """Rollout log (JSON, Markdown) and the audit line, after the state (when it changed)."""
    json_path = paths.check(paths.rollout_json(log.date))
    md_path = paths.check(paths.rollout_md(log.date))
    try:
        if log.changed or not _records_applied(json_path):
            for target in (json_path, md_path):
                sweep_temps(target)
            write_atomic(json_path, jsonfile.model_bytes(log), label="rolloutlog")
            write_atomic(md_path, rollout_markdown(log).encode(), label="rolloutlog-md")
        fields: dict[str, Any] = {
            "date": log.date.isoformat(),
            "decision": log.decision,
            "decision_id": log.decision_id,
            "trace_id": log.trace_id,
            "changed": log.changed,
            "outcome": log.outcome,
            "before": _brief(log.before),
            "after": _brief(log.after),
            "reason": log.reasons[0],
        }
        if recovered:
            fields["recovered"] = True
        append_audit(paths, "ROLLOUT", fields, log.at)
    except OSError as exc:
        done = (
            f"the state was written (serial {log.after.serial if log.after else '?'}) but"
            if committed
            else "the state is unchanged, but"
        )
        raise RolloutRefused(
            f"{paths.tenant}: {done} the rollout log or audit line could not be written"
            f" ({_why(exc)}); run the rollout again to complete them"
        ) from None


def _records_applied(path: Path) -> bool:
    try:
        existing = RolloutLog.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return False  # missing or unreadable: it is replaced
    return existing.outcome == "applied"


# --- review -----------------------------------------------------------------------------------


def record_review(
    paths: TenantPaths,
    *,
    by: str,
    note: str,
    now: dt.datetime,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    steps: Sequence[int] = DEFAULT_STEPS,
) -> OperateState:
    """Record a review (SPEC §6 re-entry after BACKOUT): the next GO may clear the kill switch.

    ``by`` and ``note`` must each be one non-empty line and carry no e-mail address (they go into
    the state's history and the audit log, which never hold an address). A corrupt state is
    refused; a missing one is the initial state at ``steps[0]``.
    """
    _require_aware(now)
    who = _one_line("--by", by, 100)
    text = _one_line("--note", note, 500)
    with state_lock(paths, lock_timeout):
        state = _read_state_or_refuse(paths)
        current = state or _initial(paths.tenant, tuple(steps))
        review = Review(by=who, note=text, at=now)
        entry = HistoryEntry(
            serial=current.serial + 1,
            at=now,
            event="REVIEW",
            base=current.base,
            from_quota=current.quota,
            to_quota=current.quota,
            kill_switch=current.kill_switch,
            reasons=[text],
        )
        new = _successor(
            current, now, entry, quota=current.quota, kill_switch=current.kill_switch, review=review
        )
        sweep_temps(paths.state)
        try:
            write_atomic(paths.state, jsonfile.model_bytes(new), label="state")
        except OSError as exc:
            raise RolloutRefused(
                f"{paths.tenant}: cannot write {paths.state} ({_why(exc)}); the state is unchanged"
            ) from None
        try:
            fields = {"by": who, "note": text, "serial": new.serial, "after": _brief(_quota(new))}
            append_audit(paths, "REVIEW", fields, now)
        except OSError as exc:
            raise RolloutRefused(
                f"{paths.tenant}: the review was recorded in the state (serial {new.serial}) but"
                f" the audit line could not be written ({_why(exc)})"
            ) from None
        return new


def _one_line(option: str, value: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or not text.isprintable():
        raise CanaryUsageError(
            f"{option}: must be one non-empty line of printable text, got {value!r}"
        )
    if len(text) > limit:
        raise CanaryUsageError(f"{option}: at most {limit} characters, got {len(text)}")
    if _ADDRESS.search(text):
        raise CanaryUsageError(
            f"{option}: looks like it holds an e-mail address; give a name or user id"
            " (addresses never go into the state or the audit log)"
        )
    return text


# --- small helpers ----------------------------------------------------------------------------


def _read_state_or_refuse(paths: TenantPaths) -> OperateState | None:
    try:
        return read_state(paths)
    except jsonfile.InvalidInput as exc:
        raise RolloutRefused(
            f"{exc}; the state file is left for review, nothing was written"
        ) from None


def _initial(tenant: str, steps: tuple[int, ...]) -> OperateState:
    return OperateState(tenant=tenant, quota=steps[0], kill_switch=False, serial=0)


def _successor(
    state: OperateState,
    now: dt.datetime,
    entry: HistoryEntry,
    *,
    quota: int,
    kill_switch: bool,
    review: Review | None,
) -> OperateState:
    # Validated again (not model_copy): a quota out of range must fail before it reaches disk.
    return OperateState.model_validate(
        {
            **state.model_dump(),
            "quota": quota,
            "kill_switch": kill_switch,
            "review": review,
            "serial": entry.serial,
            "last_decision_id": entry.decision_id or state.last_decision_id,
            "updated_at": now,
            "history": [*state.history, entry],
        }
    )


def _log(
    decision: Decision,
    now: dt.datetime,
    outcome: Literal["applied", "unchanged"],
    before: QuotaState,
    after: QuotaState,
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


def _quota(state: OperateState) -> QuotaState:
    return QuotaState(
        quota=state.quota, kill_switch=state.kill_switch, serial=state.serial, review=state.review
    )


def _brief(state: QuotaState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"quota": state.quota, "kill_switch": state.kill_switch, "serial": state.serial}


def _is_go(decision: str | None) -> bool:
    return decision is not None and decision.startswith("GO_")


def _switch(on: bool) -> str:
    return "kill switch on" if on else "kill switch off"


def _hours(span: dt.timedelta) -> str:
    return f"{span.total_seconds() / 3600:g}h"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _require_aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")  # a caller's bug, not a user's
