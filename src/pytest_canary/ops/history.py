"""``canary history``: one tenant's timeline, from its state history and its audit log.

Reads only. Every change of the state (a step, a BACKOUT, a kill, a pause or resume, a review)
is a history entry; each is shown with when, who, why and its trace id, and whether the audit log
records it too. The last line answers the troubleshooting question "is the state consistent with
its history", by the same check every reader of the state makes (a state that fails it is
refused by the rollout); the timeline is shown even then, for whoever has to mend it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from pytest_canary.core.jsonfile import InvalidInput, parse_json, validation_message
from pytest_canary.core.models import HistoryEntry, OperateState
from pytest_canary.core.readings import history_problem
from pytest_canary.core.timeline import Event, Timeline
from pytest_canary.store.audit import read_audit
from pytest_canary.store.files import read_bytes
from pytest_canary.store.layout import TenantPaths


def _audited(entry: HistoryEntry, lines: list[dict[str, Any]]) -> bool:
    if entry.event == "ROLLOUT":
        return any(
            line.get("event") == "ROLLOUT"
            and line.get("decision_id") == entry.decision_id
            and line.get("changed") is True
            for line in lines
        )
    serials = {
        line.get("serial") if entry.event == "REVIEW" else (line.get("after") or {}).get("serial")
        for line in lines
        if line.get("event") == entry.event
    }
    return entry.serial in serials


def _state_as_written(paths: TenantPaths) -> OperateState | None:
    """The state file read as the rollout writes it, but without the consistency check: the
    timeline of a state edited by hand is what its owner needs to see."""
    path = paths.check(paths.state)
    if not (path.exists() or path.is_symlink()):
        return None
    data = read_bytes(path, str(path))
    parse_json(data, str(path))
    try:
        return OperateState.model_validate_json(data, strict=True)
    except ValidationError as exc:
        raise InvalidInput(validation_message(str(path), exc)) from None


def timeline(paths: TenantPaths) -> Timeline:
    """The tenant's timeline and the consistency of its state; a corrupt file is a problem."""
    result = Timeline(paths.tenant)
    try:
        state = _state_as_written(paths)
    except InvalidInput as exc:
        result.problems.append(f"state file corrupt: {exc}")
        return result
    try:
        lines = read_audit(paths.check(paths.audit))
    except OSError as exc:
        lines = []
        result.problems.append(f"audit log {paths.audit} cannot be read ({exc.strerror or exc})")
    if state is None:
        return result
    for entry in state.history:
        why = entry.note if entry.note is not None else "; ".join(entry.reasons[:1])
        result.events.append(
            Event(
                serial=entry.serial,
                at=entry.at.isoformat(),
                event=entry.decision
                if entry.event == "ROLLOUT" and entry.decision
                else entry.event,
                by=entry.by,
                why=why,
                trace_id=entry.trace_id,
                from_quota=entry.from_quota,
                to_quota=entry.to_quota,
                kill_switch=entry.kill_switch,
                audited=_audited(entry, lines),
            )
        )
    problem = history_problem(state)
    if problem is not None:
        result.problems.append(problem)
    return result
