"""What a decision or a review does to an operate state: pure functions, no I/O, no clock.

``rollout.py`` reads the state under the lock, asks :func:`plan_rollout` or :func:`reviewed`
what the next state is, and writes it. Keeping the rules of rolling out (docs/contract.md) here, apart from the files,
lets them be read (and tested) as the table they are.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_canary.core.errors import CanaryUsageError, RolloutRefused
from pytest_canary.core.models import HistoryEntry, OperateState, Pause, QuotaState, Review
from pytest_canary.core.records import Decision

CLOCK_SKEW = dt.timedelta(minutes=5)
"""How far a decision's ``created_at`` may lie after the rollout's clock (two hosts' clocks)."""
_ADDRESS = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")


@dataclass(frozen=True)
class Plan:
    """The outcome of one decision on one state.

    ``new_state`` is ``None`` when the state file must not be written. ``repeat`` is the history
    entry of a decision that was applied already (docs/contract.md, Rolling out, rule 2).
    """

    outcome: Literal["applied", "unchanged"]
    reason: str
    new_state: OperateState | None = None
    repeat: HistoryEntry | None = None


def initial_state(tenant: str, steps: Sequence[int]) -> OperateState:
    """What a missing state file means: the first step, kill switch off, serial 0."""
    return OperateState(tenant=tenant, quota=steps[0], kill_switch=False, serial=0)


def plan_rollout(
    state: OperateState,
    decision: Decision,
    steps: Sequence[int],
    now: dt.datetime,
    max_age: dt.timedelta,
) -> Plan:
    """The rules of rolling out (docs/contract.md) in their order, after the foreign-tenant and
    corrupt-state checks. Raises on refusal."""
    tenant = state.tenant
    rollouts = [h for h in state.history if h.event == "ROLLOUT"]
    done = next((h for h in rollouts if h.decision_id == decision.decision_id), None)
    if done is not None:
        reason = f"{decision.decision} already applied (serial {done.serial}); nothing to do"
        return Plan("unchanged", reason, repeat=done)
    if decision.is_go:
        earlier = next((h for h in rollouts if h.kpi_date == decision.date and h.is_go), None)
        if earlier is not None:
            return Plan(
                "unchanged",
                f"a GO for KPI date {decision.date} was already applied ({earlier.decision},"
                f" serial {earlier.serial}): one step per KPI date",
            )
    if decision.created_at - now > CLOCK_SKEW:
        raise RolloutRefused(
            f"{tenant}: the {decision.decision} decision of {decision.date} was created at"
            f" {decision.created_at.isoformat()}, later than now ({now.isoformat()}) by more"
            f" than {CLOCK_SKEW.total_seconds() / 60:g} minutes of clock skew; decide again;"
            " nothing was written"
        )
    if now - decision.created_at > max_age:
        raise RolloutRefused(
            f"{tenant}: the {decision.decision} decision of {decision.date} was created at"
            f" {decision.created_at.isoformat()}, more than {_hours(max_age)} ago (--max-age);"
            " decide again; nothing was written"
        )
    if decision.is_go:
        return _go_plan(state, decision, steps, now)
    if decision.decision == "BACKOUT":
        first = steps[0]
        if state.kill_switch and state.quota == first and state.review is None:
            return Plan("unchanged", f"BACKOUT: already backed out (quota {first}, kill switch on)")
        return Plan(
            "applied",
            f"BACKOUT: kill switch on, quota {state.quota} → {first}",
            _after_decision(state, decision, now, quota=first, kill_switch=True),
        )
    return Plan("unchanged", f"{decision.decision}: no change to the state")


def _go_plan(
    state: OperateState, decision: Decision, steps: Sequence[int], now: dt.datetime
) -> Plan:
    base, target = decision.base, decision.target.quota
    if state.pause is not None:  # paused after the decision was made: it no longer holds
        raise RolloutRefused(
            f"{state.tenant}: stale {decision.decision} decision: the tenant was paused by"
            f" {state.pause.by} at {state.pause.at.isoformat()} (serial {state.serial});"
            " nothing was written"
        )
    # The whole base, serial included: any write since the decision (a review, a BACKOUT, a
    # review cleared by it ...) means the GO was judged against a state that is gone.
    judged = (base.quota, base.kill_switch, base.review, base.pause, base.serial)
    if judged != (state.quota, state.kill_switch, state.review, state.pause, state.serial):
        raise RolloutRefused(
            f"{state.tenant}: stale {decision.decision} decision: made for"
            f" {_described(base.quota, base.kill_switch, base.review, base.serial)}, but the"
            f" state is now {_described(state.quota, state.kill_switch, state.review, state.serial)};"
            " decide again; nothing was written"
        )
    if target not in steps:
        raise RolloutRefused(
            f"{state.tenant}: {decision.decision} targets quota {target}, not one of the steps"
            f" {_list(steps)}; nothing was written"
        )
    # A GO climbs one step (or stays at the top) and clears the kill switch; a decision file
    # that says otherwise was edited by hand, and is refused rather than applied as it reads.
    # base.quota is the state's quota (checked above), which plan_rollout found among the steps.
    step = steps[min(steps.index(base.quota) + 1, len(steps) - 1)]
    if (decision.decision, target, decision.target.kill_switch) != (f"GO_{step}", step, False):
        raise RolloutRefused(
            f"{state.tenant}: inconsistent {decision.decision} decision: target quota {target}"
            f" {_switch(decision.target.kill_switch)}, but one step up from quota {base.quota}"
            f" is GO_{step} with the kill switch off; decide again; nothing was written"
        )
    if (state.quota, state.kill_switch, state.review) == (target, False, None):
        # At the top step every good day is GO_100 again: the history records changes, not
        # confirmations, so nothing is written.
        return Plan("unchanged", f"{decision.decision}: already at quota {target}")
    return Plan(
        "applied",
        f"{decision.decision}: quota {state.quota} → {target}, kill switch off",
        _after_decision(state, decision, now, quota=target, kill_switch=False),
    )


def _after_decision(
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
    return _successor(state, now, entry, review=None)


def reviewed(state: OperateState, *, by: str, note: str, now: dt.datetime) -> OperateState:
    """The state with a review recorded (docs/contract.md: re-entry after a BACKOUT); quota and switch kept.

    ``by`` and ``note`` must each be one non-empty line and hold no e-mail address: they go into
    the history and the audit log, which never hold an address. Otherwise a usage error. A state
    whose kill switch is off has nothing to review: refused.
    """
    who, text = review_text(by, note)
    if not state.kill_switch:
        raise RolloutRefused(
            f"{state.tenant}: the kill switch is off (quota {state.quota}), there is nothing to"
            " review; a review is recorded only after a BACKOUT or a kill; nothing was written"
        )
    entry = _by_hand(state, now, "REVIEW", who, text, quota=state.quota, kill_switch=True)
    return _successor(state, now, entry, review=Review(by=who, note=text, at=now))


def killed(
    state: OperateState, steps: Sequence[int], *, by: str, note: str, now: dt.datetime, trace: str
) -> OperateState | None:
    """The manual kill switch: on, quota to the first step, review cleared; ``None``: already so.

    A pause stays: killing and pausing are separate decisions of an operator.
    """
    who, text = review_text(by, note)
    first = steps[0]
    if (state.quota, state.kill_switch, state.review) == (first, True, None):
        return None
    entry = _by_hand(state, now, "KILL", who, text, quota=first, kill_switch=True, trace=trace)
    return _successor(state, now, entry, review=None)


def paused(
    state: OperateState, *, by: str, note: str, now: dt.datetime, trace: str
) -> OperateState | None:
    """The state paused (its GO decisions are held); quota and switch kept. ``None``: paused."""
    who, text = review_text(by, note)
    if state.pause is not None:
        return None
    entry = _by_hand(state, now, "PAUSE", who, text, quota=state.quota, trace=trace)
    pause = Pause(by=who, note=text, at=now)
    return _successor(state, now, entry, review=state.review, pause=pause)


def resumed(
    state: OperateState, *, by: str, note: str, now: dt.datetime, trace: str
) -> OperateState | None:
    """The state with its pause lifted; ``None`` when it was not paused."""
    who, text = review_text(by, note)
    if state.pause is None:
        return None
    entry = _by_hand(state, now, "RESUME", who, text, quota=state.quota, trace=trace)
    return _successor(state, now, entry, review=state.review, pause=None)


def _by_hand(
    state: OperateState,
    now: dt.datetime,
    event: Literal["REVIEW", "KILL", "PAUSE", "RESUME"],
    who: str,
    text: str,
    *,
    quota: int,
    kill_switch: bool | None = None,
    trace: str | None = None,
) -> HistoryEntry:
    """The history entry of a change a person made, with who and why."""
    return HistoryEntry(
        serial=state.serial + 1,
        at=now,
        event=event,
        trace_id=trace,
        base=state.base,
        from_quota=state.quota,
        to_quota=quota,
        kill_switch=state.kill_switch if kill_switch is None else kill_switch,
        reasons=[text] if event == "REVIEW" else [f"{event.lower()} by {who}: {text}"],
        by=who,
        note=text,
    )


def applied_views(entry: HistoryEntry) -> tuple[QuotaState, QuotaState]:
    """Before and after of an applied ROLLOUT entry, rebuilt from the history alone.

    The after is the before with what a decision's rollout changes (:func:`_after_decision`):
    quota, kill switch and serial, the review cleared; a pause stays as it was.
    """
    before = entry.before
    changed = {"quota": entry.to_quota, "kill_switch": entry.kill_switch, "review": None}
    return before, before.model_copy(update={**changed, "serial": entry.serial})


def _successor(
    state: OperateState,
    now: dt.datetime,
    entry: HistoryEntry,
    *,
    review: Review | None,
    pause: Pause | Literal["kept"] | None = "kept",
) -> OperateState:
    # Validated again (not model_copy): a quota out of range must fail before it reaches disk.
    return OperateState.model_validate(
        {
            **state.model_dump(),
            "quota": entry.to_quota,
            "kill_switch": entry.kill_switch,
            "review": review,
            "pause": state.pause if pause == "kept" else pause,
            "serial": entry.serial,
            "last_decision_id": entry.decision_id or state.last_decision_id,
            "updated_at": now,
            "history": [*state.history, entry],
        }
    )


def review_text(by: str, note: str) -> tuple[str, str]:
    """``by`` and ``note`` stripped, or the usage error :func:`reviewed` would raise."""
    return _one_line("--by", by, 100), _one_line("--note", note, 500)


def _one_line(option: str, value: str, limit: int) -> str:
    text = value.strip()
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


def _described(quota: int, kill_switch: bool, review: Review | None, serial: int) -> str:
    reviewed_by = f"review by {review.by} at {review.at.isoformat()}" if review else "no review"
    return f"quota {quota} {_switch(kill_switch)} ({reviewed_by}, serial {serial})"


def _switch(on: bool) -> str:
    return "kill switch on" if on else "kill switch off"


def _list(steps: Sequence[int]) -> str:
    return ", ".join(map(str, steps))


def _hours(span: dt.timedelta) -> str:
    return f"{span.total_seconds() / 3600:g}h"
