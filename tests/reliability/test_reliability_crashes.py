"""Campaign 2, crashes: SIGKILL the rollout at random moments and at every write step.

Each round rolls out a fresh decision (GO up the ladder, BACKOUT at the top) in a worker process
and kills it: after a random delay, or at a ``CANARY_FAULT_POINT`` (store/faults.py, the
test-only fault injection, where the process kills itself). After every kill: the state file parses and is the
state before or the state after (never a mix), its history lost nothing, the audit log verifies
(a torn last line only where the store's verifier tolerates it), and the next rollout finishes
the job or reports ``changed=false``, with the state then holding the decision exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from _reliability import (
    HERE,
    KPI_DATE,
    STEPS,
    clean_env,
    dump,
    good_kpis,
    make_tenant,
    real_decision,
    record,
    size,
    state_doc,
)

from pytest_canary.core.models import OperateState
from pytest_canary.core.records import Decision
from pytest_canary.ops import review, rollout
from pytest_canary.ops.rollout import DEFAULT_STEPS
from pytest_canary.store.atomic import TEMP_PREFIX
from pytest_canary.store.audit import read_audit, split_audit, verify_audit
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.readers import load_state
from pytest_canary.store.settings import now_berlin

FAULT_POINTS = [
    f"{label}:{step}"
    for label in ("state", "rolloutlog", "rolloutlog-md")
    for step in ("after-write", "after-fsync", "after-rename")
] + ["audit:after-write"]


class Lane:
    """One tenant under its own root, rolled out and killed round after round."""

    def __init__(self, base: Path, name: str, seed: int) -> None:
        self.root = base / name
        make_tenant(self.root, "acme", state=state_doc(quota=10))
        self.paths = TenantPaths.open(self.root, "acme")
        self.rng = random.Random(seed)
        self.round = 0
        self.tally: Counter[str] = Counter()
        self.problems: list[str] = []
        self.max_delay: float | None = None  # set by the first round, which is not killed

    def _spawn(self, fault: str | None) -> subprocess.Popen[str]:
        env = clean_env()
        if fault:
            env["CANARY_FAULT_POINT"] = fault
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "_crash_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        return proc

    def _next_decision(self, state: OperateState) -> Decision:
        """The real decision from this round's KPIs: GO up the ladder, BACKOUT at the top."""
        self.round += 1
        date = KPI_DATE + dt.timedelta(days=self.round)
        top = state.quota == STEPS[-1]
        kpis = good_kpis(date=date, dlq_depth=80) if top else good_kpis(date=date)
        self.paths.kpi(date).write_bytes(dump(kpis))
        made = Decision.model_validate(real_decision(self.root, date=date, created_at=now_berlin()))
        expected = "BACKOUT" if top else f"GO_{STEPS[STEPS.index(state.quota) + 1]}"
        assert made.decision == expected, made.reasons
        return made

    def run(self, rounds: int, fault: str | None = None) -> None:
        for _ in range(rounds):
            self.one(fault)

    def one(self, fault: str | None) -> None:
        current = load_state(self.paths, DEFAULT_STEPS)
        if current is not None and current.kill_switch:
            # After a BACKOUT a GO needs a review first (else the decision is a HOLD).
            review.record_review(self.paths, by="ops", note="checked", now=now_berlin())
        before_bytes = self.paths.state.read_bytes()
        before = load_state(self.paths, DEFAULT_STEPS)
        assert before is not None
        made = self._next_decision(before)
        file = self.root / f"decision-{self.round}.json"
        file.write_bytes(dump(made.model_dump(mode="json")))
        proc = self._spawn(fault)
        assert proc.stdin is not None
        proc.stdin.write(f"{self.root}\tacme\t{file}\n")
        proc.stdin.flush()
        started = time.monotonic()
        if fault is None and self.max_delay is not None:
            try:
                proc.wait(timeout=self.rng.uniform(0.0, self.max_delay))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=120)
        killed = proc.returncode == -signal.SIGKILL
        if fault is None and self.max_delay is None:
            # Calibration: how long one rollout takes here; kills land within 1.2 times that.
            self.max_delay = 1.2 * (time.monotonic() - started)
            self.tally["calibration rounds (not killed)"] += 1
        else:
            self.tally["kills" if killed else "finished before the kill"] += 1
        if fault is not None and not killed:
            self.problems.append(f"{fault}: not reached (exit {proc.returncode})")
        self.check(made, before, before_bytes, f"round {self.round} ({fault or 'random'})")

    def check(self, made: Decision, before: OperateState, before_bytes: bytes, where: str) -> None:
        tally, problems = self.tally, self.problems
        try:
            now = load_state(self.paths, DEFAULT_STEPS)
        except Exception as exc:
            tally["state unreadable"] += 1
            problems.append(f"{where}: state does not parse: {exc}")
            return
        assert now is not None
        after_shape = (
            now.serial == before.serial + 1
            and now.history[:-1] == before.history
            and now.history[-1].decision_id == made.decision_id
            and now.quota == made.target.quota
        )
        if self.paths.state.read_bytes() == before_bytes:
            tally["state = before"] += 1
        elif after_shape:
            tally["state = after"] += 1
        else:
            tally["state mixed"] += 1
            problems.append(f"{where}: state is neither before nor after")
        if now.history[: len(before.history)] != before.history:
            tally["history lost"] += 1
            problems.append(f"{where}: history lost an entry")
        self._check_audit(where)
        # The next rollout finishes the job or reports changed=false.
        try:
            log = rollout.apply_decision(self.paths, made, now=now_berlin(), steps=STEPS)
        except Exception as exc:
            tally["next rollout failed"] += 1
            problems.append(f"{where}: the next rollout failed: {exc}")
            return
        tally["next: changed=true" if log.changed else "next: changed=false"] += 1
        final = load_state(self.paths, DEFAULT_STEPS)
        assert final is not None
        ids = [h.decision_id for h in final.history]
        if ids.count(made.decision_id) != 1 or final.history[:-1] != before.history:
            tally["next rollout did not finish"] += 1
            problems.append(f"{where}: after the next rollout the history is {ids[-3:]}")
        applied = [
            line
            for line in read_audit(self.paths.audit)
            if line.get("decision_id") == made.decision_id and line.get("changed") is True
        ]
        if not applied:
            tally["change not audited"] += 1
            problems.append(f"{where}: no applied audit line after the next rollout")
        if list(self.paths.operate_dir.glob(f"{TEMP_PREFIX}*")):
            tally["temporary files left"] += 1
            problems.append(f"{where}: temporary files left beside the state")
        self._check_audit(where + " after the next rollout")

    def _check_audit(self, where: str) -> None:
        data = self.paths.audit.read_bytes() if self.paths.audit.exists() else b""
        lines, torn = split_audit(data)
        broken = 0
        for raw in lines:
            try:
                json.loads(raw)
            except ValueError:
                broken += 1
        verdict = verify_audit(self.paths.audit)
        if torn is not None or broken:
            self.tally["torn audit lines seen (tolerated by verify)"] += 1
        if not verdict.ok:
            self.tally["audit lines incomplete"] += 1
            self.problems.append(f"{where}: audit log does not verify: {verdict.problem}")


