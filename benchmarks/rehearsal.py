"""``make bench``, the daily workflow at scale: discovery, gates and the apply step at 10,000 tenants.

The apply and push steps of canary-daily.yml, run as the workflow runs them (``apply-and-push.sh
apply``, then ``push``) in a git checkout of a generated root, against a bare remote. The gates
run first (one pytest run with ``-n 2``, timed for its CPU only): they make the decisions the
apply step reads.
The targets: the apply step under 2 minutes on a 2-core machine, and its CPU time at most 1.5x the
CPU time of the pytest run that decided the same tenants.

    .venv/bin/python benchmarks/rehearsal.py                 # 10,000 tenants
    .venv/bin/python benchmarks/rehearsal.py --tenants 1000  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / ".github" / "scripts"
BIN = Path(sys.executable).parent
ROOT = "artifacts/reports/mahnwesen"
TARGET_SECONDS = 120.0
TARGET_CPU_RATIO = 1.5


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANARY_", "GITHUB_"))}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    return {**env, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
            **extra}  # fmt: skip


def _timed(
    cmd: list[str], cwd: Path, env: dict[str, str], codes: tuple[int, ...] = (0,)
) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (with children) and the output of one run; fails loudly."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in codes:
        raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{output[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, output


def _git(cwd: Path, *args: str) -> None:
    done = subprocess.run(["git", *args], cwd=cwd, env=_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench: git {' '.join(args)}: {done.stderr.strip()}")


def _discover(work: Path) -> tuple[int, int]:
    out = work.parent / "discover.out"
    env = _env(CANARY_ROOT=ROOT, CANARY_DATE=generate.DATE, GITHUB_OUTPUT=str(out))
    subprocess.run(
        [sys.executable, str(SCRIPTS / "discover-tenants.py")],
        cwd=work, env=env, check=True, capture_output=True,
    )  # fmt: skip
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    return len(json.loads(outputs["shards"])), out.stat().st_size


def _stage_decisions(work: Path, downloaded: Path) -> int:
    """Move the decisions out of the checkout, as the gate jobs upload them."""
    count = 0
    for decision in (work / ROOT).glob(f"*/canary/{generate.DATE}_decision.json"):
        tenant = decision.parent.parent.name
        (downloaded / "decisions" / tenant).mkdir(parents=True)
        for path in (decision, decision.with_suffix(".md")):
            shutil.move(path, downloaded / "decisions" / tenant / path.name)
        count += 1
    for folder in (work / ROOT).glob("*/canary"):
        shutil.rmtree(folder)  # audit lines of deciding: not in a fresh checkout
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument(
        "--tmp", default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None,
        help="where the generated repository goes (default: /dev/shm when writable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="canary-rehearsal-", dir=args.tmp) as name:
        tmp = Path(name)
        work = tmp / "work"
        generated = generate.make_root(tmp / "gen", args.tenants)
        (work / ROOT).parent.mkdir(parents=True)
        shutil.move(generated, work / ROOT)
        shutil.copytree(SCRIPTS, work / ".github" / "scripts")
        _git(tmp, "init", "--quiet", "-b", "main", str(work))
        _git(work, "add", "-A")
        _git(work, "commit", "--quiet", "-m", "generated tenants")
        _git(tmp, "clone", "--quiet", "--bare", str(work), str(tmp / "remote.git"))
        _git(work, "remote", "add", "origin", str(tmp / "remote.git"))
        shards, output_bytes = _discover(work)

        pytest = [sys.executable, "-m", "pytest", "-p", "canary", "-p", "no:cacheprovider", "-q",
                  "-n", "2", "--canary-tenant", "all", f"--canary-root={ROOT}",
                  f"--canary-date={generate.DATE}"]  # fmt: skip
        # 1: some gates fail (HOLD and BACKOUT tenants), as in every daily run
        gates, gates_cpu, _ = _timed(pytest, work, _env(), codes=(0, 1))
        decided = _stage_decisions(work, tmp / "canary-in")
        if decided != args.tenants:
            raise SystemExit(f"bench: {decided} decisions for {args.tenants} tenants")

        out = tmp / "canary-applied"
        step = ["bash", str(SCRIPTS / "apply-and-push.sh")]
        env = _env(CANARY_ROOT=ROOT, CANARY_DECISIONS=str(tmp / "canary-in"), CANARY_OUT=str(out))
        apply_wall, apply_cpu, _ = _timed([*step, "apply"], work, env)
        push_wall, _, _ = _timed([*step, "push"], work, {**env, "CANARY_BRANCH": "main"})
        rows = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]

    outcomes = Counter(r["outcome"] for r in rows)
    cpu_ratio = apply_cpu / gates_cpu
    met = apply_wall < TARGET_SECONDS and cpu_ratio <= TARGET_CPU_RATIO
    jobs = 1 + shards + 2  # discover, the gate shards, results and apply
    print(f"rehearsal at {args.tenants:,} tenants ({os.cpu_count()} CPUs):")
    print(f"  discovery: {shards} gate shards, {jobs} jobs in all, outputs {output_bytes} bytes")
    print(f"  gates (one pytest -n 2 run, deciding): {gates:.0f} s wall, {gates_cpu:.1f} s CPU")
    print(f"  apply step: {apply_wall:.1f} s wall (target < {TARGET_SECONDS:.0f} s): "
          f"{'met' if apply_wall < TARGET_SECONDS else 'NOT MET'}")  # fmt: skip
    print(f"  apply step CPU vs deciding CPU: {apply_cpu:.1f} s / {gates_cpu:.1f} s = "
          f"{cpu_ratio:.2f}x (target <= {TARGET_CPU_RATIO}x): "
          f"{'met' if cpu_ratio <= TARGET_CPU_RATIO else 'NOT MET'}")  # fmt: skip
    print(f"  push step: {push_wall:.1f} s; outcomes {dict(sorted(outcomes.items()))}")
    return 0 if met and not outcomes["refused"] else 1


if __name__ == "__main__":
    sys.exit(main())
