"""When a GO may raise the quota: pause, freeze windows, promote days, bake time, stale KPIs.

Through ``canary decide`` / ``cycle`` and through a real ``pytest -p canary`` run on the same
files, which must give the same decision with the same id; and through ``canary backtest``.
DATE (2026-11-26) is a Thursday.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from _plugin_fixtures import DATE, TRACE, CanaryRoot, run
from test_cli import EXIT_BACKOUT, EXIT_GO, EXIT_HOLD, EXIT_USAGE, canary, decide, without_time
from test_controls import control, verify


def gates(root: CanaryRoot, text: str) -> str:
    path = root.path.parent / "gates" / "rules.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return str(path.parent)


def promotion(decision: dict[str, Any]) -> dict[str, Any]:
    return next(g for g in decision["gates"] if g["name"] == "promotion")


def same_decision_by_pytest(root: CanaryRoot, tenant: str, folder: str | None) -> dict[str, Any]:
    """Decide ``tenant`` again with a real ``pytest -p canary``; its decision matches decide's."""
    by_cli = without_time(root.decision(tenant))
    root.decision_file(tenant).unlink()
    command = [sys.executable, "-m", "pytest", "-p", "canary", "-p", "no:cacheprovider"]
    command += [f"--canary-root={root.path}", f"--canary-date={DATE}", "--canary-tenant", tenant]
    if folder:
        command.append(f"--canary-gates={folder}")
    run(command, cwd=root.path.parent, env=dict(os.environ))
    by_pytest = without_time(root.decision(tenant))
    assert by_pytest["decision_id"] == by_cli["decision_id"]
    for key in ("decision", "gates", "base", "target", "promotion"):
        assert by_pytest[key] == by_cli[key]
    return by_pytest


@pytest.fixture(autouse=True)
def _fixed_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_TRACE_ID", TRACE)


@pytest.mark.parametrize(
    ("rules", "says"),
    [
        ('freeze = ["2026-11-20..2026-11-30"]', "freeze window 2026-11-20..2026-11-30"),
        ("freeze = [2026-11-26]", "freeze window 2026-11-26"),
        ('promote_days = ["mon", "tue", "wed"]', "thu, not a promote day"),
    ],
)
def test_a_go_in_a_freeze_or_off_a_promote_day_holds(
    canary_root: CanaryRoot, rules: str, says: str
) -> None:
    canary_root.tenant("acme")
    folder = gates(canary_root, f"[canary]\n{rules}\n")
    done = decide(canary_root, "--tenant", "acme", "--gates", folder)
    assert done.returncode == EXIT_HOLD, done.stdout + done.stderr
    decision = same_decision_by_pytest(canary_root, "acme", folder)
    assert decision["decision"] == "HOLD"
    assert promotion(decision)["status"] == "hold"
    assert any(says in reason for reason in decision["reasons"]), decision["reasons"]
    markdown = canary_root.decision_file("acme").with_suffix(".md").read_text()
    assert says in markdown


def test_a_backout_applies_in_a_freeze(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 50}, dlq_depth=37)
    folder = gates(canary_root, '[canary]\nfreeze = ["2026-11-01..2026-12-31"]\n')
    done = decide(canary_root, "--tenant", "acme", "--gates", folder, command="cycle")
    assert done.returncode == EXIT_BACKOUT
    state = canary_root.state()
    assert state is not None and (state["quota"], state["kill_switch"]) == (10, True)


def test_a_tenant_table_overrides_the_freeze(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    canary_root.tenant("beta")
    folder = gates(
        canary_root,
        '[canary]\nfreeze = ["2026-11-26"]\n[tenants.beta.canary]\nfreeze = []\n',
    )
    assert decide(canary_root, "--tenant", "all", "--gates", folder).returncode == EXIT_HOLD
    assert canary_root.decision("acme")["decision"] == "HOLD"
    assert canary_root.decision("beta")["decision"] == "GO_25"


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ('freeze = ["2026-11-30..2026-11-20"]', "canary.freeze"),
        ('freeze = ["soon"]', "canary.freeze"),
        ('promote_days = ["friday"]', "canary.promote_days"),
        ("promote_days = []", "canary.promote_days"),
        ("min_green_days = 0", "canary.min_green_days"),
        ("stale_after_hours = -1", "canary.stale_after_hours"),
        ("min_green_days = true", "min_green_days"),
    ],
)
def test_bad_promotion_rules_are_a_usage_error(
    canary_root: CanaryRoot, rules: str, field: str
) -> None:
    canary_root.tenant("acme")
    folder = gates(canary_root, f"[canary]\n{rules}\n")
    done = decide(canary_root, "--tenant", "acme", "--gates", folder)
    assert done.returncode == EXIT_USAGE and field in done.stderr, done.stderr
    assert not canary_root.decision_file("acme").exists()


