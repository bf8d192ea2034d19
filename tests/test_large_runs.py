"""What a run of many tenants shows and shares: the outcomes that the performance work keeps.

Above 50 tenants pytest's failures section is left out unless ``--tb`` is given (pytest builds it
in O(failures x items)); every failing gate still shows as a FAILED line, in JUnit and in the
decision. Tenants without gate values of their own share one merged gate set, while one with its
own variable or table still gets its own thresholds. No timing is asserted here: the figures live
in ``benchmarks/`` (``make bench``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

# Imported first, so in-process inner runs share one copy of the plugin's modules.
import pytest_canary.plugin.controller  # noqa: F401
from _plugin_fixtures import DATE, CanaryRoot

MANY = 51  # one more than report.TERMINAL_FULL_LIMIT


def _run(pytester: pytest.Pytester, root: CanaryRoot, *args: str) -> pytest.RunResult:
    argv = ["-p", "no:cacheprovider", f"--canary-root={root.path}", f"--canary-date={DATE}"]
    result = pytester.runpytest(*argv, "--canary-tenant", "all", *args)
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    return result


def _many(root: CanaryRoot) -> None:
    for index in range(MANY):
        root.tenant(f"t{index:03d}")
    root.tenant("t007", error_rate=0.031)


def test_a_large_run_lists_each_failing_gate_once_without_the_failures_section(
    pytester: pytest.Pytester, canary_root: CanaryRoot, tmp_path: Path
) -> None:
    _many(canary_root)
    junit = tmp_path / "junit.xml"
    result = _run(pytester, canary_root, f"--junitxml={junit}")
    assert result.ret == 1
    text = result.stdout.str()
    assert "= FAILURES =" not in text
    failed = [line for line in result.stdout.lines if line.startswith("FAILED ")]
    assert len(failed) == 1 and "t007::error_rate" in failed[0] and "HOLD" in failed[0]
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert [f.get("message", "").split(" ")[0] for f in failures] == ["HOLD:"]
    assert canary_root.decision("t007")["decision"] == "HOLD"
    assert canary_root.decision("t008")["decision"] == "GO_25"


def test_a_large_run_shows_the_failures_section_when_tb_is_given(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    _many(canary_root)
    result = _run(pytester, canary_root, "--tb=short")
    assert result.ret == 1
    assert "= FAILURES =" in result.stdout.str()


def test_a_small_run_keeps_the_failures_section(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme", error_rate=0.031)
    canary_root.tenant("beta")
    result = _run(pytester, canary_root)
    assert result.ret == 1
    assert "= FAILURES =" in result.stdout.str()


def test_a_tenant_variable_still_applies_among_tenants_that_share_the_gates(
    pytester: pytest.Pytester, canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    _many(canary_root)
    canary_root.tenant("t007")  # good KPIs again
    canary_root.tenant("t020", dlq_depth=15)
    canary_root.tenant("t021", dlq_depth=15)
    monkeypatch.setenv("CANARY_THRESHOLD_T020_DLQ_DEPTH", "25")
    result = _run(pytester, canary_root)
    assert result.ret == 1
    own = canary_root.decision("t020")
    shared = canary_root.decision("t021")
    assert own["decision"] == "GO_25"
    assert own["thresholds"]["dlq_depth"]["source"] == "env CANARY_THRESHOLD_T020_DLQ_DEPTH"
    assert shared["decision"] == "HOLD"
    assert shared["thresholds"]["dlq_depth"]["value"] == 10
