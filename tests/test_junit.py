"""The JUnit XML of a canary run, read the way a dashboard reads it (junitparser).

Cases group by tenant (class ``canary.<tenant>``: viewers that split class names on dots show one
level per tenant), every case names its tenant, and the suite carries each tenant's decision.
"""

from __future__ import annotations

import shutil
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from _plugin_fixtures import DATE, REPO, canary_script, run

CUSTOM_GATE = """import pytest


@pytest.mark.canary_gate
def test_few_soft_bounces(canary_kpis):
    assert (canary_kpis.soft_bounces or 0) < 1000
"""


def _repo_like(tmp_path: Path) -> Path:
    """The demo tenants, the project's gate file and one custom gate, in a folder of their own."""
    shutil.copytree(REPO / "demo" / "data", tmp_path / "root")
    (tmp_path / "gates").mkdir()
    shutil.copy(REPO / "gates" / "mahnwesen.toml", tmp_path / "gates")
    (tmp_path / "gates" / "test_custom.py").write_text(CUSTOM_GATE, encoding="utf-8")
    return tmp_path


def _cases_by_class(path: Path) -> dict[str, dict[str, list[object]]]:
    by_class: dict[str, dict[str, list[object]]] = defaultdict(dict)
    for suite in JUnitXml.fromfile(str(path)):
        for case in suite:
            by_class[case.classname][case.name] = case.result
    return by_class


def _suite_properties(path: Path) -> dict[str, str]:
    [suite] = list(JUnitXml.fromfile(str(path)))
    return {prop.name: prop.value for prop in suite.properties()}


def _assert_grouped_by_tenant(path: Path) -> None:
    by_class = _cases_by_class(path)
    assert sorted(by_class) == ["canary.acme", "canary.beta", "canary.delta", "canary.gamma"]
    acme = by_class["canary.acme"]
    assert {"inputs", "kill_switch", "error_rate", "test_few_soft_bounces[acme]"} <= set(acme)
    [failure] = by_class["canary.gamma"]["dlq_depth"]
    assert isinstance(failure, Failure)
    assert failure.message.startswith("BACKOUT: ")
    assert _suite_properties(path) == {
        "canary.acme.decision": "GO_50",
        "canary.beta.decision": "HOLD",
        "canary.delta.decision": "HOLD",
        "canary.gamma.decision": "BACKOUT",
    }


@pytest.mark.parametrize("command", ["decide", "cycle"])
def test_decide_and_cycle_write_junit_grouped_by_tenant(tmp_path: Path, command: str) -> None:
    where = _repo_like(tmp_path)
    args = ["--tenant", "all", "--root", "root", "--date", DATE, "--junitxml", "out/gates.xml"]
    done = run([canary_script(), command, *args], cwd=where)
    assert done.returncode == 3, done.stdout + done.stderr  # gamma backs out
    _assert_grouped_by_tenant(where / "out" / "gates.xml")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_the_pytest_run_writes_the_same_junit_also_under_xdist(
    tmp_path: Path, workers: list[str]
) -> None:
    where = _repo_like(tmp_path)
    args = ["--canary-tenant", "all", "--canary-root", "root", f"--canary-date={DATE}"]
    command = [sys.executable, "-m", "pytest", "-p", "canary", *args, "--junitxml", "j.xml"]
    done = run([*command, *workers], cwd=where)
    assert done.returncode == 1, done.stdout + done.stderr
    _assert_grouped_by_tenant(where / "j.xml")


def test_the_node_ids_keep_their_form(tmp_path: Path) -> None:
    """Only the JUnit class changes: the ids a person selects with stay ``<gates>::<tenant>::<gate>``."""
    where = _repo_like(tmp_path)
    args = ["--canary-tenant", "acme", "--canary-root", "root", f"--canary-date={DATE}"]
    done = run([sys.executable, "-m", "pytest", "-p", "canary", *args, "--co", "-q"], cwd=where)
    assert "gates/mahnwesen.toml::acme::error_rate" in done.stdout.splitlines()
    assert "gates/test_custom.py::test_few_soft_bounces[acme]" in done.stdout.splitlines()
