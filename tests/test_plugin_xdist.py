"""The plugin under pytest-xdist (``-p xdist -n 2``): workers run the gates, the controller decides.

One decision per tenant, written once; the same decision as a run without xdist.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

# In-process inner runs drop the modules they imported when they end; imported here first, the
# plugin's modules (and pydantic) stay one copy for every inner run of this process.
import pytest_canary.ops.rollout
import pytest_canary.plugin.controller  # noqa: F401
from _plugin_fixtures import DATE, TRACE, CanaryRoot, run_inner

XDIST = ("-p", "xdist", "-n", "2")


def canary(
    pytester: pytest.Pytester,
    root: CanaryRoot,
    *args: str,
    tenants: tuple[str, ...] = ("acme", "beta"),
    subprocess: bool = True,
) -> pytest.RunResult:
    return run_inner(pytester, root, *args, tenants=tenants, subprocess=subprocess)


def two_tenants(root: CanaryRoot) -> None:
    root.tenant("acme", state={"quota": 25})
    root.tenant("beta", error_rate=0.031, dlq_depth=4)


def canary_files(root: CanaryRoot, tenant: str) -> list[str]:
    folder = root.path / tenant / "canary"
    return sorted(p.name for p in folder.iterdir())


def without_time(decision: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in decision.items() if key != "created_at"}


def forget_decisions(root: CanaryRoot, *tenants: str) -> None:
    for tenant in tenants:
        shutil.rmtree(root.path / tenant / "canary")


def test_under_xdist_each_tenant_is_decided_once_by_the_controller(
    pytester: pytest.Pytester,
    canary_root: CanaryRoot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    two_tenants(canary_root)
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    result = canary(pytester, canary_root, *XDIST)
    result.stdout.fnmatch_lines(["*2 workers*"])
    result.assert_outcomes(passed=15, failed=1)
    assert result.ret == 1
    for tenant in ("acme", "beta"):
        assert canary_files(canary_root, tenant) == [
            f"{DATE}_decision.json",
            f"{DATE}_decision.md",
            "audit.jsonl",
        ]
        assert [line["event"] for line in canary_root.audit(tenant)] == ["DECISION"]
    assert canary_root.decision("acme")["decision"] == "GO_50"
    assert canary_root.decision("beta")["decision"] == "HOLD"
    assert [line for line in output.read_text().splitlines() if line.startswith("decisions")] == [
        'decisions={"acme":"GO_50","beta":"HOLD"}'
    ]
    section = result.stdout.str().split("= canary =", 1)[1]
    assert section.count("acme: GO_50") == 1 and section.count("beta: HOLD") == 1


def test_xdist_and_a_plain_run_make_the_same_decision(
    pytester: pytest.Pytester, canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARY_TRACE_ID", TRACE)
    two_tenants(canary_root)
    plain = canary(pytester, canary_root)
    assert plain.ret == 1
    expected = {t: without_time(canary_root.decision(t)) for t in ("acme", "beta")}
    forget_decisions(canary_root, "acme", "beta")

    spread = canary(pytester, canary_root, *XDIST)
    assert spread.ret == 1
    for tenant in ("acme", "beta"):
        decision = without_time(canary_root.decision(tenant))
        assert decision["decision_id"] == expected[tenant]["decision_id"]
        assert decision == expected[tenant]


def test_xdist_in_process_run_decides_once(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme")
    result = canary(pytester, canary_root, *XDIST, tenants=("acme",), subprocess=False)
    result.assert_outcomes(passed=8)
    assert result.ret == 0
    assert canary_root.decision("acme")["decision"] == "GO_25"
    assert [line["event"] for line in canary_root.audit("acme")] == ["DECISION"]


def test_xdist_rollout_applies_once_and_repeats_change_nothing(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    two_tenants(canary_root)
    first = canary(pytester, canary_root, *XDIST, "--canary-rollout")
    assert first.ret == 1
    acme = canary_root.state("acme")
    assert acme is not None and (acme["quota"], acme["serial"]) == (50, 1)
    assert len(acme["history"]) == 1
    state_bytes = canary_root.state_file("acme").read_bytes()
    decision_id = canary_root.decision("acme")["decision_id"]

    second = canary(pytester, canary_root, *XDIST, "--canary-rollout")
    assert second.ret == 1
    assert canary_root.state_file("acme").read_bytes() == state_bytes
    assert canary_root.decision("acme")["decision_id"] == decision_id
    events = [line["event"] for line in canary_root.audit("acme")]
    assert events.count("DECISION") == 2, "one decision per run, made by the controller"
    assert "acme: GO_50 (quota 25 → 50) [applied]" in first.stdout.str()
    assert "acme: GO_50 (quota 25 → 50) [unchanged]" in second.stdout.str()


CUSTOM = """
import pytest


@pytest.mark.canary_gate(severity="backout")
def test_soft_bounces(canary_kpis):
    assert canary_kpis.soft_bounces < 100


@pytest.mark.canary_gate(shadow=True)
def test_new_idea(canary_kpis):
    assert canary_kpis.notices_sent > 10**6
