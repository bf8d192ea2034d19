"""canary status: each tenant's quota, kill switch, review, last decision, last GO and KPI age."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _plugin_fixtures import CanaryRoot, canary_script, run

TODAY = "2026-11-26"
SHA = "a" * 64
TRACE = "0123456789abcdef0123456789abcdef"


def _history(decision: str, kpi_date: str, at: str, serial: int) -> dict[str, Any]:
    quota = {"GO_25": 25, "GO_50": 50}.get(decision, 10)
    return {
        "serial": serial,
        "at": at,
        "event": "ROLLOUT",
        "decision": decision,
        "decision_id": SHA,
        "kpi_date": kpi_date,
        "trace_id": TRACE,
        "base": {"quota": 10, "kill_switch": False, "review": None},
        "from_quota": 10,
        "to_quota": quota,
        "kill_switch": decision == "BACKOUT",
        "reasons": [],
    }


def _decision(root: Path, tenant: str, date: str, verdict: str) -> None:
    """A decision file as ``canary decide`` writes it (only the fields status reads matter)."""
    target = {"GO_25": 25, "GO_50": 50}.get(verdict, 10)
    decision = {
        "schema_version": 1,
        "tenant": tenant,
        "date": date,
        "decision": verdict,
        "decision_id": SHA,
        "trace_id": TRACE,
        "created_at": f"{date}T07:30:00+01:00",
        "steps": [10, 25, 50, 100],
        "base": {"quota": 10, "kill_switch": False, "serial": 0, "review": None},
        "target": {"quota": target, "kill_switch": verdict == "BACKOUT"},
        "kill_switch_recommended": verdict == "BACKOUT",
        "reasons": [] if verdict.startswith("GO_") else [f"{verdict}: a gate"],
        "gates": [],
        "thresholds": {},
        "inputs": [],
    }
    path = root / tenant / "canary" / f"{date}_decision.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(decision))


def _status(root: Path, *args: str) -> tuple[int, str, str]:
    done = run(
        [canary_script(), "status", "--root", str(root), "--today", TODAY, *args],
        cwd=root.parent,
    )
    return done.returncode, done.stdout, done.stderr


def _fleet(canary_root: CanaryRoot) -> None:
    """acme went to 25 % six days ago; gamma backed out and waits for a review."""
    canary_root.tenant(
        "acme",
        date=TODAY,
        state={
            "quota": 25,
            "serial": 1,
            "history": [_history("GO_25", "2026-11-20", "2026-11-20T07:35:00+01:00", 1)],
        },
    )
    _decision(canary_root.path, "acme", "2026-11-19", "HOLD")
    _decision(canary_root.path, "acme", "2026-11-26", "HOLD")
    canary_root.tenant(
        "gamma",
        date="2026-11-25",
        state={
            "quota": 10,
            "kill_switch": True,
            "serial": 1,
            "history": [_history("BACKOUT", "2026-11-25", "2026-11-25T07:35:00+01:00", 1)],
        },
    )
    _decision(canary_root.path, "gamma", "2026-11-25", "BACKOUT")


def test_status_table_shows_where_each_tenant_stands(canary_root: CanaryRoot) -> None:
    _fleet(canary_root)

    code, out, err = _status(canary_root.path, "--all")

    assert (code, err) == (0, "")
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert " ".join(rows["acme"].split()) == (
        "acme 25 % off - HOLD 2026-11-26 6 d ago (2026-11-20) 2026-11-26 (0 d) -"
    )
    assert " ".join(rows["gamma"].split()) == (
        "gamma 10 % on PENDING BACKOUT 2026-11-25 never 2026-11-25 (1 d) -"
    )
    assert "WARNING" not in out


def test_a_look_back_shows_what_came_after_the_day_without_a_negative_age(
    canary_root: CanaryRoot,
) -> None:
    _fleet(canary_root)

    code, out, _ = _status(canary_root.path, "--all", "--today", "2026-11-19")

    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert " ".join(rows["acme"].split()) == (
        "acme 25 % off - HOLD 2026-11-26 2026-11-20 (after --today) 2026-11-26 (after --today) -"
    )
    assert " d ago" not in out and "(-" not in out, out
    assert code == 0, out


def test_status_json_carries_every_field(canary_root: CanaryRoot) -> None:
    _fleet(canary_root)

    code, out, _ = _status(canary_root.path, "--tenant", "gamma", "--json")

    assert code == 0
    [gamma] = json.loads(out)
    assert gamma["tenant"] == "gamma"
    assert (gamma["quota"], gamma["kill_switch"], gamma["pending_review"]) == (10, True, True)
    assert (gamma["last_decision"], gamma["last_decision_date"]) == ("BACKOUT", "2026-11-25")
    assert gamma["days_since_go"] is None and gamma["warnings"] == []
    assert (gamma["newest_kpi_date"], gamma["kpi_age_days"]) == ("2026-11-25", 1)


def test_a_review_clears_the_pending_flag(canary_root: CanaryRoot) -> None:
    review = {"by": "M. Muster", "note": "DLQ fixed", "at": "2026-11-25T09:00:00+01:00"}
    canary_root.tenant("gamma", date=TODAY, state={"kill_switch": True, "review": review})

    _, out, _ = _status(canary_root.path, "--tenant", "gamma", "--json")
    assert json.loads(out)[0]["pending_review"] is False

    _, out, _ = _status(canary_root.path, "--tenant", "gamma")
    assert out.splitlines()[1].split()[3:5] == ["on", "recorded"]


def test_a_stale_kpi_file_is_a_warning_and_exit_1(canary_root: CanaryRoot) -> None:
    _fleet(canary_root)
    canary_root.tenant("beta", date="2026-11-24")

    code, out, _ = _status(canary_root.path, "--all")

    assert code == 1
    assert out.splitlines()[-1] == (
        "WARNING beta: newest KPI file 2026-11-24.json is 2 days old"
        " (today is 2026-11-26 in Europe/Berlin): a silent upstream failure?"
    )
    assert "WARNING acme" not in out and "WARNING gamma" not in out


def test_a_tenant_without_any_kpi_file_is_a_warning(canary_root: CanaryRoot) -> None:
    (canary_root.path / "newco").mkdir()

    code, out, _ = _status(canary_root.path, "--tenant", "newco", "--json")

    assert code == 1
    [newco] = json.loads(out)
    assert newco["state"] == "missing" and newco["quota"] == 10
    assert "no KPI file at all" in newco["warnings"][0]


def test_corrupt_state_and_decision_are_shown_as_such(canary_root: CanaryRoot) -> None:
    _fleet(canary_root)
    canary_root.state_file("acme").write_text('{"tenant": "acme", "quota": ')
    _decision(canary_root.path, "gamma", "2026-11-26", "HOLD")
    (canary_root.path / "gamma" / "canary" / "2026-11-26_decision.json").write_text("[]")

    code, out, err = _status(canary_root.path, "--all")

    assert code == 1 and err == ""
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if not line.startswith("WARN")}
    assert rows["acme"].split()[1:4] == ["CORRUPT", "?", "?"]
    assert "HOLD 2026-11-26" in rows["acme"]  # the rest of the row still shows
    assert rows["gamma"].split()[5] == "CORRUPT"
    assert "WARNING acme: state file corrupt: " in out and "operate_state.json: not JSON" in out
    assert "WARNING gamma: decision file corrupt: " in out and "2026-11-26_decision.json" in out
    assert "nothing was written" not in out  # the file's problem, not a rollout's refusal


def test_an_unknown_tenant_is_a_usage_error(canary_root: CanaryRoot) -> None:
    _fleet(canary_root)

    code, out, err = _status(canary_root.path, "--tenant", "acmee")

    assert code == 2 and out == ""
    assert err.startswith("canary status: error: unknown tenant 'acmee'")
    assert err.count("\n") == 1
