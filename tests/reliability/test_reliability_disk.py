"""Campaign 6, disk faults: a write that fails leaves the old state, one clear line, exit 4.

Real faults where this machine can make them (as root, ``chmod`` stops nothing, so a read-only
folder is a read-only bind mount and a full disk a small tmpfs, both in an unprivileged user and
mount namespace via ``unshare -rm``), a file-size limit (``RLIMIT_FSIZE``, EFBIG), and store/faults.py's
test-only fault injection (``CANARY_FAULT_POINT=<label>:enospc``) for the rest.
"""

from __future__ import annotations

import hashlib
import resource
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from _reliability import (
    FULL,
    KPI_DATE,
    canary_script,
    clean_env,
    crashed,
    dump,
    make_tenant,
    real_decision,
    record,
    snapshot,
    state_doc,
)

from pytest_canary.ops.rollout import DEFAULT_STEPS
from pytest_canary.store.audit import verify_audit
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.readers import load_state

DATE = KPI_DATE.isoformat()


def _namespaces() -> bool:
    """Whether ``unshare -rm`` can mount here (a container may forbid it)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt 2>/dev/null"],
        capture_output=True,
    )
    return probe.returncode == 0


NAMESPACES = _namespaces()


@dataclass
class Outcome:
    what: str
    code: int
    out: str
    err: str
    state_intact: bool


def _tenant(base: Path, command: str = "rollout") -> Path:
    """A tenant with the decision ``canary decide`` makes from its files; for a review, a state
    with the kill switch on (a review is refused when there is no BACKOUT to re-enter from)."""
    root = base / "root"
    make_tenant(root, "acme", state=state_doc(quota=25, kill_switch=command == "review"))
    (root / "acme" / "canary").mkdir()
    (root / "acme" / "canary" / f"{DATE}_decision.json").write_bytes(dump(real_decision(root)))
    return root


def _commands(root: str) -> dict[str, list[str]]:
    return {
        "rollout": ["rollout", "--tenant", "acme", "--root", root],
        "review": [
            "review",
            "--tenant",
            "acme",
            "--root",
            root,
            "--by",
            "ops",
            "--note",
            "checked",
        ],
        "cycle": ["cycle", "--tenant", "acme", "--root", root, "--date", DATE],
        "decide": ["decide", "--tenant", "acme", "--root", root, "--date", DATE],
    }


def _injected(base: Path, command: str, point: str) -> Outcome:
    root = _tenant(base, command)
    state = root / "acme" / "operate" / "operate_state.json"
    before = snapshot(state)
    proc = subprocess.run(
        [canary_script(), *_commands("root")[command]],
        cwd=base,
        env=clean_env(CANARY_FAULT_POINT=point),
        capture_output=True,
        text=True,
        timeout=300,
    )
    what = f"{command}, injected {point}"
    return Outcome(what, proc.returncode, proc.stdout, proc.stderr, snapshot(state) == before)


def _file_size_limit(base: Path, command: str) -> Outcome:
    """A real EFBIG: the process may not write files larger than a few bytes."""
    root = _tenant(base, command)
    state = root / "acme" / "operate" / "operate_state.json"
    before = snapshot(state)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    proc = subprocess.run(
        [canary_script(), *_commands("root")[command]],
        cwd=base,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
    )
    what = f"{command}, file size limit (EFBIG)"
    return Outcome(what, proc.returncode, proc.stdout, proc.stderr, snapshot(state) == before)


_IN_NAMESPACE = {
    # Fill a small tmpfs, then run: a real "No space left on device".
    "full": """
        mount -t tmpfs -o size=512k tmpfs "$MNT" && cp -a "$SRC/." "$MNT/" &&
        (dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null; true) &&
        sha256sum "$MNT/root/acme/operate/operate_state.json" | cut -c1-64 > "$OUT/before" &&
        (cd "$MNT" && "$@" > "$OUT/stdout" 2> "$OUT/stderr"; echo $? > "$OUT/code") &&
        sha256sum "$MNT/root/acme/operate/operate_state.json" | cut -c1-64 > "$OUT/after"
    """,
    # The tenant's folders read-only (a read-only bind mount), the state file beside them.
    "read-only": """
        cp -a "$SRC/." "$MNT/" &&
        for d in operate canary; do
          mount --bind "$MNT/root/acme/$d" "$MNT/root/acme/$d" &&
          mount -o remount,bind,ro "$MNT/root/acme/$d" "$MNT/root/acme/$d" || exit 9; done &&
        sha256sum "$MNT/root/acme/operate/operate_state.json" | cut -c1-64 > "$OUT/before" &&
        (cd "$MNT" && "$@" > "$OUT/stdout" 2> "$OUT/stderr"; echo $? > "$OUT/code") &&
        sha256sum "$MNT/root/acme/operate/operate_state.json" | cut -c1-64 > "$OUT/after"
    """,
}


def _real(base: Path, command: str, fault: str) -> Outcome:
    src, mnt, out = base / "src", base / "mnt", base / "out"
    for folder in (src, mnt, out):
        folder.mkdir()
    _tenant(src, command)
    (src / "root" / "acme" / "operate" / "operate_state.json.lock").touch()
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", _IN_NAMESPACE[fault], "sh", canary_script()]
        + _commands("root")[command],
        env=clean_env(SRC=str(src), MNT=str(mnt), OUT=str(out)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    intact = (out / "before").read_text() == (out / "after").read_text()
    code = int((out / "code").read_text())
    what = f"{command}, real {'full disk (tmpfs)' if fault == 'full' else 'read-only folder'}"
    return Outcome(what, code, (out / "stdout").read_text(), (out / "stderr").read_text(), intact)


def _one_clear_line(outcome: Outcome) -> bool:
    """One line on stderr naming the trouble (the cycle's is its summary line on stdout)."""
    words = ("No space left", "Read-only file system", "File too large", "cannot")
    lines = outcome.err.strip().splitlines()
    if outcome.what.startswith(("cycle", "decide")):
        marks = ("not written", "rollout refused")
        lines = [line for line in outcome.out.splitlines() if any(m in line for m in marks)]
    return len(lines) == 1 and any(word in lines[0] for word in words)


CASES: list[tuple[str, Callable[[Path], Outcome]]] = [
    ("rollout-state-enospc", lambda b: _injected(b, "rollout", "state:enospc")),
    ("review-state-enospc", lambda b: _injected(b, "review", "state:enospc")),
    ("cycle-state-enospc", lambda b: _injected(b, "cycle", "state:enospc")),
    ("cycle-decision-enospc", lambda b: _injected(b, "cycle", "decision:enospc")),
    ("rollout-efbig", lambda b: _file_size_limit(b, "rollout")),
    ("review-efbig", lambda b: _file_size_limit(b, "review")),
    ("cycle-efbig", lambda b: _file_size_limit(b, "cycle")),
]
REAL_CASES: list[tuple[str, Callable[[Path], Outcome]]] = [
    (f"{command}-{fault}", lambda b, c=command, f=fault: _real(b, c, f))
    for fault in ("full", "read-only")
    for command in ("rollout", "review", "cycle")
]


QUICK = {
    "rollout-state-enospc",
    "cycle-state-enospc",
    "review-efbig",
    "rollout-full",
    "cycle-read-only",
}


def test_failed_writes_keep_the_old_state_and_say_so_in_one_line(tmp_path: Path) -> None:
    cases = CASES + (REAL_CASES if NAMESPACES else [])
    if not FULL:  # a sample: each kind of fault once
        cases = [c for c in cases if c[0] in QUICK]
    outcomes = []
    for name, run in cases:
        base = tmp_path / name
        base.mkdir()
        outcomes.append(run(base))
    bad_exit = [o.what for o in outcomes if o.code != 4]
    unclear = [o.what for o in outcomes if not _one_clear_line(o)]
    changed = [o.what for o in outcomes if not o.state_intact]
    tracebacks = [o.what for o in outcomes if crashed(o.out, o.err)]
    record(
        "6-disk-faults",
        "Disk faults (a write fails)",
        [
            ("failed writes", len(outcomes), ""),
            (
                "  real (read-only bind mount, full tmpfs, RLIMIT_FSIZE)",
                sum(1 for o in outcomes if "injected" not in o.what),
                "",
            ),
            ("  by fault injection (ENOSPC)", sum(1 for o in outcomes if "injected" in o.what), ""),
            ("old state not intact", len(changed), "0"),
            ("exit other than 4", len(bad_exit), "0"),
            ("not one clear line", len(unclear), "0"),
            ("tracebacks", len(tracebacks), "0"),
        ],
        problems=[
            f"{o.what}: exit {o.code}, intact {o.state_intact}: {o.err.strip()[-300:]} {o.out[-300:]}"
            for o in outcomes
            if o.what in {*bad_exit, *unclear, *changed, *tracebacks}
        ],
    )
    assert tracebacks == []
    assert changed == []
    assert bad_exit == [], [(o.what, o.code, o.err[-300:]) for o in outcomes if o.code != 4]
    assert unclear == [], [(o.what, o.err, o.out[-500:]) for o in outcomes if o.what in unclear]


def test_a_log_that_cannot_be_written_after_the_state_is_completed_by_the_next_rollout(
    tmp_path: Path,
) -> None:
    """The state is the commit point: when only the log fails, exit 4 says so, and a re-run
    writes the missing log and audit line without changing the state again."""
    root = _tenant(tmp_path)
    argv = [canary_script(), *_commands("root")["rollout"]]
    first = subprocess.run(
        argv,
        cwd=tmp_path,
        env=clean_env(CANARY_FAULT_POINT="rolloutlog:enospc"),
        capture_output=True,
        text=True,
    )
    paths = TenantPaths.open(root, "acme")
    state = load_state(paths, DEFAULT_STEPS)
    assert first.returncode == 4
    assert first.stderr.count("\n") == 1
    assert "the state was written (serial 1)" in first.stderr
    assert "run the rollout again" in first.stderr
    assert state is not None and (state.quota, state.serial) == (50, 1)
    second = subprocess.run(argv, cwd=tmp_path, env=clean_env(), capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    after = load_state(paths, DEFAULT_STEPS)
    assert after == state
    assert paths.rollout_json(KPI_DATE).exists()
    assert verify_audit(paths.audit).ok


@pytest.mark.skipif(not NAMESPACES, reason="unshare -rm cannot mount here")
def test_a_read_only_operate_folder_refuses_the_rollout_in_one_line(tmp_path: Path) -> None:
    """Regression: filelock's OSError on a read-only folder escaped as a traceback."""
    outcome = _real(tmp_path, "rollout", "read-only")
    assert outcome.code == 4
    assert outcome.err.startswith("canary rollout: refused: acme: cannot take the state lock")
    assert "Read-only file system" in outcome.err
    assert outcome.err.count("\n") == 1
    assert outcome.state_intact


_ = hashlib
