"""``canary rollout --tenant all``: many tenants in one process, each under its own lock.

Driven through the console script on real roots; the decisions are made by ``canary decide``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from _plugin_fixtures import DATE, CanaryRoot
from test_cli import EXIT_BACKOUT, EXIT_GO, EXIT_REFUSED, EXIT_USAGE, canary, decide, rollout


def _report(path: Path) -> dict[str, dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {line["tenant"]: line for line in lines}


def _three(root: CanaryRoot) -> None:
    root.tenant("acme", state={"quota": 25})  # GO_50
    root.tenant("beta", error_rate=0.031, state={"quota": 25})  # HOLD
    root.tenant("gamma", dlq_depth=37, state={"quota": 50})  # BACKOUT
    assert decide(root, "--tenant", "all").returncode == EXIT_BACKOUT


def test_rollout_all_applies_every_tenant_once_and_repeating_it_changes_nothing(
    canary_root: CanaryRoot, tmp_path: Path
) -> None:
    _three(canary_root)
    report = tmp_path / "applied.jsonl"

    done = rollout(canary_root, "--tenant", "all", "--report", str(report))

    assert done.returncode == EXIT_GO, done.stdout + done.stderr
    assert "canary rollout: 3 tenant(s): 2 applied, 1 unchanged, 0 refused" in done.stdout
    outcomes = {t: (r["decision"], r["outcome"], r["changed"]) for t, r in _report(report).items()}
    assert outcomes == {
        "acme": ("GO_50", "applied", True),
        "beta": ("HOLD", "unchanged", False),
        "gamma": ("BACKOUT", "applied", True),
    }
    gamma = canary_root.state("gamma")
    assert gamma is not None and (gamma["quota"], gamma["kill_switch"]) == (10, True)
    states = {t: canary_root.state_file(t).read_bytes() for t in ("acme", "beta", "gamma")}

    again = rollout(canary_root, "--tenant", "all", "--report", str(report))

    assert again.returncode == EXIT_GO
    assert {r["outcome"] for r in _report(report).values()} == {"unchanged"}
    assert {t: canary_root.state_file(t).read_bytes() for t in states} == states


def test_one_refused_tenant_does_not_stop_the_others(
    canary_root: CanaryRoot, tmp_path: Path
) -> None:
    _three(canary_root)
    canary_root.tenant("beta", state="not json")  # corrupt after deciding
    canary_root.tenant("delta")  # no decision at all
    report = tmp_path / "applied.jsonl"

    done = rollout(canary_root, "--tenant", "all", "--report", str(report))

    assert done.returncode == EXIT_REFUSED
    lines = _report(report)
    assert [lines[t]["outcome"] for t in ("acme", "beta", "delta", "gamma")] == [
        "applied", "refused", "refused", "applied"
    ]  # fmt: skip
    assert (lines["beta"]["decision"], lines["beta"]["date"]) == ("HOLD", DATE)
    assert "operate_state.json" in lines["beta"]["reason"]
    assert "canary decide" in lines["delta"]["reason"]
    assert canary_root.state_file("beta").read_text() == "not json"
    assert "4 tenant(s): 2 applied, 0 unchanged, 2 refused" in done.stdout


def test_rollout_of_a_decisions_folder_copies_each_in_and_names_a_refused_backout(
    canary_root: CanaryRoot, tmp_path: Path
) -> None:
    _three(canary_root)
    downloaded = tmp_path / "downloaded"
    for tenant in ("acme", "gamma"):
        shutil.copytree(canary_root.path / tenant / "canary", downloaded / tenant)
        shutil.rmtree(canary_root.path / tenant / "canary")
    (downloaded / "zeta").mkdir()  # a tenant without a folder under the root
    shutil.copy(downloaded / "acme" / f"{DATE}_decision.json", downloaded / "zeta")
    canary_root.tenant("gamma", state="{")  # the BACKOUT cannot be applied
    report = tmp_path / "applied.jsonl"

    done = rollout(
        canary_root, "--tenant", "all", "--decisions", str(downloaded), "--report", str(report)
    )

    assert done.returncode == EXIT_REFUSED, done.stdout + done.stderr
    lines = _report(report)
    assert sorted(lines) == ["acme", "gamma", "zeta"]  # beta is not in the folder
    assert (lines["acme"]["outcome"], lines["acme"]["date"]) == ("applied", DATE)
    assert (canary_root.path / "acme" / "canary" / f"{DATE}_decision.md").is_file()
    assert lines["gamma"]["decision"] == "BACKOUT"
    assert (lines["gamma"]["outcome"], lines["gamma"]["date"]) == ("refused", DATE)
    assert "unknown tenant 'zeta'" in lines["zeta"]["reason"]
    assert not (canary_root.path / "zeta").exists()


def test_a_single_tenant_of_a_decisions_folder(canary_root: CanaryRoot, tmp_path: Path) -> None:
    _three(canary_root)
    downloaded = tmp_path / "downloaded"
    for tenant in ("acme", "gamma"):
        shutil.copytree(canary_root.path / tenant / "canary", downloaded / tenant)

    done = rollout(canary_root, "--tenant", "gamma", "--decisions", str(downloaded))

    assert done.returncode == EXIT_GO, done.stdout + done.stderr
    assert "1 tenant(s): 1 applied" in done.stdout
    acme = canary_root.state("acme")
    assert acme is not None and acme["quota"] == 25


def _usage(root: CanaryRoot, *args: str) -> subprocess.CompletedProcess[str]:
    done = rollout(root, *args)
    assert done.returncode == EXIT_USAGE, done.stdout + done.stderr
    return done


def test_batch_usage_errors_name_the_option(canary_root: CanaryRoot, tmp_path: Path) -> None:
    canary_root.tenant("acme")
    missing = str(tmp_path / "missing")
    assert "--decisions" in _usage(canary_root, "--tenant", "all", "--decisions", missing).stderr
    file = str(canary_root.decision_file("acme"))
    assert (
        "--decision-file" in _usage(canary_root, "--tenant", "all", "--decision-file", file).stderr
    )
    assert "--report" in _usage(canary_root, "--tenant", "acme", "--report", "x.jsonl").stderr


def test_cycle_all_decides_and_applies_every_tenant_in_one_run(canary_root: CanaryRoot) -> None:
    _three(canary_root)  # decided once already: the cycle decides again, the same decisions
    done = decide(canary_root, "--tenant", "all", command="cycle")
    assert done.returncode == EXIT_BACKOUT, done.stdout + done.stderr
    states = {t: canary_root.state(t) for t in ("acme", "beta", "gamma")}
    assert {t: (s or {})["quota"] for t, s in states.items()} == {
        "acme": 50,
        "beta": 25,
        "gamma": 10,
    }
    assert canary(canary_root, "rollout", "--help").returncode == 0
