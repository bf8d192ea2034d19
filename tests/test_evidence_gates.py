"""The evidence gate kinds: canary against control (``compare``), and Wilson at low volume."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import pytest

from _engine_fixtures import decide_inputs, gate, gate_set, kpis
from _evidence_fixtures import RELATIVE_TOML, WILSON_TOML, cohort, split_kpis
from _plugin_fixtures import DATE, TRACE, CanaryRoot, canary_script, run
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.render.report import decision_markdown, failure_line


def _relative(canary: tuple[int, int], control: tuple[int, int]) -> Any:
    decision = decide_inputs(split_kpis(canary, control), toml=RELATIVE_TOML)
    return decision, gate(decision, "error_rate_vs_control")


# --- canary against control -------------------------------------------------------------------


def test_relative_gate_passes_when_the_data_show_the_canary_is_not_worse() -> None:
    decision, result = _relative(canary=(10, 2000), control=(90, 18000))

    assert result.status == "pass"
    assert decision.decision == "GO_25"
    assert result.value == pytest.approx(10 / 2010)
    assert result.threshold == pytest.approx(90 / 18090 + 0.01)


def test_relative_gate_holds_when_the_canary_is_significantly_worse() -> None:
    # canary 2.9 %, control 0.5 %: worse by 2.4 points, allowed 1, backout at 5.
    decision, result = _relative(canary=(60, 2000), control=(90, 18000))

    assert result.status == "hold"
    assert decision.decision == "HOLD"
    assert "canary 60 of 2,060" in result.message and "control 90 of 18,090" in result.message
    assert "95% bounds" in result.message and "worse than the allowed margin" in result.message


def test_relative_gate_backs_out_beyond_the_backout_margin() -> None:
    decision, result = _relative(canary=(200, 1800), control=(20, 18000))

    assert result.status == "backout"
    assert decision.decision == "BACKOUT"


def test_relative_gate_is_inconclusive_when_the_canary_is_too_small() -> None:
    decision, result = _relative(canary=(0, 30), control=(2, 270))

    assert result.status == "skipped"
    assert "inconclusive" in result.message
    assert "| skipped (inconclusive) |" in decision_markdown(decision)
    # The absolute gates still decide: they all pass here.
    assert decision.decision == "GO_25"


def test_relative_gate_without_cohorts_in_the_kpi_file_holds() -> None:
    decision = decide_inputs(kpis(), toml=RELATIVE_TOML)

    result = gate(decision, "error_rate_vs_control")
    assert result.status == "error"
    assert "no canary cohort in the KPI file" in result.message
    assert decision.decision == "HOLD"


def test_cohorts_that_do_not_add_up_hold_every_tenant() -> None:
    bad = split_kpis(canary=(1, 100), control=(1, 900))
    bad["cohorts"]["canary"]["notices_sent"] = 101

    decision = decide_inputs(bad)

    assert decision.decision == "HOLD"
    assert any("canary.notices_sent 101 + control.notices_sent 900" in r for r in decision.reasons)


def test_relative_gate_recorded_with_both_cohorts_in_decision_and_markdown() -> None:
    decision, result = _relative(canary=(60, 2000), control=(90, 18000))

    evidence = result.evidence
    assert (evidence.canary.events, evidence.canary.trials) == (60, 2060)
    assert (evidence.control.events, evidence.control.trials) == (90, 18090)
    markdown = decision_markdown(decision)
    assert "#### `error_rate_vs_control`: canary vs control" in markdown
    assert "| canary | 60 | 2,060 | 2.91 % |" in markdown
    assert "| control | 90 | 18,090 | 0.498 % |" in markdown
    line = failure_line(result)
    assert line.startswith("HOLD: error_rate_vs_control 0.0291262 > 0.0149751")
    assert "canary 60 of 2,060" in line and "95% bounds" in line


def test_relative_gate_parameters_enter_the_decision_id() -> None:
    kpi = split_kpis(canary=(10, 2000), control=(90, 18000))
    first = decide_inputs(kpi, toml=RELATIVE_TOML)
    again = decide_inputs(kpi, toml=RELATIVE_TOML)
    other = decide_inputs(kpi, toml=RELATIVE_TOML + "confidence = 0.9\n")

    assert gate(first, "error_rate_vs_control").status == "pass"
    assert gate(other, "error_rate_vs_control").status == "pass"
    assert first.decision_id == again.decision_id != other.decision_id


def test_a_plain_gate_decision_is_written_as_before() -> None:
    decision = decide_inputs(split_kpis(canary=(1, 100), control=(1, 900)))

    dumped = decision.model_dump(mode="json")
    assert all("evidence" not in g for g in dumped["gates"])


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ('metric = "dlq_depth"\ncompare = "control"\nmax_diff = 0.01\n', "needs a rate metric"),
        ('metric = "error_rate"\ncompare = "control"\n', "give max_diff > 0 or max_ratio > 1"),
        ('metric = "error_rate"\ncompare = "control"\nmax = 0.01\n', "not max"),
        ('metric = "error_rate"\ncompare = "control"\nmax_diff = 2\n', "max_diff must be a fraction"),
        ('metric = "error_rate"\ncompare = "control"\nmax_ratio = 0.5\n', "max_ratio must be >= 1"),
        ('metric = "error_rate"\ncompare = "control"\nmax_diff = 0.02\nbackout_diff = 0\n', "backout_diff must be"),
        ('metric = "error_rate"\nmax = 0.02\nmax_ratio = 2\n', "max_ratio needs compare = 'control'"),
        ('metric = "error_rate"\nmax = 0.02\nevidence = "wilson"\nconfidence = 1.5\n', "confidence must be a fraction"),
        ('metric = "dlq_depth"\nmax = 10\nevidence = "wilson"\n', "needs a rate metric"),
        ('metric = "error_rate"\nmax = 0.02\nevidence = "wilson"\ncompare = "control"\n', "cannot be combined"),
        ('metric = "error_rate"\ncompare = "canary"\nmax_diff = 0.01\n', "compare"),
    ],
)  # fmt: skip
def test_bad_evidence_gate_is_a_one_line_usage_error(extra: str, says: str) -> None:
    with pytest.raises(CanaryUsageError) as info:
        gate_set("[gates.x]\n" + extra)

    assert says in str(info.value)
    assert "\n" not in str(info.value)


def test_env_override_sets_a_relative_gates_max_diff() -> None:
    gates = gate_set(RELATIVE_TOML, {"CANARY_THRESHOLD_ERROR_RATE_VS_CONTROL": "0.002"})

    spec = gates.get("error_rate_vs_control")
    assert spec is not None
    assert (spec.threshold, spec.source) == (0.002, "env CANARY_THRESHOLD_ERROR_RATE_VS_CONTROL")


# --- Wilson ------------------------------------------------------------------------------------


def _wilson(errors: int, sent: int, toml: str = WILSON_TOML) -> Any:
    kpi = kpis(**cohort(errors, sent))
    decision = decide_inputs(kpi, toml=toml)
    return decision, gate(decision, "error_rate")


def test_wilson_gate_holds_a_breach_too_small_to_be_significant() -> None:
    # 1 error of 10 attempts: 10 % is above the 4 % backout, but the interval starts at 1.8 %.
    decision, result = _wilson(errors=1, sent=9)

    assert result.status == "hold"
    assert decision.decision == "HOLD"
    assert "1 of 10: 10 %, 95% interval 1.79 %–40.4 %; too little evidence to back out" in (
        result.message
    )


def test_the_same_breach_backs_out_as_a_plain_gate() -> None:
    _, result = _wilson(errors=1, sent=9, toml="")

    assert result.status == "backout"


def test_wilson_gate_backs_out_on_a_significant_breach() -> None:
    decision, result = _wilson(errors=100, sent=900)

    assert result.status == "backout"
    assert decision.decision == "BACKOUT"
    assert "the breach is significant" in result.message


def test_wilson_gate_gives_the_interval_of_a_hold_in_its_junit_line() -> None:
    _, result = _wilson(errors=3, sent=97)

    assert result.status == "hold"
    line = failure_line(result)
    assert line.startswith("HOLD: error_rate 0.03 > 0.02 (Fehlerquote; threshold from built-in)")
    assert line.endswith("3 of 100: 3 %, 95% interval 1.03 %–8.45 %")


@pytest.mark.parametrize(("errors", "sent"), [(0, 3), (1, 999), (3, 97), (30, 970)])
def test_wilson_gate_judges_pass_and_hold_like_a_plain_gate(errors: int, sent: int) -> None:
    _, plain = _wilson(errors, sent, toml="")
    decision, result = _wilson(errors, sent)

    assert result.status == plain.status
    assert decision.decision != "BACKOUT"


def test_wilson_gate_shows_its_interval_in_the_markdown() -> None:
    decision, _ = _wilson(errors=1, sent=9)

    assert "- `error_rate`: 1 of 10 (10 %), 95% interval 1.79 %–40.4 %" in decision_markdown(
        decision
    )


# --- the same decision through canary decide and the pytest run -----------------------------


def test_evidence_gates_decide_the_same_in_canary_decide_and_pytest(
    canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARY_TRACE_ID", TRACE)
    gates = canary_root.path.parent / "gates"
    gates.mkdir()
    (gates / "evidence.toml").write_text(RELATIVE_TOML + WILSON_TOML, "utf-8")
    canary_root.tenant("acme", kpis=split_kpis(canary=(60, 2000), control=(90, 18000)))
    canary_root.tenant("beta", kpis=split_kpis(canary=(1, 5), control=(0, 4)))
    common = ["--root", str(canary_root.path), "--date", DATE, "--gates", str(gates)]
    done = run(
        [canary_script(), "decide", "--tenant", "acme", "--tenant", "beta", *common],
        cwd=canary_root.path.parent,
        env=dict(os.environ),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    by_cli = {t: canary_root.decision(t) for t in ("acme", "beta")}
    for tenant in ("acme", "beta"):
        shutil.rmtree(canary_root.path / tenant / "canary")

    command = [sys.executable, "-m", "pytest", "-p", "canary", "-p", "no:cacheprovider"]
    command += [f"--canary-root={canary_root.path}", f"--canary-date={DATE}"]
    command += [f"--canary-gates={gates}", "--canary-tenant", "acme", "--canary-tenant", "beta"]
    command += [f"--junitxml={canary_root.path.parent / 'junit.xml'}", "-rs"]
    done = run(command, cwd=canary_root.path.parent, env=dict(os.environ))

    assert done.returncode == 1
    for tenant in ("acme", "beta"):
        by_pytest = canary_root.decision(tenant)
        assert by_pytest["decision_id"] == by_cli[tenant]["decision_id"]
        assert by_pytest["gates"] == by_cli[tenant]["gates"]
    acme = {g["name"]: g for g in by_cli["acme"]["gates"]}
    assert acme["error_rate_vs_control"]["status"] == "hold"
    assert acme["error_rate_vs_control"]["evidence"]["canary"]["trials"] == 2060
    beta = {g["name"]: g for g in by_cli["beta"]["gates"]}
    # 1 error of 10 attempts: above the backout, not significantly: HOLD, not BACKOUT.
    assert (beta["error_rate"]["status"], by_cli["beta"]["decision"]) == ("hold", "HOLD")
    assert beta["error_rate_vs_control"]["status"] == "skipped"
    junit = (canary_root.path.parent / "junit.xml").read_text("utf-8")
    assert 'message="HOLD: error_rate_vs_control 0.0291262 &gt; 0.0149751' in junit
    assert "too little evidence to back out" in junit
    assert "inconclusive" in done.stdout
