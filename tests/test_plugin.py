"""The pytest plugin as a user runs it: a real inner pytest (``pytester``) on real files.

Each test builds a canary root in ``tmp_path``, runs ``pytest --canary-tenant ...`` in process or
as a subprocess, and checks what a person or a CI job sees: item ids, outcomes, the exit status,
the terminal summary, JUnit, GitHub files, and the decision and state files under the root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

# In-process inner runs drop the modules they imported when they end; imported here first, the
# plugin's modules (and pydantic) stay one copy for every inner run of this process.
import pytest_canary.ops.rollout
import pytest_canary.plugin.controller  # noqa: F401
from _plugin_fixtures import DATE, REPO, TRACE, CanaryRoot, run, run_inner

BUILTIN = "pytest_canary/mahnwesen.toml"
GATES = (
    "inputs",
    "kill_switch",
    "promotion",
    "error_rate",
    "hard_bounce_rate",
    "dlq_depth",
    "retry_depth",
)
ALL_GATES = (*GATES, "min_volume")


def canary(
    pytester: pytest.Pytester,
    root: CanaryRoot,
    *args: str,
    tenants: tuple[str, ...] = ("acme",),
    subprocess: bool = False,
) -> pytest.RunResult:
    """Run the inner pytest on ``root`` for ``tenants`` on DATE, with ``args`` appended."""
    return run_inner(pytester, root, *args, tenants=tenants, subprocess=subprocess)


def copy_gate_file(pytester: pytest.Pytester, extra: str = "") -> Path:
    """The repo's ``gates/mahnwesen.toml`` in the inner run's ``gates/`` folder, plus ``extra``."""
    folder = pytester.mkdir("gates")
    target = folder / "mahnwesen.toml"
    shutil.copyfile(REPO / "gates" / "mahnwesen.toml", target)
    if extra:
        target.write_text(target.read_text() + "\n" + extra)
    return target


def collected_ids(result: pytest.RunResult) -> list[str]:
    """The node ids an inner ``--collect-only -q`` listed, sorted (pytest-randomly shuffles)."""
    return sorted(line for line in result.stdout.lines if "::" in line and " " not in line)


def summary_lines(result: pytest.RunResult) -> list[str]:
    """The lines of the terminal section ``canary``."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if line.strip("= ") == "canary")
    section = []
    for line in lines[start + 1 :]:
        if line.startswith("=") or line.startswith("-"):
            break
        if line.strip():
            section.append(line)
    return section


# --- items, outcomes, exit status -------------------------------------------------------------


