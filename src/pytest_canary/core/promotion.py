"""May a GO raise the quota today? Pause, freeze windows, promote days, bake time, stale KPIs.

Pure rules over data the edges read (the state, the gate set, the decisions recorded on the days
before): no I/O, no clock. Their verdict is the ``promotion`` item of each tenant, a gate like the
``kill_switch`` item, so a held promotion fails an item, enters the decision's reasons and its id,
and a BACKOUT (a backout gate) still wins over it.

The bake count is read from the recorded decisions, never kept as a counter: the same files give
the same count, the pytest run and ``canary decide`` the same id, and a backtest can count again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from pytest_canary.core.case import Case, base_of
from pytest_canary.core.models import HistoryEntry, Pause
from pytest_canary.core.records import Decision, GateResult, PromotionRecord
from pytest_canary.core.schedule import WEEKDAYS, Promotion

BERLIN = ZoneInfo("Europe/Berlin")
_NOT_COUNTED = ("kill_switch", "promotion")  # what a green day is judged without
_BAD = ("hold", "error", "backout")


@dataclass(frozen=True)
class Verdict:
    """The promotion rules' verdict for one tenant and date."""

    holds: tuple[str, ...]  # why a GO may not be applied today; empty: it may
    green_days: int  # consecutive green KPI dates at this quota, today included
    min_green_days: int
    window: str | None  # the freeze window the date is in
    source: str

    def identity(self) -> dict[str, Any]:
        return {"green_days": self.green_days, "holds": list(self.holds)}


def is_green(gates: Collection[GateResult]) -> bool:
    """Whether a day's gates all passed: every counted gate passes or is skipped, one judged."""
    counted = [g for g in gates if not g.shadow and g.kind not in _NOT_COUNTED]
    judged = any(g.status == "pass" and g.kind in ("threshold", "custom") for g in counted)
    return judged and not any(g.status in _BAD for g in counted)


def reset_serial(history: Collection[HistoryEntry], serial: int) -> int:
    """The serial of the last change of quota or kill switch up to ``serial``: a bake starts there.

    A step up, a BACKOUT and a kill each start the count anew; a review, pause or resume does not.
    """
    last = 0
    for entry in history:
        if entry.serial > serial:
            break
        if (entry.to_quota, entry.kill_switch) != (entry.base.quota, entry.base.kill_switch):
            last = entry.serial
    return last


def green_streak(
    recorded: Mapping[dt.date, Decision], day: dt.date, quota: int, since_serial: int, most: int
) -> int:
    """Consecutive green days before ``day`` (at most ``most``) judged at ``quota`` after the reset.

    A day without a recorded decision ends the streak: no evidence is not a green day.
    """
    streak = 0
    while streak < most:
        earlier = recorded.get(day - dt.timedelta(days=streak + 1))
        if earlier is None or not is_green(earlier.gates):
            break
        if earlier.base.quota != quota or earlier.base.serial < since_serial:
            break
        streak += 1
    return streak


def verdict(
    rules: Promotion,
    day: dt.date,
    *,
    pause: Pause | None,
    steps_left: bool,
    today_green: bool,
    streak: int,
    state_source: str,
) -> Verdict:
    """The promotion verdict; ``steps_left``: a GO would change the state (not at the top)."""
    holds = []
    source = state_source
    if pause is not None:
        holds.append(f"paused by {pause.by} at {pause.at.isoformat()}: {pause.note}")
    window = rules.window_of(day)
    green = streak + 1 if today_green else 0
    if steps_left:
        if window is not None:
            holds.append(f"{day} is in the freeze window {window} ({window.source})")
            source = window.source
        if day.weekday() not in rules.promote_days:
            holds.append(
                f"{day} is a {WEEKDAYS[day.weekday()]}, not a promote day"
                f" ({rules.day_names()}; {rules.promote_days_source})"
            )
            source = rules.promote_days_source
        if today_green and green < rules.min_green_days:
            holds.append(
                f"baking: green day {green} of {rules.min_green_days} at this quota"
                f" ({rules.min_green_days_source})"
            )
            source = rules.min_green_days_source
    return Verdict(
        tuple(holds), green, rules.min_green_days, str(window) if window else None, source
    )


def promotion_gate(
    rules: Promotion,
    day: dt.date,
    *,
    base_quota: int,
    base_kill_switch: bool,
    pause: Pause | None,
    steps: tuple[int, ...],
    built_in: Collection[GateResult],
    recorded: Mapping[dt.date, Decision],
    since_serial: int,
    state_source: str,
) -> tuple[GateResult, Verdict]:
    """The ``promotion`` item: ``hold`` while paused, frozen, off a promote day or baking."""
    today_green = is_green(built_in)
    most = rules.min_green_days - 1
    streak = green_streak(recorded, day, base_quota, since_serial, most) if most else 0
    found = verdict(
        rules,
        day,
        pause=pause,
        steps_left=base_quota != steps[-1] or base_kill_switch,
        today_green=today_green,
        streak=streak,
        state_source=state_source,
    )
    if found.holds:
        message = "; ".join(found.holds)
    elif rules.min_green_days > 1 and today_green:
        message = f"green day {found.green_days} of {rules.min_green_days}: a GO may be applied"
    else:
        message = "not paused, not frozen: a GO may be applied"
    gate = GateResult(
        name="promotion",
        label="Freigabe",
        kind="promotion",
        metric="pause, freeze, promote_days, min_green_days",
        value=float(found.green_days),
        op=">=",
        threshold=float(rules.min_green_days),
        status="hold" if found.holds else "pass",
        message=message,
        source=found.source,
    )
    return gate, found


def promotion_of(
    case: Case, built_in: Collection[GateResult]
) -> tuple[GateResult, PromotionRecord]:
    """The ``promotion`` item (pause, freeze, promote days, bake time) and its record."""
    base = base_of(case)
    state = case.state.state
    gate, found = promotion_gate(
        case.gates.promotion,
        case.date,
        base_quota=base.quota,
        base_kill_switch=base.kill_switch,
        pause=base.pause,
        steps=case.gates.steps,
        built_in=built_in,
        recorded=case.recorded,
        since_serial=reset_serial(state.history, base.serial) if state else 0,
        state_source=case.state.path,
    )
    record = PromotionRecord(
        green_days=found.green_days,
        min_green_days=found.min_green_days,
        paused=base.pause is not None,
        freeze_window=found.window,
        holds=list(found.holds),
    )
    return gate, record


def stale_problem(
    generated_at: dt.datetime | None, rules: Promotion, day: dt.date, created_at: dt.datetime
) -> str | None:
    """Why a KPI file is stale, or ``None``: generated longer than the allowed age before the run.

    The run is the decision's ``created_at``, but never later than the end of its KPI date (a
    backfill of an old date judges the file against that date, not against today).
    """
    if generated_at is None:
        return None
    made = generated_at if generated_at.tzinfo else generated_at.replace(tzinfo=BERLIN)
    end_of_day = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BERLIN)
    run = min(created_at, end_of_day)
    age = run - made
    if age <= dt.timedelta(hours=rules.stale_after_hours):
        return None
    return (
        f"stale: generated_at {made.isoformat()} is {age.total_seconds() / 3600:.1f} h before"
        f" the run ({run.isoformat()}), more than {rules.stale_after_hours:g} h ({rules.stale_source})"
    )
