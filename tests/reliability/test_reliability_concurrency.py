"""Campaign 3, concurrency: many real ``canary`` processes at once on one root.

50 processes roll out the same decision: exactly one reports ``changed=true``. Ten tenants run
their daily cycle at once: all applied, an eleventh is not disturbed. A rollout or review that
cannot get the lock gives up after its timeout: exit 4 and one clear line, state untouched.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from _reliability import (
    KPI_DATE,
    canary_script,
    clean_env,
    crashed,
    decision_dump,
    dump,
    make_tenant,
    real_decision,
    record,
    size,
    snapshot,
    state_doc,
    tree_digest,
)
from filelock import FileLock

from pytest_canary.ops.rollout import DEFAULT_STEPS
from pytest_canary.store.audit import read_audit, verify_audit
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.readers import load_state

DATE = KPI_DATE.isoformat()


def _start(argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [canary_script(), *argv],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_fifty_rollouts_of_one_decision_change_the_state_once(tmp_path: Path) -> None:
    count = size(8, 50)
    root = tmp_path / "root"
    make_tenant(root, "acme", state=state_doc(quota=25))
    file = root / "acme" / "canary" / f"{DATE}_decision.json"
    file.parent.mkdir()
    file.write_bytes(dump(real_decision(root)))
    argv = ["rollout", "--tenant", "acme", "--root", "root", "--lock-timeout", "300"]
    procs = [_start(argv, tmp_path) for _ in range(count)]
    outcomes: Counter[str] = Counter()
    problems = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0 or crashed(out, err):
            problems.append(f"exit {proc.returncode}: {err.strip()[-300:]}")
        outcomes["changed=true" if "changed=true" in out else "changed=false"] += 1
    paths = TenantPaths.open(root, "acme")
    state = load_state(paths, DEFAULT_STEPS)
    assert state is not None
    applied = [
        line
        for line in read_audit(paths.audit)
        if line.get("event") == "ROLLOUT" and line.get("changed") is True
    ]
    record(
        "3a-concurrency-one-decision",
        f"Concurrency: {count} processes roll out one decision",
        [
            ("processes", count, "50 (full)"),
            ("changed=true", outcomes["changed=true"], "1"),
            ("changed=false", outcomes["changed=false"], f"{count - 1}"),
            ("failed or crashed", len(problems), "0"),
            ("history entries added", len(state.history), "1"),
            ("applied audit lines", len(applied), "1"),
        ],
    )
    assert problems == []
    assert outcomes["changed=true"] == 1
    assert (state.quota, state.serial, len(state.history)) == (50, 1, 1)
    assert len(applied) == 1
    assert verify_audit(paths.audit).ok


def test_ten_tenants_at_once_are_all_applied_and_none_disturbed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    tenants = [f"t{i:02d}" for i in range(size(4, 10))]
    for tenant in [*tenants, "bystander"]:
        make_tenant(root, tenant, state=state_doc(tenant, quota=25))
    untouched = tree_digest(root / "bystander")
    procs = {
        tenant: _start(["cycle", "--tenant", tenant, "--root", "root", "--date", DATE], tmp_path)
        for tenant in tenants
    }
    problems = []
    applied = 0
    for tenant, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0 or crashed(out, err):
            problems.append(f"{tenant}: exit {proc.returncode}: {(err or out).strip()[-300:]}")
        state = load_state(TenantPaths.open(root, tenant), DEFAULT_STEPS)
        assert state is not None
        if state.quota == 50 and len(state.history) == 1 and state.tenant == tenant:
            applied += 1
        audit = read_audit(TenantPaths.open(root, tenant).audit)
        if {line["tenant"] for line in audit} != {tenant}:
            problems.append(f"{tenant}: audit lines of another tenant")
    disturbed = tree_digest(root / "bystander") != untouched
    record(
        "3b-concurrency-tenants",
        f"Concurrency: {len(tenants)} tenants' cycles at once",
        [
            ("tenants applied", applied, str(len(tenants))),
            ("failed, crashed or crossed", len(problems), "0"),
            ("bystander tenant disturbed", int(disturbed), "0"),
        ],
    )
    assert problems == []
    assert applied == len(tenants)
    assert not disturbed


def test_a_held_lock_refuses_with_exit_4_and_one_line(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_tenant(root, "acme", state=state_doc(quota=25))
    file = root / "acme" / "canary" / f"{DATE}_decision.json"
    file.parent.mkdir()
    file.write_bytes(decision_dump())
    paths = TenantPaths.open(root, "acme")
    before = snapshot(paths.state)
    commands = {
        "rollout": ["rollout", "--tenant", "acme", "--root", "root", "--lock-timeout", "0.5"],
        "review": [
            "review", "--tenant", "acme", "--root", "root", "--by", "ops", "--note", "checked",
            "--lock-timeout", "0.5",
        ],
    }  # fmt: skip
    results = {}
    with FileLock(str(paths.lock)):
        for name, argv in commands.items():
            proc = subprocess.run(
                [canary_script(), *argv],
                cwd=tmp_path,
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            results[name] = proc
    good = sum(
        1
        for proc in results.values()
        if proc.returncode == 4
        and len(proc.stderr.strip().splitlines()) == 1
        and "locked by another rollout" in proc.stderr
    )
    record(
        "3c-concurrency-lock-timeout",
        "Concurrency: lock held elsewhere",
        [
            ("commands that timed out on the lock", len(results), ""),
            ("  exit 4 with one clear line", good, str(len(results))),
            ("  state changed", int(snapshot(paths.state) != before), "0"),
        ],
    )
    for proc in results.values():
        assert proc.returncode == 4, proc.stderr
        assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
        assert "acme: state is locked by another rollout (waited 0.5s)" in proc.stderr
    assert snapshot(paths.state) == before
