"""Property tests: whatever lands in the KPI, blocklist or state file, reading it never raises and
the decision is never GO unless every input is valid (docs/contract.md: bad input never crashes anything)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _engine_fixtures import GOOD_KPIS, hard_bounce, make_case, review, state
from pytest_canary.core.engine import decide
from pytest_canary.core.models import KPI_REQUIRED_FIELDS

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COUNTS = ("notices_sent", "hard_bounces", "dlq_depth", "retry_depth")
DROP = object()  # leaves a field out

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Numbers near the thresholds and the values a broken job writes instead of a number.
field_values = (
    st.integers(min_value=-3, max_value=120)
    | st.integers(min_value=0, max_value=10**30)
    | st.integers(min_value=10**307, max_value=10**310)  # beyond any float
    | st.floats(min_value=-1, max_value=120)
    | st.sampled_from([0.0, 1.0, 2.5, 5.0, 0.02, 0.05, -0.0, 1e300, 2**53 + 0.0])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
    | st.text(max_size=4)
    | st.just([1])
)


def _encode(value: Any) -> bytes:
    """JSON as Python writes it: NaN and infinities come out as the literals JSON forbids."""
    return json.dumps(value).encode()


def _is_count(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer() and value >= 0
    return value >= 0


def _is_rate(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 <= value <= 1


def _valid_kpis(raw: dict[str, Any]) -> bool:
    """The contract's rules for a KPI file, written out independently of the reader."""
    if any(isinstance(v, float) and not math.isfinite(v) for v in raw.values()):
        return False  # written as NaN / Infinity, which JSON does not allow
    typed = {k: v for k, v in raw.items() if k in (*KPI_REQUIRED_FIELDS, "errors", "soft_bounces")}
    if any(isinstance(v, int) and abs(v) > sys.float_info.max for v in typed.values()):
        return False  # a number no float can hold cannot be compared with a threshold
    if raw.get("errors") is not None and not _is_count(raw["errors"]):  # null: not given
        return False
    if any(name not in raw for name in KPI_REQUIRED_FIELDS):
        return False
    if not all(_is_count(raw[name]) for name in COUNTS) or not _is_rate(raw["error_rate"]):
        return False
    return bool(raw["hard_bounces"] <= raw["notices_sent"])


def _assert_never_go_unless_valid(**files: Any) -> None:
    case = make_case(**files)
    decision = decide(case)  # never raises
    if decision.is_go:
        assert case.kpis.valid and case.blocklist.valid and case.state.valid
        assert all(i.valid for i in decision.inputs)
    else:
        assert decision.reasons
    if not case.inputs_valid:
        assert not decision.is_go
        assert any(r.startswith("input invalid: ") for r in decision.reasons)


# --- KPI file ---------------------------------------------------------------------------------


@SETTINGS
@given(content=st.binary(max_size=200))
def test_arbitrary_bytes_as_kpi_file_never_raise_and_never_go(content: bytes) -> None:
    _assert_never_go_unless_valid(kpi=content)


@SETTINGS
@given(value=json_values)
def test_arbitrary_json_as_kpi_file_never_raises_and_never_goes(value: Any) -> None:
    case = make_case(_encode(value))
    decision = decide(case)

    assert not decision.is_go
    assert not case.kpis.valid


@SETTINGS
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            **{name: field_values | st.just(DROP) for name in KPI_REQUIRED_FIELDS},
            "errors": field_values,
            "extra": field_values,
        },
    )
)
def test_kpi_fields_are_valid_exactly_as_the_spec_says(fields: dict[str, Any]) -> None:
    raw = {k: v for k, v in {**GOOD_KPIS, **fields}.items() if v is not DROP}
    case = make_case(_encode(raw))
    decision = decide(case)

    expected = _valid_kpis(raw)
    assert case.kpis.valid is expected, case.kpis.problems()
    if expected:
        assert case.kpis.model is not None
        assert decision.decision != "HOLD" or decision.reasons
    else:
        assert not decision.is_go
        assert case.kpis.problems()
        assert all(p.startswith(case.kpis.path) for p in case.kpis.problems())


@SETTINGS
@given(
    name=st.sampled_from(KPI_REQUIRED_FIELDS),
    flag=st.booleans(),
)
def test_booleans_are_never_numbers(name: str, flag: bool) -> None:
    case = make_case({**GOOD_KPIS, name: flag})

    assert set(case.kpis.field_errors) == {name}
    assert not decide(case).is_go


@SETTINGS
@given(
    counts=st.fixed_dictionaries(
        {name: st.integers(min_value=0, max_value=2**53) for name in COUNTS}
    ),
    rate=st.integers(min_value=0, max_value=1000),
)
def test_integral_floats_are_read_as_the_same_counts(counts: dict[str, int], rate: int) -> None:
    counts["hard_bounces"] = min(counts["hard_bounces"], counts["notices_sent"])
    as_ints = {**counts, "error_rate": rate / 1000}
    as_floats = {**{k: float(v) for k, v in counts.items()}, "error_rate": rate / 1000}

    ints = make_case(as_ints, folder="ints")
    floats = make_case(as_floats, folder="floats")

    assert ints.kpis.valid and floats.kpis.valid
    assert floats.kpis.values == ints.kpis.values
    assert decide(floats).decision == decide(ints).decision