"""


def test_custom_gates_count_under_xdist(pytester: pytest.Pytester, canary_root: CanaryRoot) -> None:
    gates = pytester.mkdir("gates")
    (gates / "test_custom.py").write_text(CUSTOM)
    canary_root.tenant("acme", soft_bounces=500, state={"quota": 50})
    canary_root.tenant("beta", soft_bounces=1)
    result = canary(pytester, canary_root, *XDIST)
    result.assert_outcomes(passed=17, failed=1, xfailed=2)
    assert result.ret == 1
    acme = canary_root.decision("acme")
    assert acme["decision"] == "BACKOUT"
    statuses = {gate["name"]: gate["status"] for gate in acme["gates"]}
    assert statuses["test_soft_bounces"] == "backout"
    assert canary_root.decision("beta")["decision"] == "GO_25"


def test_deselected_gates_under_xdist_hold(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme")
    result = canary(pytester, canary_root, *XDIST, "-k", "not dlq_depth", tenants=("acme",))
    result.assert_outcomes(passed=7)  # the controller does not count deselected items
    assert result.ret == 1
    decision = canary_root.decision("acme")
    assert decision["decision"] == "HOLD"
    assert any("dlq_depth" in reason for reason in decision["reasons"])


HOOKS = """
import json
from pathlib import Path

CALLS = Path(__file__).parent / "calls.jsonl"


def _note(config, **fields):
    fields["where"] = "worker" if hasattr(config, "workerinput") else "controller"
    with CALLS.open("a") as f:
        f.write(json.dumps(fields) + "\\n")


def pytest_canary_decision(decision, config):
    _note(config, hook="decision", tenant=decision.tenant)


def pytest_canary_rollout(result, config):
    _note(config, hook="rollout", tenant=result.tenant)
"""


def test_decision_and_rollout_hooks_run_once_per_tenant_on_the_controller(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    pytester.makeconftest(HOOKS)
    two_tenants(canary_root)
    canary(pytester, canary_root, *XDIST, "--canary-rollout")
    lines = (pytester.path / "calls.jsonl").read_text().splitlines()
    calls = sorted(tuple(json.loads(line).values()) for line in lines)
    assert calls == [
        ("decision", "acme", "controller"),
        ("decision", "beta", "controller"),
        ("rollout", "acme", "controller"),
        ("rollout", "beta", "controller"),
    ]


PLUGINS_CONFTEST = """
from pytest_canary.plugin import COLLECTION_KEY, CONTROLLER_KEY


def pytest_sessionfinish(session):
    config = session.config
    where = "worker" if hasattr(config, "workerinput") else "controller"
    kinds = sorted(
        type(config.stash[key]).__name__
        for key in (COLLECTION_KEY, CONTROLLER_KEY)
        if key in config.stash
    )
    with open(config.rootpath / f"plugins-{getattr(config, 'workerinput', {}).get('workerid', where)}.txt", "w") as out:
        out.write(" ".join(kinds))
"""


def test_the_controller_plugin_is_registered_only_on_the_controller(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    two_tenants(canary_root)
    pytester.makeconftest(PLUGINS_CONFTEST)
    canary(pytester, canary_root, *XDIST, "--canary-dry-run")
    found = {p.name: p.read_text() for p in pytester.path.glob("plugins-*.txt")}
    assert found == {
        "plugins-controller.txt": "CanaryCollection CanaryController",
        "plugins-gw0.txt": "CanaryCollection",
        "plugins-gw1.txt": "CanaryCollection",
    }


ORDER_CONFTEST = """
import json
from pathlib import Path

EVENTS = Path(__file__).parent / "events.jsonl"


def _note(**fields):
    with EVENTS.open("a") as f:
        f.write(json.dumps(fields) + "\\n")


def pytest_runtest_logreport(report):
    tenant = dict(report.user_properties).get("canary_tenant")
    if report.when == "teardown" and tenant is not None:
        _note(event="gate", tenant=tenant)


def pytest_canary_decision(decision, config):
    _note(event="decision", tenant=decision.tenant)


def pytest_sessionfinish(session):
    _note(event="sessionfinish")
"""


@pytest.mark.parametrize("workers", [(), XDIST], ids=["serial", "xdist"])
def test_each_tenant_is_decided_as_soon_as_its_last_gate_reports(
    pytester: pytest.Pytester, canary_root: CanaryRoot, workers: tuple[str, ...]
) -> None:
    pytester.makeconftest(ORDER_CONFTEST)
    two_tenants(canary_root)
    canary(pytester, canary_root, *workers)
    events = [
        json.loads(line) for line in (pytester.path / "events.jsonl").read_text().splitlines()
    ]
    # The controller's report hook runs first: a tenant's decision comes before the conftest
    # sees its last gate's teardown, and no later gate of any tenant.
    for tenant in ("acme", "beta"):
        decided = events.index({"event": "decision", "tenant": tenant})
        last_gate = max(i for i, e in enumerate(events) if e == {"event": "gate", "tenant": tenant})
        assert decided == last_gate - 1
    assert events[-1] == {"event": "sessionfinish"}
    assert sum(e["event"] == "decision" for e in events) == 2
    first_decision = min(i for i, e in enumerate(events) if e["event"] == "decision")
    assert first_decision < max(i for i, e in enumerate(events) if e["event"] == "gate")