def test_builtin_gates_are_items_named_after_the_packaged_gate_file(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme")
    result = canary(pytester, canary_root, "--collect-only", "-q")
    assert collected_ids(result) == sorted(f"{BUILTIN}::acme::{gate}" for gate in ALL_GATES)


def test_a_gates_folder_with_one_file_names_the_items_after_that_file(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    copy_gate_file(pytester)
    canary_root.tenant("acme")
    result = canary(pytester, canary_root, "--collect-only", "-q")
    assert collected_ids(result) == sorted(
        f"gates/mahnwesen.toml::acme::{gate}" for gate in ALL_GATES
    )


def test_listing_the_gates_with_collect_only_decides_nothing(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme")
    before = canary_root.snapshot()
    result = canary(pytester, canary_root, "--collect-only", "-q")
    assert result.ret == 0
    assert canary_root.snapshot() == before
    assert "HOLD" not in result.stdout.str()


def test_a_selected_tenant_collects_the_gates_only_not_the_projects_tests(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    pytester.makepyfile(test_unrelated="def test_other():\n    raise AssertionError('ran')\n")
    canary_root.tenant("acme")
    result = canary(pytester, canary_root)
    result.assert_outcomes(passed=8)
    assert result.ret == 0


@pytest.mark.parametrize(("body", "code"), [("pass", 0), ("raise AssertionError('x')", 1)])
def test_a_test_named_beside_the_gates_still_counts_for_the_exit_status(
    pytester: pytest.Pytester, canary_root: CanaryRoot, body: str, code: int
) -> None:
    pytester.makepyfile(test_unrelated=f"def test_other():\n    {body}\n")
    canary_root.tenant("acme")
    result = canary(pytester, canary_root, "test_unrelated.py")
    assert result.ret == code
    assert canary_root.decision("acme")["decision"] == "GO_25"  # every tenant is GO either way


def test_all_gates_pass_go_exit_0_and_the_decision_is_written(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme")
    result = canary(pytester, canary_root)
    result.assert_outcomes(passed=8)
    assert result.ret == pytest.ExitCode.OK
    decision = canary_root.decision("acme")
    assert decision["decision"] == "GO_25"
    assert {gate["name"]: gate["status"] for gate in decision["gates"]} == {
        name: "pass" for name in ALL_GATES
    }
    assert (canary_root.path / "acme" / "canary" / f"{DATE}_decision.md").exists()
    assert [line["event"] for line in canary_root.audit("acme")] == ["DECISION"]
    assert canary_root.state("acme") is None, "deciding alone never writes the state"


def test_a_violated_gate_fails_its_item_holds_and_exits_1(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme", error_rate=0.031)
    result = canary(pytester, canary_root, "-rf")
    result.assert_outcomes(passed=7, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"FAILED {BUILTIN}::acme::error_rate - HOLD: error_rate 0.03*"])
    assert canary_root.decision("acme")["decision"] == "HOLD"


def test_a_severe_violation_backs_out_and_exits_1(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme", dlq_depth=37, state={"quota": 50})
    result = canary(pytester, canary_root)
    result.assert_outcomes(passed=7, failed=1)
    assert result.ret == 1
    decision = canary_root.decision("acme")
    assert decision["decision"] == "BACKOUT"
    assert decision["target"] == {"quota": 10, "kill_switch": True}


def test_a_missing_kpi_file_holds_on_the_inputs_item(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    (canary_root.path / "acme").mkdir()
    result = canary(pytester, canary_root, "-rf")
    assert result.ret == 1
    result.assert_outcomes(passed=2, failed=6)  # only the kill switch and promotion can be judged
    failed = [line.split(" ")[1] for line in result.stdout.lines if line.startswith("FAILED ")]
    assert sorted(nodeid.rsplit("::", 1)[1] for nodeid in failed) == sorted(
        ["inputs", "error_rate", "hard_bounce_rate", "dlq_depth", "retry_depth", "min_volume"]
    )  # fmt: skip  (in any order: pytest-randomly shuffles the inner run)
    decision = canary_root.decision("acme")
    assert decision["decision"] == "HOLD"
    inputs = next(g for g in decision["gates"] if g["name"] == "inputs")
    assert inputs["status"] == "hold" and f"{DATE}.json" in inputs["message"]


def test_a_low_volume_skips_the_rate_gates_and_holds(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme", notices_sent=2, hard_bounces=0)
    result = canary(pytester, canary_root)
    result.assert_outcomes(passed=5, failed=1, skipped=2)
    assert result.ret == 1
    gates = {g["name"]: g["status"] for g in canary_root.decision("acme")["gates"]}
    assert gates["min_volume"] == "hold"
    assert gates["error_rate"] == gates["hard_bounce_rate"] == "skipped"


def test_any_tenant_not_go_makes_the_run_fail(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme")
    canary_root.tenant("beta", error_rate=0.031, state={"quota": 25})
    result = canary(pytester, canary_root, tenants=("acme", "beta"))
    assert result.ret == 1
    assert canary_root.decision("acme")["decision"] == "GO_25"
    assert canary_root.decision("beta")["decision"] == "HOLD"


def test_tenant_all_selects_every_tenant_folder(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    for tenant in ("acme", "beta", "gamma"):
        canary_root.tenant(tenant)
    (canary_root.path / "Not_A_Tenant").mkdir()
    result = canary(pytester, canary_root, tenants=("all",))
    result.assert_outcomes(passed=24)
    assert result.ret == 0
    for tenant in ("acme", "beta", "gamma"):
        assert canary_root.decision(tenant)["decision"] == "GO_25"


def test_a_subprocess_run_decides_like_an_in_process_one(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme", retry_depth=61)
    result = canary(pytester, canary_root, subprocess=True)
    result.assert_outcomes(passed=7, failed=1)
    assert result.ret == 1
    assert canary_root.decision("acme")["decision"] == "HOLD"


# --- usage errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--canary-tenant", "Acme"], {}, "invalid tenant id 'Acme'"),
        (["--canary-tenant", "../acme"], {}, "invalid tenant id"),
        (["--canary-tenant", "zeta"], {}, "unknown tenant 'zeta'"),
        (["--canary-date", DATE], {}, "--canary-date needs --canary-tenant"),
        (["--canary-tenant", "acme", "--canary-date", "26.11.2026"], {}, "expected a date"),
        (["--canary-tenant", "acme", "--canary-date", "2026-02-30"], {}, "no such day"),
        (["--canary-tenant", "acme"], {"CANARY_TRACE_ID": "XYZ"}, "CANARY_TRACE_ID='XYZ'"),
        (["--canary-tenant", "acme"], {"CANARY_THRESHOLD_ERROR_RATE": "3"}, "ERROR_RATE='3'"),
        (["--canary-tenant", "acme"], {"CANARY_THRESHOLD_ACME_DLQ_DEPTH": "-1"}, "DLQ_DEPTH"),
        (["--canary-tenant", "acme"], {"CANARY_THRESHOLD_NOPE": "1"}, "CANARY_THRESHOLD_NOPE"),
        (["--canary-tenant", "acme"], {"CANARY_BACKOUT_FACTOR": "0.5"}, "CANARY_BACKOUT_FACTOR"),
    ],
)
def test_usage_errors_exit_4_with_one_line_and_write_nothing(
    pytester: pytest.Pytester,
    canary_root: CanaryRoot,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    canary_root.tenant("acme")
    before = canary_root.snapshot()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    argv = ["-p", "no:cacheprovider", f"--canary-root={canary_root.path}", *args]
    result = pytester.runpytest(*argv)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = result.stderr.str()
    assert message in errors
    assert "Traceback" not in errors and "INTERNALERROR" not in result.stdout.str()
    assert canary_root.snapshot() == before


def test_a_root_that_is_not_a_folder_is_a_usage_error(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    result = pytester.runpytest("--canary-tenant", "acme", "--canary-root", str(tmp_path / "no"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "is not a folder" in result.stderr.str()


def test_a_root_written_as_two_words_that_moved_the_rootdir_is_refused(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme")
    before = canary_root.snapshot()
    two_words = ["-p", "no:cacheprovider", "--canary-tenant", "acme", f"--canary-date={DATE}"]

    refused = pytester.runpytest_subprocess(*two_words, "--canary-root", str(canary_root.path))
    accepted = pytester.runpytest_subprocess(*two_words, f"--canary-root={canary_root.path}")

    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    assert f"write --canary-root={canary_root.path}" in refused.stderr.str()
    assert accepted.ret == pytest.ExitCode.OK
    assert len(canary_root.snapshot()) > len(before)  # only the accepted run wrote its decision


# --- terminal summary, JUnit, GitHub ----------------------------------------------------------


def test_terminal_summary_lists_each_tenants_decision_and_quota(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    canary_root.tenant("beta", error_rate=0.031, state={"quota": 25})
    canary_root.tenant("gamma", dlq_depth=37, state={"quota": 50})
    result = canary(pytester, canary_root, tenants=("acme", "beta", "gamma"))
    lines = summary_lines(result)
    assert len(lines) == 3
    by_tenant = {line.split(":", 1)[0]: line for line in lines}
    assert by_tenant["acme"].startswith(
        "acme: GO_50 (would set quota 25 → 50; nothing applied until rollout or cycle)"
    )
    assert by_tenant["beta"].startswith("beta: HOLD (no change: quota 25)")
    assert "error_rate 0.031 > 0.02" in by_tenant["beta"]
    assert by_tenant["gamma"].startswith(
        "gamma: BACKOUT (would set quota 50 → 10, kill switch off → on; nothing applied"
    )
    assert "dlq_depth 37" in by_tenant["gamma"]


def test_junit_failures_start_with_the_verdict_and_are_never_errors(
    pytester: pytest.Pytester, canary_root: CanaryRoot, tmp_path: Path
) -> None:
    canary_root.tenant("acme", error_rate=0.031, dlq_depth=37)
    canary_root.tenant("beta", kpis="{not json")
    junit = tmp_path / "junit.xml"
    canary(pytester, canary_root, f"--junitxml={junit}", tenants=("acme", "beta"))
    cases = ET.parse(junit).getroot().iter("testcase")
    failures = {}
    for case in cases:
        assert case.find("error") is None, ET.tostring(case, encoding="unicode")
        failure = case.find("failure")
        if failure is not None:
            failures[f"{case.get('classname')}.{case.get('name')}"] = failure.get("message", "")
    messages = {name.rsplit(".", 1)[-1]: msg for name, msg in failures.items() if "acme" in name}
    assert messages["error_rate"].startswith("HOLD: error_rate 0.031 > 0.02")
    assert messages["dlq_depth"].startswith("BACKOUT: dlq_depth 37 > 20")
    assert "\n" not in messages["error_rate"]
    beta = [msg for name, msg in failures.items() if "beta" in name]
    assert beta, "an unreadable KPI file fails beta's items"
    assert all(msg.startswith(("HOLD:", "BACKOUT:")) for msg in beta), beta


def test_github_output_and_step_summary_name_each_decision(
    pytester: pytest.Pytester,
    canary_root: CanaryRoot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canary_root.tenant("acme")
    canary_root.tenant("beta", dlq_depth=37)
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    canary(pytester, canary_root, tenants=("acme", "beta"))
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    assert json.loads(outputs["decisions"]) == {"acme": "GO_25", "beta": "BACKOUT"}
    text = summary.read_text()
    assert text.startswith("earlier step\n"), "the step summary is appended to, never replaced"
    assert "acme" in text and "GO_25" in text
    assert "beta" in text and "BACKOUT" in text and "dlq_depth" in text


def test_github_output_has_decision_for_a_single_tenant(
    pytester: pytest.Pytester,
    canary_root: CanaryRoot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canary_root.tenant("acme", error_rate=0.031)
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    canary(pytester, canary_root)
    lines = output.read_text().splitlines()
    assert "decision=HOLD" in lines
    assert 'decisions={"acme":"HOLD"}' in [line.replace(" ", "") for line in lines]


# --- inert without a tenant -------------------------------------------------------------------


def test_the_installed_plugin_imports_nothing_beyond_its_light_modules() -> None:
    # Every pytest run imports the entry point: no time zone database, settings or pydantic.
    code = (
        "import sys, pytest; before = set(sys.modules); import pytest_canary.plugin;"
        " print('\\n'.join(sorted(set(sys.modules) - before)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added = done.stdout.split()
    assert all(name.startswith("pytest_canary") for name in added), added
    assert "pytest_canary.store.settings" not in added


UNRELATED = """
import sys


def test_pydantic_not_loaded():
    assert "pydantic" not in sys.modules
    assert "pytest_canary.plugin.controller" not in sys.modules
    assert "pytest_canary.plugin.collection" not in sys.modules


def test_plain():
    assert 1 + 1 == 2
"""


def _tree(folder: Path) -> list[str]:
    """Files and folders under ``folder``, without Python's caches and pytester's own files."""
    ours = ("runpytest", "stdout", "stderr")
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if "__pycache__" not in p.parts and not p.relative_to(folder).parts[0].startswith(ours)
    )


def test_an_unrelated_run_is_untouched_by_the_installed_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unrelated=UNRELATED)
    before = _tree(pytester.path)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:pytester")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    header = [line for line in result.stdout.lines if line.startswith("plugins:")]
    assert header and "canary" in header[0], "the plugin is installed and autoloaded"
    rest = [line for line in result.stdout.lines if not line.startswith("plugins:")]
    assert not [line for line in rest if "canary" in line.lower()], rest
    assert "canary" not in result.stderr.str().lower()
    assert _tree(pytester.path) == before


def test_p_canary_works_with_plugin_autoload_disabled(
    pytester: pytest.Pytester, canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    canary_root.tenant("acme")
    result = canary(pytester, canary_root, "-p", "canary", subprocess=True)
    result.assert_outcomes(passed=8)
    assert result.ret == 0
    assert canary_root.decision("acme")["decision"] == "GO_25"


# --- custom and shadow gates ------------------------------------------------------------------


CUSTOM_GATES = """
import pytest


@pytest.mark.canary_gate(severity="backout")
def test_soft_bounces(canary_kpis):
    assert canary_kpis.soft_bounces < 100, "soft bounces pile up"


@pytest.mark.canary_gate
def test_crashes(canary_kpis):
    raise KeyError("lookup failed")


@pytest.mark.canary_gate(shadow=True)
def test_new_idea(canary_kpis):
    assert canary_kpis.notices_sent > 10**6, "not yet"
"""


def gate_statuses(decision: dict[str, Any]) -> dict[str, str]:
    return {gate["name"]: gate["status"] for gate in decision["gates"]}


def test_a_failing_backout_custom_gate_backs_out(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    copy_gate_file(pytester)
    (pytester.path / "gates" / "test_custom.py").write_text(
        "import pytest\n\n\n@pytest.mark.canary_gate(severity='backout')\n"
        "def test_soft_bounces(canary_kpis):\n    assert canary_kpis.soft_bounces < 100\n"
    )
    canary_root.tenant("acme", soft_bounces=500, state={"quota": 50})
    canary_root.tenant("beta", soft_bounces=5)
    result = canary(pytester, canary_root, "-rf", tenants=("acme", "beta"))
    assert result.ret == 1
    result.stdout.fnmatch_lines(["FAILED gates/test_custom.py::test_soft_bounces[[]acme[]]*"])
    acme = canary_root.decision("acme")
    assert acme["decision"] == "BACKOUT"
    assert gate_statuses(acme)["test_soft_bounces"] == "backout"
    assert canary_root.decision("beta")["decision"] == "GO_25", "runs once per tenant"


def test_custom_gates_error_holds_and_shadow_is_not_counted(
    pytester: pytest.Pytester, canary_root: CanaryRoot, tmp_path: Path
) -> None:
    copy_gate_file(pytester)
    (pytester.path / "gates" / "test_custom.py").write_text(CUSTOM_GATES)
    canary_root.tenant("acme", soft_bounces=5)
    junit = tmp_path / "junit.xml"
    result = canary(pytester, canary_root, f"--junitxml={junit}")
    result.assert_outcomes(passed=9, failed=1, xfailed=1)
    assert result.ret == 1
    decision = canary_root.decision("acme")
    assert decision["decision"] == "HOLD"
    statuses = gate_statuses(decision)
    assert statuses["test_soft_bounces"] == "pass"
    assert statuses["test_crashes"] == "error"
    assert any("test_crashes" in reason for reason in decision["reasons"])
    assert not any("test_new_idea" in reason for reason in decision["reasons"])
    crashed = [
        case
        for case in ET.parse(junit).getroot().iter("testcase")
        if case.get("name", "").startswith("test_crashes")
    ]
    assert len(crashed) == 1 and crashed[0].find("error") is None
    failure = crashed[0].find("failure")
    assert failure is not None and failure.get("message", "").startswith("HOLD:")


def test_a_failing_shadow_custom_gate_leaves_go_and_shows_as_xfail(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    copy_gate_file(pytester)
    (pytester.path / "gates" / "test_custom.py").write_text(
        "import pytest\n\n\n@pytest.mark.canary_gate(shadow=True, severity='backout')\n"
        "def test_new_idea(canary_kpis):\n    assert canary_kpis.notices_sent > 10**6\n"
    )
    canary_root.tenant("acme")
    result = canary(pytester, canary_root, "-rx")
    result.assert_outcomes(passed=8, xfailed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["XFAIL*test_new_idea*SHADOW (not counted)*"])
    assert canary_root.decision("acme")["decision"] == "GO_25"


def test_a_shadow_threshold_gate_is_judged_but_not_counted(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    copy_gate_file(
        pytester,
        "[gates.soft_bounce_rate]\nmetric = 'soft_bounces / notices_sent'\n"
        "max = 0.01\nshadow = true\n",
    )
    canary_root.tenant("acme", soft_bounces=15)
    result = canary(pytester, canary_root, "-rx")
    result.assert_outcomes(passed=8, xfailed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["XFAIL gates/mahnwesen.toml::acme::soft_bounce_rate*SHADOW*"])
    decision = canary_root.decision("acme")
    assert decision["decision"] == "GO_25"
    shadow = next(g for g in decision["gates"] if g["name"] == "soft_bounce_rate")
    assert shadow["status"] == "hold" and shadow["value"] == pytest.approx(0.015)


FIXTURE_GATE = """
import pytest


@pytest.mark.canary_gate
def test_sees_everything(canary_tenant, canary_kpis, canary_thresholds, canary_blocklist,
                         canary_state):
    assert canary_tenant == "acme"
    assert canary_kpis.notices_sent == 1000 and canary_kpis.error_rate == 0.001
    assert canary_thresholds["error_rate"] == 0.025
    assert canary_thresholds["dlq_depth"] == 10
    assert canary_blocklist.by_reason.get("hard_bounce") == 2
    assert canary_blocklist.hard_bounces_on_date == 1
    assert canary_state.quota == 25 and canary_state.kill_switch is False
"""


def test_custom_gate_fixtures_give_the_tenants_inputs(
    pytester: pytest.Pytester, canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_gate_file(pytester)
    (pytester.path / "gates" / "test_fixtures.py").write_text(FIXTURE_GATE)
    monkeypatch.setenv("CANARY_THRESHOLD_ACME_ERROR_RATE", "0.025")
    blocklist = {
        "entries": [
            {"reason": "hard_bounce", "added_at": f"{DATE}T06:00:00+01:00", "hash": "ab12"},
            {"reason": "hard_bounce", "added_at": "2026-11-20T06:00:00+01:00", "hash": "cd34"},
            {"reason": "manual", "added_at": f"{DATE}T06:00:00+01:00", "hash": "ef56"},
        ]
    }
    canary_root.tenant("acme", state={"quota": 25}, blocklist=blocklist)
    result = canary(pytester, canary_root, "-rf")
    result.assert_outcomes(passed=9)
    assert result.ret == 0
    assert canary_root.decision("acme")["decision"] == "GO_50"


# --- dry run, rollout, deselection ------------------------------------------------------------


def test_dry_run_decides_and_writes_nothing_under_the_root(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    canary_root.tenant("beta", error_rate=0.031)
    before = canary_root.snapshot()
    result = canary(
        pytester, canary_root, "--canary-dry-run", "--canary-rollout", tenants=("acme", "beta")
    )
    assert result.ret == 1
    lines = summary_lines(result)
    assert any(line.startswith("acme: GO_50 (would set quota 25 → 50;") for line in lines)
    assert any(line.startswith("beta: HOLD") for line in lines)
    assert canary_root.snapshot() == before


def test_rollout_applies_once_and_a_second_run_changes_nothing(
    pytester: pytest.Pytester, canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    first = canary(pytester, canary_root, "--canary-rollout")
    assert first.ret == 0
    state = canary_root.state("acme")
    assert state is not None
    assert (state["quota"], state["serial"], state["kill_switch"]) == (50, 1, False)
    decision_id = canary_root.decision("acme")["decision_id"]
    assert state["last_decision_id"] == decision_id
    state_bytes = canary_root.state_file("acme").read_bytes()

    second = canary(pytester, canary_root, "--canary-rollout")
    assert second.ret == 0
    assert canary_root.state_file("acme").read_bytes() == state_bytes
    assert canary_root.decision("acme")["decision_id"] == decision_id
    assert summary_lines(first)[0].startswith("acme: GO_50 (quota 25 → 50) [applied]")
    assert summary_lines(second)[0].startswith("acme: GO_50 (quota 25 → 50) [unchanged]")


def test_a_backout_rollout_turns_the_kill_switch_on(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme", error_rate=0.2, state={"quota": 50})
    result = canary(pytester, canary_root, "--canary-rollout")
    assert result.ret == 1
    state = canary_root.state("acme")
    assert state is not None
    assert (state["quota"], state["kill_switch"]) == (10, True)


def test_deselecting_gates_with_k_never_gives_go(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme")
    result = canary(pytester, canary_root, "-k", "error_rate", "--canary-rollout")
    result.assert_outcomes(passed=1, deselected=7)
    assert result.ret == 1
    decision = canary_root.decision("acme")
    assert decision["decision"] == "HOLD"
    assert canary_root.state("acme") is None  # a HOLD from a first run writes no state


# --- hooks ------------------------------------------------------------------------------------


HOOKS_CONFTEST = """
import json
from pathlib import Path

CALLS = Path(__file__).parent / "calls.jsonl"


def _note(**fields):
    with CALLS.open("a") as f:
        f.write(json.dumps(fields) + "\\n")


def pytest_canary_load_kpis(tenant, date, config):
    _note(hook="load_kpis", tenant=tenant, date=date.isoformat())
    return {"notices_sent": 500, "error_rate": 0.001, "hard_bounces": 0,
            "dlq_depth": 3, "retry_depth": 0}


def pytest_canary_decision(decision, config):
    _note(hook="decision", tenant=decision.tenant, decision=decision.decision,
          decision_id=decision.decision_id)


def pytest_canary_rollout(result, config):
    _note(hook="rollout", tenant=result.tenant, changed=result.changed)
"""


def test_the_three_hooks_are_called_and_hooked_kpis_are_used(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    pytester.makeconftest(HOOKS_CONFTEST)
    (canary_root.path / "acme").mkdir()  # no KPI file: the hook is the only source
    result = canary(pytester, canary_root, "--canary-rollout")
    assert result.ret == 0
    decision = canary_root.decision("acme")
    assert decision["decision"] == "GO_25"
    dlq = next(g for g in decision["gates"] if g["name"] == "dlq_depth")
    assert dlq["value"] == 3
    calls = [json.loads(line) for line in (pytester.path / "calls.jsonl").read_text().splitlines()]
    assert {"hook": "load_kpis", "tenant": "acme", "date": DATE} in calls
    assert {
        "hook": "decision",
        "tenant": "acme",
        "decision": "GO_25",
        "decision_id": decision["decision_id"],
    } in calls
    assert {"hook": "rollout", "tenant": "acme", "changed": True} in calls
    assert [c["hook"] for c in calls].count("decision") == 1


def test_the_trace_id_comes_from_the_environment(
    pytester: pytest.Pytester, canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARY_TRACE_ID", TRACE)
    canary_root.tenant("acme")
    canary(pytester, canary_root)
    assert canary_root.decision("acme")["trace_id"] == TRACE


def test_the_gates_order_changes_no_decision(canary_root: CanaryRoot, tmp_path: Path) -> None:
    """pytest-randomly shuffles the gates with each seed: every tenant's decision stays the same."""
    canary_root.tenant("acme")
    canary_root.tenant("beta", error_rate=0.031, state={"quota": 25})
    canary_root.tenant("gamma", dlq_depth=37, state={"quota": 50})
    tenants = ("acme", "beta", "gamma")
    env = {**os.environ, "PYTEST_ADDOPTS": "-p no:hypothesispytest"}

    def decisions(*order: str) -> dict[str, tuple[str, str, list[str]]]:
        root = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        shutil.copytree(canary_root.path, root)
        command = [sys.executable, "-m", "pytest", "-p", "canary", "-p", "no:cacheprovider"]
        command += [f"--canary-root={root}", f"--canary-date={DATE}", *order]
        command += [arg for tenant in tenants for arg in ("--canary-tenant", tenant)]
        done = run(command, cwd=tmp_path, env=env)
        assert done.returncode == 1, done.stdout + done.stderr  # beta and gamma fail their gates
        assert ("Using --randomly-seed=" in done.stdout) == ("randomly" in order), done.stdout
        written = {tenant: CanaryRoot(root).decision(tenant) for tenant in tenants}
        return {
            tenant: (d["decision"], d["decision_id"], [gate["name"] for gate in d["gates"]])
            for tenant, d in written.items()
        }

    in_order = decisions("-p", "no:randomly")
    assert [in_order[tenant][0] for tenant in tenants] == ["GO_25", "HOLD", "BACKOUT"]
    for seed in ("1", "2", "3"):
        assert decisions("-p", "randomly", f"--randomly-seed={seed}") == in_order
