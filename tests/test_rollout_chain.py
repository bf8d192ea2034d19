"""The chain from decision file to state, as an operator (or an attacker) drives the CLI.

A rollout applies only a decision that is true to the state now; a state that disagrees with its
own history is refused by every command, and reported by ``validate``.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from _engine_fixtures import history_entry
from _plugin_fixtures import DATE, CanaryRoot, canary_script, run

EXIT_GO, EXIT_HOLD, EXIT_USAGE, EXIT_BACKOUT, EXIT_REFUSED = 0, 1, 2, 3, 4
EARLIER = "2026-11-25"


def canary(root: CanaryRoot, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``canary <command> --root <root> --tenant acme <args>`` from the folder holding the root."""
    argv = [canary_script(), *command.split(), "--root", str(root.path), "--tenant", "acme", *args]
    return run(argv, cwd=root.path.parent, env=dict(os.environ))


def review(root: CanaryRoot) -> subprocess.CompletedProcess[str]:
    return canary(root, "review", "--by", "oncall-anna", "--note", "DLQ cause fixed")


# --- a GO is stale after any write since it was decided ---------------------------------------


def test_a_go_decided_before_a_later_backout_is_stale(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", date=EARLIER, dlq_depth=37)
    assert canary(canary_root, "cycle", "--date", EARLIER).returncode == EXIT_BACKOUT
    assert review(canary_root).returncode == EXIT_GO
    canary_root.tenant("acme", date=DATE)  # good KPIs the next day
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_GO  # not applied
    canary_root.tenant("acme", date=EARLIER, dlq_depth=80)  # the earlier day, corrected: worse
    assert canary(canary_root, "cycle", "--date", EARLIER).returncode == EXIT_BACKOUT
    backed_out = canary_root.snapshot()

    done = canary(canary_root, "rollout")  # the newest decision: the GO judged before it

    assert done.returncode == EXIT_REFUSED, done.stdout + done.stderr
    assert "stale GO_25 decision" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert canary_root.snapshot() == backed_out  # nothing written, the kill switch stays on
    state = canary_root.state()
    assert state is not None and (state["kill_switch"], state["review"]) == (True, None)


# --- a state at odds with its history ---------------------------------------------------------


def _edited_state(**fields: Any) -> dict[str, Any]:
    """A state one GO_25 into its history (serial 1, to quota 25), with ``fields`` over it."""
    entry = history_entry(serial=1, decision="GO_25", decision_id="ab" * 32)
    return {"quota": 25, "serial": 1, "history": [entry], **fields}


EDITED = [
    ("quota raised by hand", _edited_state(quota=100, serial=0), "field quota is 100"),
    ("serial rewound", _edited_state(serial=0), "field serial is 0"),
    ("kill switch cleared by hand", _edited_state(kill_switch=True), "field kill_switch is true"),
    (
        "a serial skipped",
        _edited_state(
            serial=3,
            history=[
                history_entry(serial=1, decision="GO_25", decision_id="ab" * 32),
                history_entry(serial=3, decision="GO_25", decision_id="cd" * 32),
            ],
        ),
        "serial 3 follows serial 1",
    ),
    ("quota not a step", {"quota": 30}, "quota 30 is not one of the steps"),
]


@pytest.mark.parametrize(("state", "says"), [e[1:] for e in EDITED], ids=[e[0] for e in EDITED])
def test_every_command_refuses_a_state_at_odds_with_its_history(
    canary_root: CanaryRoot, state: dict[str, Any], says: str
) -> None:
    canary_root.tenant("acme", state=state)
    state_bytes = canary_root.state_file().read_bytes()

    decided = canary(canary_root, "decide", "--date", DATE)
    assert decided.returncode == EXIT_HOLD
    recorded = canary_root.decision()
    assert recorded["decision"] == "HOLD"
    assert any(says in reason for reason in recorded["reasons"]), recorded["reasons"]

    for command in (canary(canary_root, "rollout"), review(canary_root)):
        assert command.returncode == EXIT_REFUSED, command.stdout + command.stderr
        assert says in command.stderr
        assert len(command.stderr.strip().splitlines()) == 1

    checked = run(
        [canary_script(), "validate", str(canary_root.state_file())], cwd=canary_root.path
    )
    assert checked.returncode == 1
    assert says in checked.stdout
    assert canary_root.state_file().read_bytes() == state_bytes


def test_a_state_without_history_is_taken_as_written_and_said_so(
    canary_root: CanaryRoot,
) -> None:
    canary_root.tenant("acme", state={"quota": 50, "serial": 4})
    assert canary(canary_root, "cycle", "--date", DATE).returncode == EXIT_GO
    reasons = canary_root.decision()["reasons"]
    assert any("has no history yet: taken as written (quota 50 %" in r for r in reasons)
    state = canary_root.state()
    assert state is not None
    assert (state["quota"], state["serial"]) == (100, 5)
    assert [entry["serial"] for entry in state["history"]] == [5]
    checked = run(
        [canary_script(), "validate", str(canary_root.state_file())], cwd=canary_root.path
    )
    assert checked.returncode == 0, checked.stdout
    assert json.loads(canary_root.state_file().read_text())["history"][0]["from_quota"] == 50


# --- an audit log with a line no reader can parse ---------------------------------------------

NESTED = b"[" * 100_000 + b"]" * 100_000 + b"\n"


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["audit verify"], 1),
        (["review", "--by", "oncall-anna", "--note", "checked"], EXIT_REFUSED),
        (["cycle", "--date", DATE], EXIT_REFUSED),
        (["rollout"], EXIT_REFUSED),
        (["prune", "--today", DATE], EXIT_REFUSED),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else str(value),
)
def test_a_deeply_nested_audit_line_refuses_in_one_line_and_writes_nothing(
    canary_root: CanaryRoot, command: list[str], code: int
) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    if command == ["rollout"]:
        assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_GO
    audit = canary_root.path / "acme" / "canary" / "audit.jsonl"
    audit.parent.mkdir(exist_ok=True)
    audit.write_bytes(NESTED)
    before = _without_lock(canary_root.snapshot())

    done = canary(canary_root, *command)

    assert done.returncode == code, done.stdout + done.stderr
    said = [
        line for line in (done.stdout + done.stderr).splitlines() if "nested too deeply" in line
    ]
    assert len(said) == 1 and "line 1" in said[0], done.stdout + done.stderr
    if command[0] not in ("cycle", "audit verify"):  # those two report in their own summary
        assert done.stderr.count("\n") == 1, done.stderr
    assert _without_lock(canary_root.snapshot()) == before