def test_a_paused_tenant_holds_and_still_backs_out(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    assert control(canary_root, "pause", note="legal review").returncode == EXIT_GO
    assert decide(canary_root, "--tenant", "acme", command="cycle").returncode == EXIT_HOLD
    decision = same_decision_by_pytest(canary_root, "acme", None)
    assert any("paused by oncall-anna" in r and "legal review" in r for r in decision["reasons"])
    state = canary_root.state()
    assert state is not None and state["quota"] == 25
    canary_root.tenant("acme", state=None, dlq_depth=37)
    assert decide(canary_root, "--tenant", "acme", command="cycle").returncode == EXIT_BACKOUT
    state = canary_root.state()
    assert state is not None and (state["quota"], state["kill_switch"]) == (10, True)
    assert state["pause"] is not None  # a backout does not lift the pause
    verify(canary_root)


def _day(n: int) -> str:
    return f"2026-11-{n:02d}"


def test_the_bake_time_counts_green_days_from_the_recorded_decisions(
    canary_root: CanaryRoot,
) -> None:
    folder = gates(canary_root, "[canary]\nmin_green_days = 3\n")
    for day in (24, 25, 26):
        canary_root.tenant("acme", date=_day(day))
    words = []
    for day in (24, 25, 26):
        done = canary(
            canary_root, "cycle", "--tenant", "acme", "--root", str(canary_root.path),
            "--date", _day(day), "--gates", folder,
        )  # fmt: skip
        words.append((done.returncode, canary_root.decision("acme", _day(day))["decision"]))
    assert words == [(EXIT_HOLD, "HOLD"), (EXIT_HOLD, "HOLD"), (EXIT_GO, "GO_25")]
    held = canary_root.decision("acme", _day(25))
    assert any("green day 2 of 3" in reason for reason in held["reasons"])
    assert held["promotion"]["green_days"] == 2
    same_decision_by_pytest(canary_root, "acme", folder)


def test_a_kill_resets_the_bake_time(canary_root: CanaryRoot) -> None:
    folder = gates(canary_root, "[canary]\nmin_green_days = 2\n")
    for day in (25, 26):
        canary_root.tenant("acme", date=_day(day))
    args = ["--tenant", "acme", "--root", str(canary_root.path), "--gates", folder]
    assert canary(canary_root, "decide", *args, "--date", _day(25)).returncode == EXIT_HOLD
    assert control(canary_root, "kill").returncode == EXIT_GO
    assert control(canary_root, "review").returncode == EXIT_GO
    assert canary(canary_root, "decide", *args, "--date", _day(26)).returncode == EXIT_HOLD
    assert canary_root.decision("acme", _day(26))["promotion"]["green_days"] == 1
    shutil.rmtree(canary_root.path / "acme" / "operate")  # as if the kill never happened
    assert canary(canary_root, "decide", *args, "--date", _day(26)).returncode == EXIT_GO


def test_a_kpi_file_generated_too_long_before_the_run_holds_as_stale(
    canary_root: CanaryRoot,
) -> None:
    canary_root.tenant("acme", generated_at="2026-11-24T07:25:00+01:00")
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_HOLD
    decision = same_decision_by_pytest(canary_root, "acme", None)
    assert any("stale" in reason and "30 h" in reason for reason in decision["reasons"])
    folder = gates(canary_root, "[canary]\nstale_after_hours = 72\n")
    assert decide(canary_root, "--tenant", "acme", "--gates", folder).returncode == EXIT_GO


def test_only_an_older_kpi_file_holds_as_stale(canary_root: CanaryRoot) -> None:
    folder = canary_root.tenant("acme", date="2026-11-25")
    assert not (folder / f"{DATE}.json").exists()
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_HOLD
    reasons = canary_root.decision("acme")["reasons"]
    assert any("missing" in r and "the newest is of 2026-11-25" in r for r in reasons), reasons


def test_the_backtest_honours_freeze_and_bake(canary_root: CanaryRoot, tmp_path: Path) -> None:
    for day in (24, 25, 26):
        canary_root.tenant("acme", date=_day(day), state=None)
    for day in (24, 25, 26):
        canary(
            canary_root, "cycle", "--tenant", "acme", "--root", str(canary_root.path),
            "--date", _day(day),
        )  # fmt: skip
    assert canary_root.decision("acme", _day(26))["decision"] == "GO_100"
    tried = {
        "freeze": '[canary]\nfreeze = ["2026-11-25"]\n',
        "bake": "[canary]\nmin_green_days = 2\n",
    }
    table = {}
    for name, text in tried.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        done = canary(
            canary_root, "backtest", "--tenant", "acme", "--root", str(canary_root.path),
            "--since", _day(24), "--until", _day(26), "--gates", str(path),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        table[name] = done.stdout
    assert f"| acme | {_day(25)} | GO_50 | HOLD |" in table["freeze"]
    assert "promotion" in table["freeze"] and "pass → hold" in table["freeze"]
    # Each recorded day was judged at a new quota: with a bake of 2 every one of them holds.
    for day in (24, 25, 26):
        assert f"| acme | {_day(day)} |" in table["bake"]
