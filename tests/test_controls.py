"""``canary kill``, ``pause``, ``resume`` and the review's refusal, through the console script.

Each command on a real root: exit code, state, history, the control log, the audit chain
(``canary audit verify`` passes afterwards), idempotence and refusals on a corrupt state.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from _plugin_fixtures import CanaryRoot
from test_cli import EXIT_GO, EXIT_REFUSED, EXIT_USAGE, canary, decide


def control(
    root: CanaryRoot, command: str, tenant: str = "acme", by: str = "oncall-anna", note: str = "x"
) -> subprocess.CompletedProcess[str]:
    return canary(
        root, command, "--tenant", tenant, "--root", str(root.path), "--by", by, "--note", note
    )


def verify(root: CanaryRoot, tenant: str = "acme") -> None:
    done = canary(root, "audit", "verify", "--tenant", tenant, "--root", str(root.path))
    assert done.returncode == 0, done.stdout + done.stderr


def files(root: CanaryRoot) -> dict[str, bytes]:
    """The root's files, but the state lock (taking it creates its file, which is no write)."""
    return {k: v for k, v in root.snapshot().items() if not k.endswith(".lock")}


def control_logs(root: CanaryRoot, tenant: str, action: str) -> list[dict[str, object]]:
    folder = root.path / tenant / "canary"
    return [json.loads(p.read_text()) for p in sorted(folder.glob(f"*_{action}_log.json"))]


def test_kill_backs_out_at_once_and_a_second_kill_changes_nothing(
    canary_root: CanaryRoot,
) -> None:
    canary_root.tenant("acme", state={"quota": 50, "serial": 0})
    done = control(canary_root, "kill", note="complaint wave")
    assert done.returncode == EXIT_GO, done.stderr
    state = canary_root.state()
    assert state is not None
    assert (state["quota"], state["kill_switch"], state["serial"]) == (10, True, 1)
    entry = state["history"][-1]
    assert (entry["event"], entry["by"], entry["note"]) == ("KILL", "oncall-anna", "complaint wave")
    assert (entry["serial"], entry["from_quota"], entry["to_quota"]) == (1, 50, 10)
    assert entry["kill_switch"] is True and len(entry["trace_id"]) == 32
    before = canary_root.state_file().read_bytes()

    again = control(canary_root, "kill", note="complaint wave")
    assert again.returncode == EXIT_GO and "changed=false" in again.stdout
    assert canary_root.state_file().read_bytes() == before
    audit = canary_root.audit()
    assert [(a["event"], a["changed"]) for a in audit] == [("KILL", True), ("KILL", False)]
    (log,) = control_logs(canary_root, "acme", "kill")
    assert log["changed"] is True  # the unchanged second kill does not replace the applied log
    verify(canary_root)