def _without_lock(files: dict[str, bytes]) -> dict[str, bytes]:
    return {name: data for name, data in files.items() if not name.endswith(".lock")}


# --- thresholds whose backout cannot be written down ------------------------------------------


def test_a_threshold_whose_backout_is_infinite_is_a_usage_error(
    canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary_root.tenant("acme")
    before = canary_root.snapshot()
    monkeypatch.setenv("CANARY_THRESHOLD_RETRY_DEPTH", "1e308")  # doubled: beyond any float

    done = canary(canary_root, "decide", "--date", DATE)

    assert done.returncode == EXIT_USAGE, done.stdout + done.stderr
    said = [line for line in done.stderr.splitlines() if "CANARY_THRESHOLD_RETRY_DEPTH" in line]
    assert len(said) == 1 and "not a finite number" in said[0], done.stderr
    assert canary_root.snapshot() == before


# --- a command killed between its state write and its audit line ------------------------------


@pytest.mark.parametrize("after", ["review", "rollout"])
def test_a_review_killed_after_its_state_write_is_recorded_by_the_next_command(
    canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch, after: str
) -> None:
    canary_root.tenant("acme", state={"quota": 10, "kill_switch": True})
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_HOLD
    monkeypatch.setenv("CANARY_FAULT_POINT", "state:after-rename")
    killed = review(canary_root)
    monkeypatch.delenv("CANARY_FAULT_POINT")
    assert killed.returncode < 0  # SIGKILL: the state is written, its audit line is not
    state = canary_root.state()
    assert state is not None and state["history"][-1]["event"] == "REVIEW"
    assert [line["event"] for line in canary_root.audit()] == ["DECISION"]

    done = review(canary_root) if after == "review" else canary(canary_root, "rollout")

    assert done.returncode == EXIT_GO, done.stderr
    reviews = [line for line in canary_root.audit() if line["event"] == "REVIEW"]
    assert reviews[0]["recovered"] is True
    assert reviews[0]["after"]["serial"] == reviews[0]["serial"] == 1
    assert [line["serial"] for line in reviews] == ([1, 2] if after == "review" else [1])
    verified = canary(canary_root, "audit verify")
    assert verified.returncode == 0, verified.stdout


NEXT_COMMANDS = {
    "review": ("review", "--by", "oncall-anna", "--note", "DLQ cause fixed"),
    "kill": ("kill", "--by", "oncall-anna", "--note", "complaint wave"),
    "pause": ("pause", "--by", "oncall-anna", "--note", "legal review"),
    "resume": ("resume", "--by", "oncall-anna", "--note", "not paused"),
    "rollout": ("rollout",),
}


@pytest.mark.parametrize("command", sorted(NEXT_COMMANDS))
def test_a_rollout_killed_after_its_state_write_is_recorded_by_the_next_command(
    canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    canary_root.tenant("acme", dlq_depth=37)  # a BACKOUT: a review is then accepted too
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_BACKOUT
    monkeypatch.setenv("CANARY_FAULT_POINT", "state:after-rename")
    assert canary(canary_root, "rollout").returncode < 0  # SIGKILL: no rollout log, no audit line
    monkeypatch.delenv("CANARY_FAULT_POINT")
    decided = canary_root.decision()
    log_file = canary_root.path / "acme" / "canary" / f"{DATE}_rollout_log.json"
    assert [line["event"] for line in canary_root.audit()] == ["DECISION"]
    assert not log_file.exists()

    name, *args = NEXT_COMMANDS[command]
    done = canary(canary_root, name, *args)

    assert done.returncode == EXIT_GO, done.stdout + done.stderr
    rollouts = [line for line in canary_root.audit() if line["event"] == "ROLLOUT"]
    recovered = rollouts[0]
    assert (recovered["recovered"], recovered["changed"]) == (True, True)
    assert (recovered["decision_id"], recovered["after"]["serial"]) == (decided["decision_id"], 1)
    assert len(rollouts) == 1  # a rerun of the rollout is that same record, not a second one
    log = json.loads(log_file.read_text())
    assert (log["outcome"], log["decision_id"]) == ("applied", decided["decision_id"])
    assert canary(canary_root, "audit verify").returncode == 0
    timeline = json.loads(canary(canary_root, "history", "--json").stdout)
    assert "BACKOUT" in json.dumps(timeline)


def test_a_prune_after_a_killed_rollout_hides_no_gap_from_the_next_command(
    canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary_root.tenant("acme", dlq_depth=37)
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_BACKOUT
    monkeypatch.setenv("CANARY_FAULT_POINT", "state:after-rename")
    assert canary(canary_root, "rollout").returncode < 0
    monkeypatch.delenv("CANARY_FAULT_POINT")
    assert canary(canary_root, "prune").returncode == 0  # cuts nothing, checkpoints the log
    assert [line["event"] for line in canary_root.audit()] == ["DECISION", "PRUNE"]

    assert review(canary_root).returncode == EXIT_GO

    events = [(line["event"], line.get("recovered")) for line in canary_root.audit()]
    assert events == [("DECISION", None), ("PRUNE", None), ("ROLLOUT", True), ("REVIEW", None)]
    assert canary(canary_root, "audit verify").returncode == 0


def test_a_decide_killed_between_its_renames_gets_its_markdown_from_the_next_rollout(
    canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary_root.tenant("acme")
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_GO
    canary_root.tenant("acme", dlq_depth=37)  # the same day, corrected: a backout
    monkeypatch.setenv("CANARY_FAULT_POINT", "decision:after-rename")
    assert canary(canary_root, "decide", "--date", DATE).returncode < 0  # killed
    monkeypatch.delenv("CANARY_FAULT_POINT")
    recorded = canary_root.decision()
    markdown = canary_root.decision_file().with_suffix(".md")
    assert recorded["decision"] == "BACKOUT"
    assert recorded["decision_id"] not in markdown.read_text()  # the JSON and the Markdown disagree

    assert canary(canary_root, "rollout").returncode == EXIT_GO

    assert f"`{recorded['decision_id']}`" in markdown.read_text()
    assert "BACKOUT" in markdown.read_text().splitlines()[0]


# --- a decision file is applied only when it is true to itself and its inputs ----------------


def _write_decision(root: CanaryRoot, doc: dict[str, Any], date: str = DATE) -> None:
    root.decision_file(date=date).write_text(json.dumps(doc, indent=2))


def _refused_naming(root: CanaryRoot, words: str) -> None:
    before = root.snapshot()
    done = canary(root, "rollout")
    assert done.returncode == EXIT_REFUSED, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert words in done.stderr, done.stderr
    assert "nothing was written" in done.stderr
    assert root.snapshot() == before


def test_a_backout_edited_into_a_go_is_refused(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", date=DATE, dlq_depth=80)
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_BACKOUT
    doc = canary_root.decision()
    doc.update(decision="GO_25", target={"quota": 25, "kill_switch": False})
    doc["kill_switch_recommended"] = False
    _write_decision(canary_root, doc)

    _refused_naming(canary_root, "it says GO_25, but its gate dlq_depth backs out")


def test_a_hold_written_over_a_backout_is_refused(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", date=DATE, dlq_depth=80)
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_BACKOUT
    doc = canary_root.decision()
    doc.update(decision="HOLD", target={"quota": 10, "kill_switch": False})
    _write_decision(canary_root, doc)

    _refused_naming(canary_root, "it says HOLD, but its gate dlq_depth backs out")


def test_a_go_whose_kpi_file_changed_since_is_refused(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", date=DATE)
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_GO
    canary_root.tenant("acme", date=DATE, error_rate=0.019)  # still passing, but not the same

    _refused_naming(canary_root, "its kpis input")


def test_a_go_whose_recorded_gates_were_edited_is_refused(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", date=DATE, error_rate=0.03)  # holds on the error rate
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_HOLD
    doc = canary_root.decision()
    for gate in doc["gates"]:
        gate["status"] = "pass"
    doc.update(decision="GO_25", target={"quota": 25, "kill_switch": False}, reasons=[])
    _write_decision(canary_root, doc)

    _refused_naming(canary_root, "its gate error_rate says pass (0.03), deciding again gives hold")


def test_a_go_with_a_forged_decision_id_is_refused(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", date=DATE)
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_GO
    doc = canary_root.decision()
    doc["decision_id"] = "0" * 64
    _write_decision(canary_root, doc)

    _refused_naming(canary_root, "decision_id is not the hash")


def test_a_go_for_a_day_without_a_kpi_file_is_refused(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", date=DATE)
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_GO
    (canary_root.path / "acme" / f"{DATE}.json").unlink()

    _refused_naming(canary_root, "is gone since it was decided")


def test_a_true_go_is_applied(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", date=DATE)
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_GO

    done = canary(canary_root, "rollout")

    assert done.returncode == EXIT_GO, done.stdout + done.stderr
    state = canary_root.state()
    assert state is not None and state["quota"] == 25


def test_a_consistent_backout_is_applied_even_when_its_inputs_changed(
    canary_root: CanaryRoot,
) -> None:
    canary_root.tenant("acme", date=DATE, dlq_depth=80)
    assert canary(canary_root, "decide", "--date", DATE).returncode == EXIT_BACKOUT
    canary_root.tenant("acme", date=DATE)  # the KPIs look fine now: backing out is still safe

    done = canary(canary_root, "rollout")

    assert done.returncode == EXIT_GO, done.stdout + done.stderr
    state = canary_root.state()
    assert state is not None and (state["quota"], state["kill_switch"]) == (10, True)
