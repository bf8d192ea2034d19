"""Concurrent rollouts of one tenant serialize: real processes, one applies, the rest see it done."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from _rollout_fixtures import decision, open_tenant, write_state
from pytest_canary.core import jsonfile
from pytest_canary.ops.rollout import DEFAULT_STEPS
from pytest_canary.store.audit import verify_audit
from pytest_canary.store.readers import load_state

WORKERS = 8

# Each worker imports everything first, then waits for the start file, so the applies overlap.
_WORKER = """
import datetime as dt, json, sys, time
from pathlib import Path
from pytest_canary.core.errors import RolloutRefused
from pytest_canary.ops.rollout import apply_decision, load_decision
from pytest_canary.store.layout import TenantPaths
root, file, start = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
paths = TenantPaths.open(root, "acme")
made = load_decision(file)
deadline = time.monotonic() + 60
while not start.exists() and time.monotonic() < deadline:
    time.sleep(0.001)
log = apply_decision(paths, made, now=made.created_at + dt.timedelta(minutes=5), lock_timeout=60)
print(json.dumps({"changed": log.changed, "outcome": log.outcome}))
"""


def test_concurrent_rollouts_apply_a_decision_exactly_once(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    write_state(paths, serial=7)
    made = decision(serial=7)
    file = tmp_path / "decision.json"
    file.write_bytes(jsonfile.model_bytes(made))
    start = tmp_path / "start"
    args = [sys.executable, "-c", _WORKER, str(paths.root), str(file), str(start)]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(WORKERS)
    ]
    time.sleep(1.0)  # let the interpreters start and import before the gate opens
    start.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["outcome"] for r in results) == ["applied"] + ["unchanged"] * (WORKERS - 1)
    assert sum(r["changed"] for r in results) == 1
    state = load_state(paths, DEFAULT_STEPS)
    assert state is not None
    assert state.serial == 8
    assert [(h.serial, h.decision_id) for h in state.history] == [(8, made.decision_id)]
    assert state.quota == 25
    rollouts = [
        json.loads(line)
        for line in paths.audit.read_text().splitlines()
        if json.loads(line)["event"] == "ROLLOUT"
    ]
    assert len(rollouts) == WORKERS
    assert sum(line["changed"] for line in rollouts) == 1
    verdict = verify_audit(paths.audit)
    assert verdict.ok and verdict.lines == WORKERS
    assert json.loads(paths.rollout_json(made.date).read_text())["outcome"] == "applied"
    assert not list(paths.dir.rglob(".tmp-*"))
