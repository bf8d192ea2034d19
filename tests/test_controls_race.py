"""``canary kill`` racing a running ``canary cycle`` of the same tenant: two real processes.

The cycle is paused by fault injection at a point where it has read the state; the kill runs in
the middle; then the cycle goes on. The state lock decides the order, and either way the end is
one consistent story: the kill is never lost, the GO is refused as stale or applied before the
kill, and the history, the audit log, ``canary history`` and ``canary status`` all tell it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from _plugin_fixtures import DATE, CanaryRoot, canary_script, run

EXIT_GO, EXIT_REFUSED = 0, 4
KILL = ("kill", "--by", "oncall-anna", "--note", "complaint wave")


def _argv(root: CanaryRoot, *args: str) -> list[str]:
    return [canary_script(), *args, "--root", str(root.path), "--tenant", "acme"]


def _paused_cycle(root: CanaryRoot, step: str, faults: Path) -> subprocess.Popen[str]:
    """``canary cycle`` started and stopped at ``step``, once it has got there."""
    env = {**os.environ, "CANARY_FAULT_POINT": f"{step}@pause", "CANARY_FAULT_DIR": str(faults)}
    cycle = subprocess.Popen(
        _argv(root, "cycle", "--date", DATE),
        cwd=root.path.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (faults / f"{step}.paused").exists():
        assert cycle.poll() is None, cycle.communicate()
        assert time.monotonic() < deadline, "the cycle never reached its pause"
        time.sleep(0.01)
    return cycle


def _finish(cycle: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = cycle.communicate(timeout=120)
    assert "Traceback" not in out + err, out + err
    return cycle.returncode, out + err


def _canary(root: CanaryRoot, *args: str) -> subprocess.CompletedProcess[str]:
    return run(_argv(root, *args), cwd=root.path.parent, env=dict(os.environ))


def _assert_killed_and_told(root: CanaryRoot, events: list[str]) -> None:
    state = root.state()
    assert state is not None
    assert (state["quota"], state["kill_switch"], state["review"]) == (10, True, None)
    assert [entry["event"] for entry in state["history"]] == events
    assert [entry["serial"] for entry in state["history"]] == list(range(1, len(events) + 1))
    audited = [line["event"] for line in root.audit() if line["event"] != "DECISION"]
    assert audited == events
    assert _canary(root, "audit", "verify").returncode == 0
    history = json.loads(_canary(root, "history", "--json").stdout)
    assert history["consistent"] is True and history["problems"] == []
    told = [event["event"] for event in history["events"]]
    assert told[-1] == "KILL" and all(event["audited"] for event in history["events"])
    assert len(told) == len(events)
    status = _canary(root, "status", "--today", DATE)
    assert "KILLED by oncall-anna" in status.stdout, status.stdout


def test_a_kill_while_the_cycle_decides_makes_its_go_stale(
    canary_root: CanaryRoot, tmp_path: Path
) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    cycle = _paused_cycle(canary_root, "state:after-read", tmp_path)  # decided on quota 25

    killed = _canary(canary_root, *KILL)  # no lock is held while deciding: it goes first
    (tmp_path / "state:after-read.go").touch()
    code, said = _finish(cycle)

    assert killed.returncode == EXIT_GO, killed.stdout + killed.stderr
    assert code == EXIT_REFUSED, said
    assert "stale GO_50 decision" in said
    assert canary_root.decision()["decision"] == "GO_50"  # recorded, never applied
    assert [line["event"] for line in canary_root.audit()] == ["KILL", "DECISION"]
    _assert_killed_and_told(canary_root, ["KILL"])


def test_a_kill_while_the_cycle_holds_the_lock_waits_and_comes_after_its_go(
    canary_root: CanaryRoot, tmp_path: Path
) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    cycle = _paused_cycle(canary_root, "state:after-locked-read", tmp_path)
    kill = subprocess.Popen(
        _argv(canary_root, *KILL),
        cwd=canary_root.path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)  # time enough for the kill to start and reach the lock
    assert kill.poll() is None  # it waits for the lock the paused rollout holds

    (tmp_path / "state:after-locked-read.go").touch()
    code, said = _finish(cycle)
    out, err = kill.communicate(timeout=120)

    assert code == EXIT_GO, said
    assert kill.returncode == EXIT_GO, out + err
    assert "quota 50 % → 10 %" in out  # it killed the state the GO had left
    assert [line["event"] for line in canary_root.audit()] == ["DECISION", "ROLLOUT", "KILL"]
    _assert_killed_and_told(canary_root, ["ROLLOUT", "KILL"])


@pytest.mark.parametrize("step", ["state:after-read", "state:after-locked-read"])
def test_a_paused_step_goes_on_unchanged_when_released(
    canary_root: CanaryRoot, tmp_path: Path, step: str
) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    cycle = _paused_cycle(canary_root, step, tmp_path)
    (tmp_path / f"{step}.go").touch()
    code, said = _finish(cycle)
    assert code == EXIT_GO, said
    state = canary_root.state()
    assert state is not None and state["quota"] == 50
