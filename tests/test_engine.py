"""The decision engine against every rule of gates and deciding (docs/contract.md), boundaries included.

Each case is built in memory from the bytes its files would hold, through the parsers the readers
use, so what is asserted here is what ``canary decide`` and the plugin would decide from the same
files; reading the files themselves is the store's tests' (``test_inputs.py``, ``test_store.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from _engine_fixtures import (
    DATE,
    GATE_FILE,
    GOOD_KPIS,
    decide_inputs,
    gate,
    hard_bounce,
    history_entry,
    kpis,
    make_case,
    review,
    state,
    statuses,
)
from pytest_canary.core.engine import decide
from pytest_canary.core.records import GateResult

# --- one gate at a time: (KPI changes, gate, its status, the decision) ------------------------

BOUNDARIES = [
    # error_rate: max 0.02, backout above 2 x 0.02 = 0.04
    ({"error_rate": 0.02}, "error_rate", "pass", "GO_25"),
    ({"error_rate": 0.0201}, "error_rate", "hold", "HOLD"),
    ({"error_rate": 0.04}, "error_rate", "hold", "HOLD"),
    ({"error_rate": 0.0401}, "error_rate", "backout", "BACKOUT"),
    ({"error_rate": 1}, "error_rate", "backout", "BACKOUT"),
    ({"error_rate": 0}, "error_rate", "pass", "GO_25"),
    # hard_bounce_rate: hard_bounces / notices_sent, max 0.05, backout above 0.10
    ({"hard_bounces": 50}, "hard_bounce_rate", "pass", "GO_25"),
    ({"hard_bounces": 51}, "hard_bounce_rate", "hold", "HOLD"),
    ({"hard_bounces": 100}, "hard_bounce_rate", "hold", "HOLD"),
    ({"hard_bounces": 101}, "hard_bounce_rate", "backout", "BACKOUT"),
    # dlq_depth: max 10, backout above 20
    ({"dlq_depth": 10}, "dlq_depth", "pass", "GO_25"),
    ({"dlq_depth": 11}, "dlq_depth", "hold", "HOLD"),
    ({"dlq_depth": 20}, "dlq_depth", "hold", "HOLD"),
    ({"dlq_depth": 21}, "dlq_depth", "backout", "BACKOUT"),
    # retry_depth: max 50, backout above 100
    ({"retry_depth": 50}, "retry_depth", "pass", "GO_25"),
    ({"retry_depth": 51}, "retry_depth", "hold", "HOLD"),
    ({"retry_depth": 100}, "retry_depth", "hold", "HOLD"),
    ({"retry_depth": 101}, "retry_depth", "backout", "BACKOUT"),
    # min_volume: min 3, never backout
    ({"notices_sent": 3, "hard_bounces": 0}, "min_volume", "pass", "GO_25"),
    ({"notices_sent": 2, "hard_bounces": 0}, "min_volume", "hold", "HOLD"),
    ({"notices_sent": 0, "hard_bounces": 0}, "min_volume", "hold", "HOLD"),
]


@pytest.mark.parametrize(
    ("changes", "name", "status", "verdict"),
    BOUNDARIES,
    ids=[f"{name}-{changes}" for changes, name, _, _ in BOUNDARIES],
)
def test_gate_boundaries_are_inclusive_and_backout_starts_above_twice_the_threshold(
    changes: dict[str, Any], name: str, status: str, verdict: str
) -> None:
    decision = decide_inputs(kpis(**changes))

    assert gate(decision, name).status == status
    others = {n: s for n, s in statuses(decision).items() if n != name}
    low_volume = status != "pass" and name == "min_volume"
    assert set(others.values()) == ({"pass", "skipped"} if low_volume else {"pass"})
    assert decision.decision == verdict
    assert decision.kill_switch_recommended is (verdict == "BACKOUT")
    if verdict == "GO_25":
        assert decision.target.model_dump() == {"quota": 25, "kill_switch": False}
    elif verdict == "BACKOUT":
        assert decision.target.model_dump() == {"quota": 10, "kill_switch": True}
        assert any(r.startswith("BACKOUT:") and name in r for r in decision.reasons)
    else:
        assert decision.target.model_dump() == {"quota": 10, "kill_switch": False}
        assert any(r.startswith("HOLD:") and name in r for r in decision.reasons)


def test_a_gate_records_value_threshold_backout_threshold_and_source() -> None:
    decision = decide_inputs(kpis(hard_bounces=60))

    result = gate(decision, "hard_bounce_rate")
    assert result.value == pytest.approx(0.06)
    assert result.threshold == 0.05
    assert result.backout_threshold == pytest.approx(0.10)
    assert result.op == "<="
    assert result.metric == "hard_bounces / notices_sent"
    assert result.label == "Hard-Bounce-Rate"
    assert result.source == "built-in"
    volume = gate(decision, "min_volume")
    assert (volume.op, volume.threshold, volume.backout_threshold) == (">=", 3, None)


@pytest.mark.parametrize(
    ("dlq", "status", "verdict"),
    [(10, "pass", "GO_25"), (15, "hold", "HOLD"), (16, "backout", "BACKOUT")],
)
def test_a_gates_own_backout_value_replaces_the_factor(dlq: int, status: str, verdict: str) -> None:
    decision = decide_inputs(kpis(dlq_depth=dlq), toml="[gates.dlq_depth]\nbackout = 15\n")

    assert gate(decision, "dlq_depth").status == status
    assert gate(decision, "dlq_depth").backout_threshold == 15
    assert decision.decision == verdict
    assert decision.thresholds["dlq_depth"].backout == 15
    assert decision.thresholds["dlq_depth"].backout_source is not None
    assert decision.thresholds["dlq_depth"].backout_source.endswith("extra.toml")


def test_backout_factor_from_the_gate_file_moves_every_backout_threshold() -> None:
    toml = "[canary]\nbackout_factor = 3.0\n"
    at_three = decide_inputs(kpis(dlq_depth=30), toml=toml)
    above = decide_inputs(kpis(dlq_depth=31), toml=toml)

    assert (gate(at_three, "dlq_depth").status, at_three.decision) == ("hold", "HOLD")
    assert (gate(above, "dlq_depth").status, above.decision) == ("backout", "BACKOUT")
    assert above.thresholds["error_rate"].backout == pytest.approx(0.06)


# --- volume -----------------------------------------------------------------------------------


def test_low_volume_skips_the_rate_gates_and_holds_on_min_volume() -> None:
    # 1 of 2 notices failed: 50 % would back out, but 2 notices are no evidence either way.
    decision = decide_inputs(kpis(notices_sent=2, hard_bounces=1, error_rate=0.5))

    assert statuses(decision) == {
        "inputs": "pass",
        "kill_switch": "pass",
        "promotion": "pass",
        "error_rate": "skipped",
        "hard_bounce_rate": "skipped",
        "dlq_depth": "pass",
        "retry_depth": "pass",
        "min_volume": "hold",
    }
    assert decision.decision == "HOLD"
    assert gate(decision, "error_rate").value is None
    assert any("min_volume 2 < 3" in reason for reason in decision.reasons)


def test_volume_exactly_at_min_volume_judges_the_rate_gates() -> None:
    decision = decide_inputs(kpis(notices_sent=3, hard_bounces=1, error_rate=0.5))

    assert gate(decision, "min_volume").status == "pass"
    assert gate(decision, "error_rate").status == "backout"
    assert gate(decision, "hard_bounce_rate").status == "backout"
    assert gate(decision, "hard_bounce_rate").value == pytest.approx(1 / 3)
    assert decision.decision == "BACKOUT"


@pytest.mark.parametrize(
    ("changes", "depth_status", "verdict"),
    [
        ({}, "pass", "HOLD"),
        ({"dlq_depth": 11}, "hold", "HOLD"),
        ({"dlq_depth": 21}, "backout", "BACKOUT"),
        ({"retry_depth": 101}, "backout", "BACKOUT"),
    ],
)
def test_zero_volume_still_judges_depth_gates_which_can_back_out(
    changes: dict[str, int], depth_status: str, verdict: str
) -> None:
    decision = decide_inputs(kpis(notices_sent=0, hard_bounces=0, **changes))

    assert gate(decision, "error_rate").status == "skipped"
    assert gate(decision, "hard_bounce_rate").status == "skipped"
    assert gate(decision, "min_volume").status == "hold"
    depth = "retry_depth" if "retry_depth" in changes else "dlq_depth"
    assert gate(decision, depth).status == depth_status
    assert decision.decision == verdict


def test_min_volume_never_backs_out_however_low_the_volume() -> None:
    decision = decide_inputs(
        kpis(notices_sent=0, hard_bounces=0),
        toml="[gates.min_volume]\nmin = 100000\n",
    )

    result = gate(decision, "min_volume")
    assert result.status == "hold"
    assert result.backout_threshold is None
    assert decision.decision == "HOLD"
    assert decision.thresholds["min_volume"].backout is None


def test_a_gate_may_say_it_needs_no_volume() -> None:
    decision = decide_inputs(
        kpis(notices_sent=2, hard_bounces=0, error_rate=0.5),
        toml="[gates.error_rate]\nneeds_volume = false\n",
    )

    assert gate(decision, "error_rate").status == "backout"
    assert decision.decision == "BACKOUT"


# --- contradictions and invalid input ---------------------------------------------------------


def test_more_hard_bounces_than_notices_is_an_error_of_that_gate_and_holds() -> None:
    decision = decide_inputs(kpis(notices_sent=10, hard_bounces=11))

    assert gate(decision, "hard_bounce_rate").status == "error"
    assert gate(decision, "hard_bounce_rate").value is None
    assert gate(decision, "inputs").status == "hold"
    # the other fields are valid on their own and still judged
    assert gate(decision, "dlq_depth").status == "pass"
    assert gate(decision, "error_rate").status == "pass"
    assert decision.decision == "HOLD"
    assert any("2024-05-02.json" in r and "hard_bounces" in r for r in decision.reasons)


def test_blocklist_count_above_notices_is_a_contradiction_not_a_rate() -> None:
    listed = [hard_bounce("2024-05-02T09:00:00+02:00")] * 5
    decision = decide_inputs(kpis(notices_sent=4, hard_bounces=0), blocklist={"entries": listed})

    result = gate(decision, "hard_bounce_rate")
    assert result.status == "error"
    assert "contradiction" in result.message
    assert decision.decision == "HOLD"


def test_a_field_valid_on_its_own_is_judged_beside_an_invalid_one() -> None:
    decision = decide_inputs(kpis(retry_depth="many", dlq_depth=3))

    assert gate(decision, "retry_depth").status == "error"
    assert gate(decision, "dlq_depth").status == "pass"
    assert gate(decision, "dlq_depth").value == 3
    assert decision.decision == "HOLD"
    assert any("field retry_depth" in r and "2024-05-02.json" in r for r in decision.reasons)


@pytest.mark.parametrize(
    ("kpi", "blocklist", "operate_state"),
    [
        (kpis(dlq_depth=25, retry_depth="x"), None, None),
        (kpis(dlq_depth=25, error_rate=None), None, None),
        (kpis(dlq_depth=25), b"not json", None),
        (kpis(dlq_depth=25), None, b"{broken"),
        (kpis(dlq_depth=25), None, state(quota=30)),
        (kpis(dlq_depth=25, notices_sent=1, hard_bounces=2), None, None),
    ],
    ids=[
        "bad-field",
        "missing-field",
        "corrupt-blocklist",
        "corrupt-state",
        "bad-quota",
        "hb>sent",
    ],
)
def test_backout_wins_over_invalid_input(kpi: Any, blocklist: Any, operate_state: Any) -> None:
    decision = decide_inputs(kpi, blocklist=blocklist, operate_state=operate_state)

    assert gate(decision, "inputs").status == "hold"
    assert gate(decision, "dlq_depth").status == "backout"
    assert decision.decision == "BACKOUT"
    assert decision.target.model_dump() == {"quota": 10, "kill_switch": True}
    assert any(r.startswith("input invalid:") for r in decision.reasons)


def test_missing_kpi_file_holds_and_names_the_file() -> None:
    decision = decide_inputs(None)

    assert decision.decision == "HOLD"
    threshold_gates = {
        n: s for n, s in statuses(decision).items() if n not in ("kill_switch", "promotion")
    }
    assert set(threshold_gates.values()) == {"error", "hold"}
    assert gate(decision, "inputs").status == "hold"
    assert any(
        "acme/2024-05-02.json" in r and "missing" in r and r.startswith("input invalid:")
        for r in decision.reasons
    )
    kpi_input = next(i for i in decision.inputs if i.name == "kpis")
    assert (kpi_input.present, kpi_input.valid, kpi_input.sha256) == (False, False, None)


@pytest.mark.parametrize(
    "identity", [{"tenant": "globex"}, {"date": "2024-05-01"}], ids=["tenant", "date"]
)
def test_kpi_file_of_another_tenant_or_date_is_not_judged(identity: dict[str, str]) -> None:
    # Values that would back out must not: the file may be another tenant's.
    decision = decide_inputs(kpis(dlq_depth=500, error_rate=0.9, **identity))

    threshold = [g for g in decision.gates if g.kind == "threshold"]
    assert {g.status for g in threshold} == {"error"}
    assert all(g.value is None for g in threshold)
    assert decision.decision == "HOLD"
    field = next(iter(identity))
    assert any(f"field {field}" in r and "2024-05-02.json" in r for r in decision.reasons)


def test_matching_tenant_and_date_in_the_kpi_file_are_accepted() -> None:
    decision = decide_inputs(kpis(tenant="acme", date="2024-05-02"))

    assert decision.decision == "GO_25"


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[]", b'"text"', b"\xff\xfe", b'{"notices_sent": NaN}', b"\xef\xbb\xbf{}"],
    ids=["empty", "truncated", "list", "string", "not-utf8", "nan", "bom"],
)
def test_unreadable_kpi_file_holds_and_names_the_file(content: bytes) -> None:
    decision = decide_inputs(content)

    assert decision.decision == "HOLD"
    assert any("2024-05-02.json" in r for r in decision.reasons if r.startswith("input invalid:"))
    kpi_input = next(i for i in decision.inputs if i.name == "kpis")
    assert kpi_input.valid is False
    assert kpi_input.present is True


# --- blocklist reconciliation -----------------------------------------------------------------


def test_blocklist_count_larger_than_the_kpi_is_used_and_said() -> None:
    listed = [hard_bounce("2024-05-02T10:00:00+02:00") for _ in range(60)]
    decision = decide_inputs(kpis(hard_bounces=1), blocklist={"entries": listed})

    result = gate(decision, "hard_bounce_rate")
    assert result.value == pytest.approx(60 / 1000)
    assert result.status == "hold"
    assert decision.decision == "HOLD"
    assert any(
        "blocklist lists 60 hard bounces on 2024-05-02" in r and "larger count" in r
        for r in decision.reasons
    )


def test_blocklist_count_smaller_than_the_kpi_leaves_the_kpi_count() -> None:
    listed = [hard_bounce("2024-05-02T10:00:00+02:00") for _ in range(3)]
    decision = decide_inputs(kpis(hard_bounces=40), blocklist=listed)

    assert gate(decision, "hard_bounce_rate").value == pytest.approx(40 / 1000)
    assert decision.decision == "GO_25"
    assert not any("blocklist lists" in r for r in decision.reasons)


@pytest.mark.parametrize(
    ("added_at", "counted"),
    [
        ("2024-05-01T22:00:00+00:00", True),  # 00:00 in Berlin (CEST)
        ("2024-05-01T21:59:59Z", False),  # 23:59:59 the day before in Berlin
        ("2024-05-02T21:59:59Z", True),
        ("2024-05-02T22:00:00Z", False),
        ("2024-05-02T00:00:00+02:00", True),
        ("2024-05-02T23:59:59+02:00", True),
        ("2024-05-03T00:00:00+02:00", False),
        ("2024-05-02T09:00:00-10:00", True),  # 21:00 Berlin
        ("2024-05-02T16:00:00-10:00", False),  # 04:00 Berlin next day
        # without an offset: Berlin time, not UTC
        ("2024-05-02T00:00:00", True),
        ("2024-05-02T23:30:00", True),
        ("2024-05-01T23:59:59", False),
        ("2024-05-01T23:30:00", False),
        ("2024-05-03T00:30:00", False),
    ],
)
def test_blocklist_counts_hard_bounces_of_the_kpi_date_in_berlin(
    added_at: str, counted: bool
) -> None:
    listed = [hard_bounce(added_at)] * 100
    case = make_case(kpis(hard_bounces=0), blocklist={"entries": listed})

    assert case.blocklist.summary is not None
    assert case.blocklist.summary.hard_bounces_on_date == (100 if counted else 0)
    decision = decide(case)
    assert gate(decision, "hard_bounce_rate").value == pytest.approx(0.1 if counted else 0.0)
    assert decision.decision == ("HOLD" if counted else "GO_25")


def test_blocklist_winter_time_boundary_is_one_hour_from_utc() -> None:
    winter = dt.date(2024, 1, 15)
    listed = [
        hard_bounce("2024-01-14T23:00:00Z"),  # 00:00 CET: counted
        hard_bounce("2024-01-14T22:59:59Z"),  # not
        hard_bounce("2024-01-15T22:59:59Z"),  # counted
        hard_bounce("2024-01-15T23:00:00Z"),  # not
    ]
    case = make_case(kpis(hard_bounces=0), blocklist=listed, date=winter)

    assert case.blocklist.summary is not None
    assert case.blocklist.summary.hard_bounces_on_date == 2


def test_blocklist_entries_with_other_reasons_are_not_counted() -> None:
    listed = [
        {"reason": "complaint", "added_at": "2024-05-02T10:00:00+02:00"},
        {"reason": "manual"},  # no timestamp: not needed, it is not counted
        {"reason": "complaint", "added_at": "yesterday-ish"},
    ] * 50
    decision = decide_inputs(kpis(hard_bounces=1), blocklist={"entries": listed})

    assert gate(decision, "hard_bounce_rate").value == pytest.approx(1 / 1000)
    assert decision.decision == "GO_25"
    blocklist_input = next(i for i in decision.inputs if i.name == "blocklist")
    assert blocklist_input.valid is True


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"entries": [{"reason": "hard_bounce"}]}',
        b'{"entries": [{"reason": "hard_bounce", "added_at": "soon"}]}',
        b'{"entries": [{"reason": "hard_bounce", "added_at": "02.05.2024 10:00"}]}',
        b'{"entries": "none"}',
        b'{"entries": [42]}',
        b'{"items": []}',
        b'{"entries": [], "entries": []}',
    ],
    ids=["not-json", "no-added-at", "bad-added-at", "german-added-at", "entries-str",
         "entry-not-object", "no-entries", "duplicate-key"],
)  # fmt: skip
def test_corrupt_blocklist_fails_closed(content: bytes) -> None:
    decision = decide_inputs(blocklist=content)

    assert decision.decision == "HOLD"
    assert gate(decision, "inputs").status == "hold"
    assert any("blocklist.json" in r and r.startswith("input invalid:") for r in decision.reasons)
    blocklist_input = next(i for i in decision.inputs if i.name == "blocklist")
    assert (blocklist_input.present, blocklist_input.valid) == (True, False)


def test_no_blocklist_file_is_fine() -> None:
    decision = decide_inputs(blocklist=None)

    assert decision.decision == "GO_25"
    blocklist_input = next(i for i in decision.inputs if i.name == "blocklist")
    assert (blocklist_input.present, blocklist_input.valid) == (False, True)


# --- state, kill switch and steps -------------------------------------------------------------


def test_no_state_file_starts_at_the_first_step_and_says_so() -> None:
    decision = decide_inputs(operate_state=None)

    assert decision.decision == "GO_25"
    assert decision.base.model_dump() == {
        "quota": 10,
        "kill_switch": False,
        "serial": 0,
        "review": None,
        "pause": None,
    }
    assert any("no state file yet" in r and "operate_state.json" in r for r in decision.reasons)


@pytest.mark.parametrize(
    ("quota", "verdict", "target"),
    [(10, "GO_25", 25), (25, "GO_50", 50), (50, "GO_100", 100), (100, "GO_100", 100)],
)
def test_go_climbs_one_step_and_stays_at_the_top(quota: int, verdict: str, target: int) -> None:
    decision = decide_inputs(operate_state=state(quota=quota, serial=3))

    assert decision.decision == verdict
    assert decision.target.model_dump() == {"quota": target, "kill_switch": False}
    assert decision.base.quota == quota
    assert decision.base.serial == 3
    (reason,) = decision.reasons
    assert reason.endswith(
        "operate_state.json has no history yet: taken as written"
        f" (quota {quota} %, kill switch off, serial 3)"
    )


def test_custom_steps_decide_the_next_step() -> None:
    toml = "[canary]\nsteps = [5, 20, 100]\n"
    first = decide_inputs(toml=toml)
    second = decide_inputs(toml=toml, operate_state=state(quota=20))
    backout = decide_inputs(kpis(dlq_depth=99), toml=toml, operate_state=state(quota=20))

    assert (first.decision, first.base.quota) == ("GO_20", 5)
    assert second.decision == "GO_100"
    assert backout.target.model_dump() == {"quota": 5, "kill_switch": True}
    assert first.steps == [5, 20, 100]


def test_kill_switch_without_review_holds_even_when_every_gate_passes() -> None:
    decision = decide_inputs(operate_state=state(quota=10, kill_switch=True, serial=4))

    assert decision.decision == "HOLD"
    assert gate(decision, "kill_switch").status == "hold"
    assert {g.status for g in decision.gates if g.kind == "threshold"} == {"pass"}
    assert decision.target.model_dump() == {"quota": 10, "kill_switch": True}
    assert any("review" in r and r.startswith("HOLD:") for r in decision.reasons)


def test_kill_switch_with_review_goes_from_the_first_to_the_second_step() -> None:
    decision = decide_inputs(
        operate_state=state(quota=10, kill_switch=True, serial=5, review=review())
    )

    assert decision.decision == "GO_25"
    assert gate(decision, "kill_switch").status == "pass"
    assert decision.target.model_dump() == {"quota": 25, "kill_switch": False}
    assert decision.base.review is not None
    assert decision.base.review.by == "oncall"


@pytest.mark.parametrize("reviewed", [True, False])
def test_kill_switch_on_still_backs_out_on_a_severe_gate(reviewed: bool) -> None:
    decision = decide_inputs(
        kpis(retry_depth=101),
        operate_state=state(quota=10, kill_switch=True, review=review() if reviewed else None),
    )

    assert decision.decision == "BACKOUT"
    assert decision.target.model_dump() == {"quota": 10, "kill_switch": True}


@pytest.mark.parametrize(
    "content",
    [
        b"{broken",
        state(quota=30),
        state(tenant="globex"),
        {**state(), "unexpected": 1},
        {**state(), "serial": -1},
        {**state(), "kill_switch": "maybe"},
        {**state(), "schema_version": 2},
    ],
    ids=["not-json", "quota-not-a-step", "other-tenant", "unknown-key", "negative-serial",
         "kill-switch-str", "schema-2"],
)  # fmt: skip
def test_invalid_state_holds_and_names_the_file(content: Any) -> None:
    decision = decide_inputs(operate_state=content)

    assert decision.decision == "HOLD"
    assert any(
        "operate_state.json" in r and r.startswith("input invalid:") for r in decision.reasons
    )


# --- one step per KPI date --------------------------------------------------------------------


def test_deciding_again_after_this_dates_go_was_applied_gives_the_same_decision() -> None:
    before = decide_inputs(operate_state=state(quota=10, serial=2))
    assert before.decision == "GO_25"
    applied = state(
        quota=25,
        serial=3,
        history=[
            history_entry(serial=3, decision="GO_25", decision_id=before.decision_id, to_quota=25)
        ],
    )

    again = decide_inputs(operate_state=applied)

    assert again.decision == "GO_25"
    assert again.decision_id == before.decision_id
    assert again.base == before.base
    assert again.target == before.target
    assert any("GO_25 for 2024-05-02 was applied already" in r for r in again.reasons)


def test_replay_after_a_review_keeps_the_review_in_the_base_and_the_id() -> None:
    reviewed = state(quota=10, kill_switch=True, serial=6, review=review())
    before = decide_inputs(operate_state=reviewed)
    assert before.decision == "GO_25"
    applied = state(
        quota=25,
        serial=7,
        history=[
            history_entry(
                serial=7,
                decision="GO_25",
                decision_id=before.decision_id,
                base_kill_switch=True,
                base_review=review(),
            )
        ],
    )

    again = decide_inputs(operate_state=applied)

    assert again.decision == "GO_25"
    assert again.decision_id == before.decision_id
    assert again.base.kill_switch is True
    assert again.base.serial == 6


def test_corrected_inputs_after_this_dates_go_can_back_out() -> None:
    before = decide_inputs(operate_state=state(quota=25, serial=1))
    applied = state(
        quota=50,
        serial=2,
        history=[
            history_entry(
                serial=2,
                decision="GO_50",
                decision_id=before.decision_id,
                base_quota=25,
                to_quota=50,
            )
        ],
    )

    corrected = decide_inputs(kpis(dlq_depth=30), operate_state=applied)
    held = decide_inputs(kpis(dlq_depth=15), operate_state=applied)

    assert corrected.decision == "BACKOUT"
    assert corrected.base.quota == 25
    assert held.decision == "HOLD"
    assert held.target.quota == 25


@pytest.mark.parametrize(
    ("last_decision", "kpi_date", "event"),
    [
        ("GO_25", dt.date(2024, 5, 1), "ROLLOUT"),  # yesterday's GO: today may climb again
        ("HOLD", DATE, "ROLLOUT"),  # today's HOLD changed nothing
        ("BACKOUT", DATE, "ROLLOUT"),
    ],
)
def test_only_this_dates_applied_go_is_replayed(
    last_decision: str, kpi_date: dt.date, event: str
) -> None:
    current = state(
        quota=25,
        serial=1,
        history=[
            history_entry(
                serial=1,
                decision=last_decision,
                decision_id="ab" * 32,
                kpi_date=kpi_date,
                event=event,
                to_quota=25,
            )
        ],
    )

    decision = decide_inputs(operate_state=current)

    assert decision.decision == "GO_50"
    assert decision.base.quota == 25
    assert decision.base.serial == 1


def test_a_review_after_this_dates_go_does_not_hide_the_go() -> None:
    before = decide_inputs(operate_state=state(quota=10, serial=0))
    go = history_entry(serial=1, decision="GO_25", decision_id=before.decision_id)
    later_review = {**go, "serial": 2, "event": "REVIEW", "decision": None, "decision_id": None}
    later_review["base"] = {"quota": 25, "kill_switch": False, "review": None}
    applied = state(quota=25, serial=2, review=review(), history=[go, later_review])

    again = decide_inputs(operate_state=applied)

    assert again.base.quota == 10
    assert again.decision == "GO_25"


# --- shadow, missing and custom gates ---------------------------------------------------------


def test_a_shadow_gate_is_reported_but_not_counted() -> None:
    decision = decide_inputs(kpis(dlq_depth=500), toml="[gates.dlq_depth]\nshadow = true\n")

    result = gate(decision, "dlq_depth")
    assert (result.status, result.shadow) == ("backout", True)
    assert decision.decision == "GO_25"
    assert not any("dlq_depth" in r for r in decision.reasons)


def test_a_new_shadow_gate_on_an_optional_field() -> None:
    toml = '[gates.soft_bounce_rate]\nmetric = "soft_bounces / notices_sent"\nmax = 0.01\nshadow = true\n'
    decision = decide_inputs(kpis(soft_bounces=500), toml=toml)

    result = gate(decision, "soft_bounce_rate")
    assert result.status == "backout"
    assert result.value == pytest.approx(0.5)
    assert decision.decision == "GO_25"


def test_only_shadow_gates_judged_is_never_go() -> None:
    toml = "".join(
        f"[gates.{name}]\nshadow = true\n"
        for name in ("error_rate", "hard_bounce_rate", "dlq_depth", "retry_depth", "min_volume")
    )
    decision = decide_inputs(toml=toml)

    assert {g.status for g in decision.gates} == {"pass"}
    assert decision.decision == "HOLD"
    assert "no gate was judged: a rollout never goes up on no evidence" in decision.reasons


def test_no_threshold_gate_at_all_is_never_go() -> None:
    toml = "".join(
        f"[gates.{name}]\nenabled = false\n"
        for name in ("error_rate", "hard_bounce_rate", "dlq_depth", "retry_depth", "min_volume")
    )
    decision = decide_inputs(toml=toml)

    assert [g.name for g in decision.gates] == ["inputs", "kill_switch", "promotion"]
    assert decision.decision == "HOLD"
    assert "no gate was judged: a rollout never goes up on no evidence" in decision.reasons


def test_every_rate_gate_skipped_and_no_depth_gate_is_never_go() -> None:
    toml = "[gates.dlq_depth]\nenabled = false\n[gates.retry_depth]\nenabled = false\n"
    toml += "[gates.min_volume]\nshadow = true\n"
    decision = decide_inputs(kpis(notices_sent=1, hard_bounces=0), toml=toml)

    assert gate(decision, "error_rate").status == "skipped"
    assert decision.decision == "HOLD"
    assert "no gate was judged: a rollout never goes up on no evidence" in decision.reasons


@pytest.mark.parametrize("name", ["dlq_depth", "inputs", "kill_switch", "my_custom_gate"])
def test_a_gate_listed_as_missing_holds(name: str) -> None:
    decision = decide(make_case(), missing=[name])

    result = gate(decision, name)
    assert result.status == "error"
    assert "did not run" in result.message
    assert decision.decision == "HOLD"


def _custom(status: str, shadow: bool = False) -> GateResult:
    return GateResult(
        name="bounce_trend",
        label="bounce_trend",
        kind="custom",
        metric="bounce_trend",
        value=None,
        op="==",
        threshold=None,
        status=status,  # type: ignore[arg-type]
        message=f"bounce_trend: {status}",
        source="gates/test_trend.py",
        shadow=shadow,
    )


@pytest.mark.parametrize(
    ("status", "shadow", "verdict"),
    [
        ("pass", False, "GO_25"),
        ("hold", False, "HOLD"),
        ("error", False, "HOLD"),
        ("backout", False, "BACKOUT"),
        ("backout", True, "GO_25"),
    ],
)
def test_custom_gates_count_like_built_in_ones(status: str, shadow: bool, verdict: str) -> None:
    decision = decide(make_case(), extra=[_custom(status, shadow)])

    assert gate(decision, "bounce_trend").status == status
    assert decision.decision == verdict


def test_a_passing_custom_gate_alone_counts_as_judged() -> None:
    toml = "".join(
        f"[gates.{name}]\nenabled = false\n"
        for name in ("error_rate", "hard_bounce_rate", "dlq_depth", "retry_depth", "min_volume")
    )
    decision = decide(make_case(toml=toml), extra=[_custom("pass")])

    assert decision.decision == "GO_25"


# --- decision_id --------------------------------------------------------------------------------


def _decision_id(kpi: Any = GOOD_KPIS, **options: Any) -> str:
    return decide_inputs(kpi, **options).decision_id


def test_decision_id_is_stable_for_the_same_inputs() -> None:
    first = decide_inputs()
    second = decide_inputs(
        trace_id="f" * 32,
        created_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        folder="elsewhere",
    )

    assert len(first.decision_id) == 64
    assert first.decision_id == second.decision_id
    assert (first.trace_id, first.created_at) != (second.trace_id, second.created_at)


def test_decision_id_ignores_where_a_threshold_came_from() -> None:
    builtin = _decision_id()
    from_file = _decision_id(toml="[gates.dlq_depth]\nmax = 10\n")
    from_env = _decision_id(env={"CANARY_THRESHOLD_DLQ_DEPTH": "10"})

    assert builtin == from_file == from_env


def test_decision_id_ignores_the_order_and_spacing_of_the_kpi_file() -> None:
    compact = _decision_id(
        b'{"notices_sent":1000,"error_rate":0.001,"hard_bounces":1,"dlq_depth":0,"retry_depth":0}',
    )
    spaced = _decision_id(
        b'{ "retry_depth": 0, "dlq_depth": 0, "hard_bounces": 1,\n'
        b'  "error_rate": 0.001, "notices_sent": 1000 }\n',
    )

    assert compact == spaced  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {"kpi": kpis(error_rate=0.002)},
        {"kpi": kpis(notices_sent=1001)},
        {"kpi": kpis(generated_at="2024-05-02T07:00:00+02:00")},
        {"env": {"CANARY_THRESHOLD_DLQ_DEPTH": "11"}},
        {"env": {"CANARY_THRESHOLD_ACME_ERROR_RATE": "0.03"}},
        {"env": {"CANARY_BACKOUT_FACTOR": "3"}},
        {"toml": "[gates.retry_depth]\nbackout = 60\n"},
        {"toml": "[gates.dlq_depth]\nshadow = true\n"},
        {"blocklist": [hard_bounce("2024-05-02T08:00:00+02:00")] * 5},
        {"operate_state": state(quota=25)},
        {"operate_state": state(kill_switch=True, review=review())},
        {"date": dt.date(2024, 5, 3)},
    ],
    ids=["error_rate", "notices", "extra-field", "env-global", "env-tenant", "factor",
         "own-backout", "shadow", "blocklist", "quota", "review", "date"],
)  # fmt: skip
def test_decision_id_changes_with_what_decided(change: dict[str, Any]) -> None:
    base_id = _decision_id()
    options = dict(change)
    kpi = options.pop("kpi", GOOD_KPIS)

    assert _decision_id(kpi, folder="changed", **options) != base_id


def test_decision_id_of_invalid_kpi_files_follows_their_bytes() -> None:
    one = _decision_id(b'{"notices_sent": 1000,')
    same = _decision_id(b'{"notices_sent": 1000,', folder="again")
    other = _decision_id(b'{"notices_sent": 1001,')

    assert one == same
    assert one != other


def test_decision_id_does_not_depend_on_the_serial() -> None:
    # The serial grows with every review and rollout; what decided is quota, kill switch, review.
    assert _decision_id(operate_state=state(serial=1)) == _decision_id(
        operate_state=state(serial=9), folder="later"
    )


# --- the decision as a whole ------------------------------------------------------------------


def test_reasons_are_empty_only_for_go() -> None:
    entry = history_entry(
        serial=1, decision="GO_25", decision_id="ab" * 32, kpi_date=DATE - dt.timedelta(days=1)
    )
    recorded = state(quota=25, serial=1, history=[entry])
    cases = [kpis(), kpis(dlq_depth=11), kpis(dlq_depth=21), None]
    for index, kpi in enumerate(cases):
        decision = decide_inputs(kpi, operate_state=recorded, folder=f"r{index}")
        assert (decision.reasons == []) is decision.is_go, decision.decision


def test_thresholds_record_value_and_source_of_every_gate() -> None:
    decision = decide_inputs(
        toml="[gates.retry_depth]\nmax = 40\n[tenants.acme.gates.dlq_depth]\nmax = 12\n",
        env={"CANARY_THRESHOLD_ERROR_RATE": "0.03"},
    )

    recorded = {name: (t.value, t.source) for name, t in decision.thresholds.items()}
    gate_file = GATE_FILE
    assert recorded == {
        "error_rate": (0.03, "env CANARY_THRESHOLD_ERROR_RATE"),
        "hard_bounce_rate": (0.05, "built-in"),
        "dlq_depth": (12, f"{gate_file} [tenants.acme]"),
        "retry_depth": (40, gate_file),
        "min_volume": (3, "built-in"),
    }
    assert decision.thresholds["error_rate"].backout == pytest.approx(0.06)
    assert gate(decision, "error_rate").source == "env CANARY_THRESHOLD_ERROR_RATE"


def test_deciding_twice_from_one_case_gives_equal_decisions() -> None:
    case = make_case(kpis(dlq_depth=21, retry_depth="x"))

    assert decide(case) == decide(case)
