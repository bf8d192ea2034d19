"""A tenant's case: everything its decision is made from, and the state it is judged against."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from pytest_canary.core.gates import GateSet
from pytest_canary.core.models import HistoryEntry, QuotaState
from pytest_canary.core.readings import BlocklistReading, KpiReading, StateReading
from pytest_canary.core.records import Decision
from pytest_canary.core.stats import Counts

Stat = Counts | str


@dataclass(frozen=True)
class Case:
    """Everything one tenant's decision is made from."""

    tenant: str
    date: dt.date
    kpis: KpiReading
    blocklist: BlocklistReading
    state: StateReading
    gates: GateSet
    trace_id: str
    created_at: dt.datetime
    # The decisions recorded on the days before, as far back as the bake time needs.
    recorded: Mapping[dt.date, Decision] = field(default_factory=dict)

    @property
    def inputs_valid(self) -> bool:
        return self.kpis.valid and self.blocklist.valid and self.state.valid


def replayed_go(case: Case) -> HistoryEntry | None:
    """This date's GO when it was applied already: the last rollout, of a GO for this date."""
    state = case.state.state
    if state is None:
        return None
    rollouts = [entry for entry in state.history if entry.event == "ROLLOUT"]
    last = rollouts[-1] if rollouts else None
    return last if last is not None and last.kpi_date == case.date and last.is_go else None


def base_of(case: Case) -> QuotaState:
    """The state a decision is judged against (docs/contract.md: one step per KPI date)."""
    state = case.state.state
    if state is None:
        return QuotaState(quota=case.gates.steps[0], kill_switch=False, serial=0)
    replayed = replayed_go(case)
    # This date's GO was applied already: judge against the state before it, so that the same
    # evidence yields the same decision (and id) instead of a second step up.
    return replayed.before if replayed is not None else state.snapshot


def hard_bounces(case: Case) -> float | None:
    """The reconciled hard-bounce count: the larger of the KPI's and the blocklist's."""
    kpi = (
        case.kpis.values.get("hard_bounces")
        if "hard_bounces" not in case.kpis.field_errors
        else None
    )
    summary = case.blocklist.summary
    listed = summary.hard_bounces_on_date if summary is not None else None
    if kpi is None:
        return None
    return max(kpi, listed) if listed is not None else kpi