def test_kill_needs_no_decision_and_works_with_invalid_kpis(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", kpis="{not json")
    assert control(canary_root, "kill").returncode == EXIT_GO
    state = canary_root.state()
    assert state is not None and (state["quota"], state["kill_switch"]) == (10, True)


def test_kill_all_stops_every_tenant_with_one_audit_line_each(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    canary_root.tenant("beta", state={"quota": 100})
    canary_root.tenant("gamma")
    assert control(canary_root, "kill", tenant="all").returncode == EXIT_GO
    for tenant in ("acme", "beta", "gamma"):
        state = canary_root.state(tenant)
        assert state is not None and (state["quota"], state["kill_switch"]) == (10, True)
        assert [a["event"] for a in canary_root.audit(tenant)] == ["KILL"]
        verify(canary_root, tenant)


def test_kill_all_goes_on_past_a_corrupt_state_and_exits_4(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state="{")
    canary_root.tenant("beta", state={"quota": 50})
    done = control(canary_root, "kill", tenant="all")
    assert done.returncode == EXIT_REFUSED
    assert "acme" in done.stderr and canary_root.state_file("acme").read_text() == "{"
    beta = canary_root.state("beta")
    assert beta is not None and (beta["quota"], beta["kill_switch"]) == (10, True)


@pytest.mark.parametrize("command", ["kill", "pause", "resume"])
def test_controls_refuse_a_corrupt_state_and_leave_it(
    canary_root: CanaryRoot, command: str
) -> None:
    canary_root.tenant("acme", state='{"schema_version": 1, "tenant": "acme", "quota": "25"}')
    before = files(canary_root)
    done = control(canary_root, command)
    assert done.returncode == EXIT_REFUSED
    assert len(done.stderr.strip().splitlines()) == 1
    assert files(canary_root) == before


@pytest.mark.parametrize(
    ("by", "note", "option"),
    [("", "x", "--by"), ("me", "two\nlines", "--note"), ("a@example.org", "x", "--by")],
)
@pytest.mark.parametrize("command", ["kill", "pause", "resume"])
def test_controls_validate_by_and_note_as_review_does(
    canary_root: CanaryRoot, command: str, by: str, note: str, option: str
) -> None:
    canary_root.tenant("acme")
    before = files(canary_root)
    done = control(canary_root, command, by=by, note=note)
    assert done.returncode == EXIT_USAGE and option in done.stderr
    assert files(canary_root) == before


def test_pause_holds_the_quota_and_resume_lifts_it(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    assert control(canary_root, "pause", note="legal review").returncode == EXIT_GO
    state = canary_root.state()
    assert state is not None and state["quota"] == 25 and state["pause"]["by"] == "oncall-anna"
    assert "changed=false" in control(canary_root, "pause").stdout
    assert control(canary_root, "resume", note="done").returncode == EXIT_GO
    state = canary_root.state()
    assert state is not None and state["pause"] is None and state["serial"] == 2
    assert [h["event"] for h in state["history"]] == ["PAUSE", "RESUME"]
    assert "changed=false" in control(canary_root, "resume").stdout
    assert [a["event"] for a in canary_root.audit()] == ["PAUSE", "PAUSE", "RESUME", "RESUME"]
    verify(canary_root)


def test_review_is_refused_when_the_kill_switch_is_off(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    before = files(canary_root)
    done = control(canary_root, "review")
    assert done.returncode == EXIT_REFUSED and "nothing to review" in done.stderr
    assert files(canary_root) == before


def test_a_kill_makes_a_go_decided_before_it_stale(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_GO
    assert control(canary_root, "kill").returncode == EXIT_GO
    done = canary(canary_root, "rollout", "--tenant", "acme", "--root", str(canary_root.path))
    assert done.returncode == EXIT_REFUSED and "stale" in done.stderr
    state = canary_root.state()
    assert state is not None and (state["quota"], state["kill_switch"]) == (10, True)


def test_a_pause_makes_a_go_decided_before_it_stale(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_GO
    assert control(canary_root, "pause").returncode == EXIT_GO
    done = canary(canary_root, "rollout", "--tenant", "acme", "--root", str(canary_root.path))
    assert done.returncode == EXIT_REFUSED and "paused" in done.stderr


def test_validate_accepts_the_control_logs(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    for command in ("pause", "kill", "resume"):
        assert control(canary_root, command).returncode == EXIT_GO
    done = canary(canary_root, "validate", str(canary_root.path / "acme" / "canary"))
    assert done.returncode == EXIT_GO, done.stdout
    assert "3 file(s) checked, 0 invalid" in done.stdout


def test_history_lists_every_change_and_ends_with_the_consistency_line(
    canary_root: CanaryRoot,
) -> None:
    canary_root.tenant("acme")
    assert decide(canary_root, "--tenant", "acme", command="cycle").returncode == EXIT_GO
    for command, note in (("pause", "legal"), ("resume", "done"), ("kill", "complaints")):
        assert control(canary_root, command, note=note).returncode == EXIT_GO
    assert control(canary_root, "review", note="cause fixed").returncode == EXIT_GO
    done = canary(canary_root, "history", "--tenant", "acme", "--root", str(canary_root.path))
    assert done.returncode == EXIT_GO, done.stderr
    lines = done.stdout.splitlines()
    events = [line.split()[3].rstrip(":") for line in lines[:-1]]
    assert events == ["GO_25", "PAUSE", "RESUME", "KILL", "REVIEW"]
    assert "by oncall-anna" in lines[3] and "complaints" in lines[3] and "trace" in lines[3]
    assert "[no audit line]" not in done.stdout
    assert lines[-1] == (
        "acme: state consistent with its history"
        " (5 entries, serials rising by one, the last one matches)"
    )
    as_json = json.loads(
        canary(
            canary_root, "history", "--tenant", "acme", "--root", str(canary_root.path), "--json"
        ).stdout
    )
    assert as_json["consistent"] is True and len(as_json["events"]) == 5


def test_history_names_a_state_edited_by_hand(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    assert control(canary_root, "kill").returncode == EXIT_GO
    path = canary_root.state_file()
    state = json.loads(path.read_text())
    state["quota"] = 50  # edited by hand: the history says 10
    path.write_text(json.dumps(state))
    done = canary(canary_root, "history", "--tenant", "acme", "--root", str(canary_root.path))
    assert done.returncode == 1
    assert "NOT consistent" in done.stdout.splitlines()[-1]
    assert "field quota is 50, but the last history entry" in done.stdout


def test_status_shows_paused_killed_frozen_and_baking_apart(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    canary_root.tenant("beta")
    assert control(canary_root, "pause", tenant="acme").returncode == EXIT_GO
    assert control(canary_root, "kill", tenant="beta").returncode == EXIT_GO
    folder = canary_root.path.parent / "gates"
    folder.mkdir()
    (folder / "rules.toml").write_text('[canary]\nfreeze = ["2026-11-26"]\nmin_green_days = 2\n')
    canary_root.tenant("gamma")
    assert decide(canary_root, "--tenant", "gamma", "--gates", str(folder)).returncode == 1
    done = canary(
        canary_root, "status", "--all", "--root", str(canary_root.path),
        "--today", "2026-11-26", "--gates", str(folder), "--json",
    )  # fmt: skip
    rows = {row["tenant"]: row["controls"] for row in json.loads(done.stdout)}
    assert rows["acme"] == ["PAUSED by oncall-anna", "FROZEN (freeze window 2026-11-26)"]
    assert rows["beta"] == ["KILLED by oncall-anna", "FROZEN (freeze window 2026-11-26)"]
    assert rows["gamma"] == ["FROZEN (freeze window 2026-11-26)", "BAKING 1 of 2"]