def _lanes(tmp_path: Path, count: int, prefix: str) -> list[Lane]:
    return [Lane(tmp_path, f"{prefix}{i}", seed=1000 + i) for i in range(count)]


def _run_parallel(lanes: list[Lane], work: list[list[str | None]]) -> None:
    errors: list[BaseException] = []

    def target(lane: Lane, faults: list[str | None]) -> None:
        try:
            for fault in faults:
                lane.one(fault)
        except BaseException as exc:  # surfaced below, with the lane's name
            errors.append(exc)

    threads = [
        threading.Thread(target=target, args=(lane, faults))
        for lane, faults in zip(lanes, work, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _summary(lanes: list[Lane]) -> tuple[Counter[str], list[str]]:
    tally: Counter[str] = Counter()
    problems: list[str] = []
    for lane in lanes:
        tally.update(lane.tally)
        problems.extend(f"{lane.root.name}: {p}" for p in lane.problems)
    return tally, problems


_VIOLATIONS = (
    "state unreadable",
    "state mixed",
    "history lost",
    "audit lines incomplete",
    "next rollout failed",
    "next rollout did not finish",
    "change not audited",
    "temporary files left",
)


def _rows(tally: Counter[str], what: str) -> list[tuple[str, int | float, str]]:
    rows: list[tuple[str, int | float, str]] = [
        (what, tally["kills"] + tally["finished before the kill"], ""),
        (
            "  calibration rounds (not killed, not counted here)",
            tally["calibration rounds (not killed)"],
            "",
        ),
        ("  killed mid-run (SIGKILL)", tally["kills"], ""),
        ("  finished before the kill came", tally["finished before the kill"], ""),
        (
            "  state = before / state = after",
            f"{tally['state = before']} / {tally['state = after']}",
            "",
        ),  # type: ignore[list-item]
        (
            "  next rollout: changed=true / changed=false",
            f"{tally['next: changed=true']} / {tally['next: changed=false']}",  # type: ignore[list-item]
            "",
        ),
        (
            "  torn audit lines seen (tolerated by verify)",
            tally["torn audit lines seen (tolerated by verify)"],
            "",
        ),
    ]
    rows += [(f"  {name}", tally[name], "0") for name in _VIOLATIONS]
    return rows


def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    rounds = size(12, 1000)
    lanes = _lanes(tmp_path, 4, "random")
    per_lane = [1 + rounds // 4 + (1 if i < rounds % 4 else 0) for i in range(4)]
    _run_parallel(lanes, [[None] * n for n in per_lane])
    tally, problems = _summary(lanes)
    record(
        "2a-crash-random",
        "Crashes: SIGKILL after a random delay",
        _rows(tally, "rollouts killed"),
        problems,
    )
    assert not problems, "\n".join(problems[:40])
    assert tally["kills"] + tally["finished before the kill"] == rounds
    assert tally["kills"] > 0


def test_sigkill_at_every_write_step_loses_nothing(tmp_path: Path) -> None:
    reps = size(1, 20)
    work = [point for point in FAULT_POINTS for _ in range(reps)]
    lanes = _lanes(tmp_path, 2, "fault")
    _run_parallel(lanes, [list(work[0::2]), list(work[1::2])])
    tally, problems = _summary(lanes)
    rows = _rows(tally, f"rollouts killed at a fault point ({len(FAULT_POINTS)} points)")
    record("2b-crash-fault-points", "Crashes: SIGKILL at each write step", rows, problems)
    assert not problems, "\n".join(problems[:40])
    assert tally["kills"] == len(work)
