"""Properties of the evidence gates over generated counts and generated (bad) cohort data."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _engine_fixtures import CREATED, DATE, TENANT, TRACE
from _evidence_fixtures import RELATIVE_TOML, cohort, split_kpis
from pytest_canary.core.case import Case
from pytest_canary.core.engine import decide
from pytest_canary.core.gates import GateSet
from pytest_canary.core.models import Kpis
from pytest_canary.core.readings import BlocklistReading, StateReading, kpis_from_object
from pytest_canary.core.records import Decision
from pytest_canary.store.gates import GateConfig

MAX_DIFF = 0.01


@pytest.fixture(scope="module")
def gate_sets() -> dict[bool, GateSet]:
    """The built-in gates (``False``) and the built-in gates with the relative gate (``True``)."""
    return {
        False: GateConfig.parse([]).for_tenant(TENANT, {}),
        True: GateConfig.parse([(RELATIVE_TOML, "gates/evidence.toml")]).for_tenant(TENANT, {}),
    }


def _decide(raw: Any, gates: GateSet) -> Decision:
    case = Case(
        tenant=TENANT,
        date=DATE,
        kpis=kpis_from_object(raw, "kpis.json", TENANT, DATE, None),
        blocklist=BlocklistReading("blocklist.json", False, None),
        state=StateReading("operate_state.json", False, None),
        gates=gates,
        trace_id=TRACE,
        created_at=CREATED,
    )
    return decide(case)


@st.composite
def _worse_days(
    draw: st.DrawFn, minimum: int, excess: float = 0.0
) -> tuple[tuple[int, int], tuple[int, int]]:
    """(errors, sent) of canary and control, the canary's observed rate worse than control's by
    more than the allowed margin (plus ``excess``)."""
    attempts0 = draw(st.integers(minimum, 400_000))
    errors0 = draw(st.integers(0, attempts0 // 20))
    attempts1 = draw(st.integers(minimum, 100_000))
    floor = int((errors0 / attempts0 + MAX_DIFF + excess) * attempts1) + 1
    errors1 = draw(st.integers(min(floor, attempts1), attempts1))
    return (errors1, attempts1 - errors1), (errors0, attempts0 - errors0)


def _relative_verdicts(
    gate_sets: dict[bool, GateSet], days: list[tuple[tuple[int, int], tuple[int, int]]]
) -> list[tuple[str, Decision]]:
    gates = gate_sets[True]
    verdicts = []
    for canary, control in days:
        assert canary[0] / sum(canary) > control[0] / sum(control) + MAX_DIFF
        decision = _decide(split_kpis(canary, control), gates)
        result = next(g for g in decision.gates if g.name == "error_rate_vs_control")
        verdicts.append((result.status, decision))
    return verdicts


@settings(max_examples=60)
@given(days=st.lists(_worse_days(minimum=1), min_size=1, max_size=5))
def test_a_relative_gate_never_passes_a_canary_worse_than_control_beyond_the_margin(
    gate_sets: dict[bool, GateSet], days: list[tuple[tuple[int, int], tuple[int, int]]]
) -> None:
    for status, _ in _relative_verdicts(gate_sets, days):
        assert status != "pass"


@settings(max_examples=60)
@given(days=st.lists(_worse_days(minimum=10_000, excess=0.02), min_size=1, max_size=5))
def test_at_large_volume_a_clearly_worse_canary_holds_or_backs_out_every_day(
    gate_sets: dict[bool, GateSet], days: list[tuple[tuple[int, int], tuple[int, int]]]
) -> None:
    for status, decision in _relative_verdicts(gate_sets, days):
        assert status in ("hold", "backout")
        assert not decision.is_go


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)
_FIELDS = st.sampled_from(
    ["notices_sent", "errors", "error_rate", "hard_bounces", "soft_bounces", "dlq_depth", "x"]
)


@st.composite
def _bad_cohorts(draw: st.DrawFn) -> Any:
    """A valid split with one generated change: a field's value, a dropped field or cohort, an
    extra cohort, or another type for the whole object."""
    data = split_kpis(canary=(2, 200), control=(10, 1800))
    cohorts = data["cohorts"]
    change = draw(st.sampled_from(["value", "drop", "drop_cohort", "extra", "replace"]))
    name = draw(st.sampled_from(["canary", "control"]))
    if change == "value":
        cohorts[name][draw(_FIELDS)] = draw(_VALUES)
    elif change == "drop":
        cohorts[name].pop(draw(_FIELDS), None)
    elif change == "drop_cohort":
        del cohorts[name]
    elif change == "extra":
        cohorts[draw(st.text(min_size=1, max_size=5))] = cohort(0, 1)
    else:
        data["cohorts"] = draw(_VALUES)
    return data


@settings(max_examples=150)
@given(raw=_bad_cohorts(), with_relative=st.booleans())
def test_invalid_cohort_data_never_yields_go(
    gate_sets: dict[bool, GateSet], raw: dict[str, Any], with_relative: bool
) -> None:
    gates = gate_sets[with_relative]
    try:
        Kpis.model_validate(raw)
        valid = True
    except ValueError:
        valid = False

    decision = _decide(raw, gates)

    if not valid:
        assert not decision.is_go
        assert any("cohorts" in reason for reason in decision.reasons)


def test_the_split_the_bad_cohorts_start_from_goes(gate_sets: dict[bool, GateSet]) -> None:
    for gates in gate_sets.values():
        assert _decide(split_kpis(canary=(2, 200), control=(10, 1800)), gates).is_go