@SETTINGS
@given(
    name=st.sampled_from((*KPI_REQUIRED_FIELDS, "errors", "custom")),
    literal=st.sampled_from(["NaN", "Infinity", "-Infinity"]),
)
def test_nan_and_infinity_literals_are_refused(name: str, literal: str) -> None:
    raw = {**GOOD_KPIS, name: "__literal__"}
    content = json.dumps(raw).replace('"__literal__"', literal).encode()

    case = make_case(content)

    assert case.kpis.file_error is not None
    assert literal in case.kpis.file_error
    assert not decide(case).is_go


@SETTINGS
@given(
    name=st.sampled_from((*KPI_REQUIRED_FIELDS, "tenant", "other")),
    first=field_values,
    second=field_values,
    nested=st.booleans(),
)
def test_duplicate_keys_are_refused(name: str, first: Any, second: Any, nested: bool) -> None:
    body = json.dumps(GOOD_KPIS)[1:-1]
    duplicate = f"{json.dumps(name)}: {json.dumps(first)}, {json.dumps(name)}: {json.dumps(second)}"
    inner = '"detail": {' + duplicate + "}" if nested else duplicate
    content = "{" + body + ", " + inner + "}"

    case = make_case(content.encode())

    assert case.kpis.file_error is not None
    problem = case.kpis.file_error
    assert "duplicate key" in problem or "not a number JSON allows" in problem
    assert not decide(case).is_go


# --- blocklist --------------------------------------------------------------------------------


@SETTINGS
@given(content=st.binary(max_size=200) | json_values.map(_encode))
def test_arbitrary_blocklist_never_raises_and_an_invalid_one_never_goes(content: bytes) -> None:
    _assert_never_go_unless_valid(blocklist=content)


entry_values = st.fixed_dictionaries(
    {},
    optional={
        "reason": st.sampled_from(["hard_bounce", "complaint", "manual"]) | scalars,
        "added_at": st.datetimes().map(lambda d: d.isoformat())
        | st.sampled_from(["2024-05-02T10:00:00+02:00", "2024-05-02", "02.05.2024", ""])
        | scalars,
        "address_sha256": st.text(max_size=8),
    },
)


@SETTINGS
@given(entries=st.lists(entry_values, max_size=6), wrap=st.booleans())
def test_blocklist_entries_never_raise_and_fail_closed(
    entries: list[dict[str, Any]], wrap: bool
) -> None:
    content = _encode({"entries": entries} if wrap else entries)
    case = make_case(blocklist=content)
    decision = decide(case)

    reasons_ok = all(isinstance(e.get("reason"), str) for e in entries)
    if not reasons_ok:
        assert not case.blocklist.valid
    if case.blocklist.valid:
        assert case.blocklist.summary is not None
        assert case.blocklist.summary.entries == len(entries)
        assert 0 <= case.blocklist.summary.hard_bounces_on_date <= len(entries)
        assert "address_sha256" not in case.blocklist.summary.model_dump_json()
    else:
        assert not decision.is_go


@SETTINGS
@given(count=st.integers(min_value=0, max_value=200), kpi_count=st.integers(0, 200))
def test_reconciled_hard_bounces_are_the_larger_count(count: int, kpi_count: int) -> None:
    listed = [hard_bounce("2024-05-02T12:00:00+02:00")] * count
    case = make_case(
        {**GOOD_KPIS, "hard_bounces": kpi_count, "notices_sent": 1000}, blocklist=listed
    )
    decision = decide(case)

    rate = next(g for g in decision.gates if g.name == "hard_bounce_rate")
    assert rate.value == max(count, kpi_count) / 1000
    said = any("blocklist lists" in r for r in decision.reasons)
    assert said is (count > kpi_count)


# --- operate state ----------------------------------------------------------------------------


@SETTINGS
@given(content=st.binary(max_size=200) | json_values.map(_encode))
def test_arbitrary_state_never_raises_and_an_invalid_one_never_goes(content: bytes) -> None:
    _assert_never_go_unless_valid(operate_state=content)


@SETTINGS
@given(
    changes=st.fixed_dictionaries(
        {},
        optional={
            "schema_version": st.sampled_from([1, 2]) | scalars,
            "tenant": st.sampled_from(["acme", "globex", "all", "ACME"]) | scalars,
            "quota": st.sampled_from([10, 25, 50, 100, 0, 30, 101]) | scalars,
            "kill_switch": scalars,
            "serial": st.integers(min_value=-2, max_value=5) | scalars,
            "review": st.just(review()) | scalars,
            "history": st.lists(json_values, max_size=2) | scalars,
            "unknown": scalars,
        },
    )
)
def test_a_mutated_state_never_raises_and_an_invalid_one_never_goes(
    changes: dict[str, Any],
) -> None:
    case = make_case(operate_state=_encode({**state(), **changes}))
    decision = decide(case)

    if "unknown" in changes or changes.get("quota", 10) not in (10, 25, 50, 100):
        assert not case.state.valid
    if not case.state.valid:
        assert not decision.is_go
        assert case.state.error is not None
        assert case.state.error.startswith(case.state.path)
