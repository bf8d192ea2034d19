"""``make demo``: the daily cycle on the bundled demo tenants, on a scratch copy of their data.

acme climbs a step (GO_50), beta holds on its error rate, gamma backs out on its DLQ, delta
holds on too little volume, and epsilon, whose KPIs are good, holds because an operator paused it
(``canary pause``) before the run. The copy lives in ``.demo/`` (ignored by git), so the tree stays
clean.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SCRATCH = REPO / ".demo"
DEMO_DATE = "2026-11-26"
EXPECTED = {
    "acme": "GO_50",
    "beta": "HOLD",
    "gamma": "BACKOUT",
    "delta": "HOLD",
    "epsilon": "HOLD",
}
PAUSED_KPIS = {
    "tenant": "epsilon",
    "date": DEMO_DATE,
    "notices_sent": 1200,
    "error_rate": 0.003,
    "hard_bounces": 4,
    "dlq_depth": 1,
    "retry_depth": 9,
}


def _pause(root: Path) -> None:
    """A tenant with good KPIs that an operator paused: its GO is held, its quota stays."""
    folder = root / "epsilon"
    folder.mkdir()
    (folder / f"{DEMO_DATE}.json").write_text(json.dumps(PAUSED_KPIS), encoding="utf-8")
    command = [
        sys.executable, "-m", "pytest_canary.cli", "pause", "--tenant", "epsilon",
        f"--root={root}", "--by", "demo-operator", "--note", "legal review of the new reminder text",
    ]  # fmt: skip
    print("$ canary", " ".join(command[3:]), flush=True)
    subprocess.check_call(command, cwd=REPO)


def main() -> int:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    root = SCRATCH / "root"
    shutil.copytree(HERE / "data", root)
    _pause(root)
    command = [
        sys.executable, "-m", "pytest", "-p", "canary", "-p", "no:cacheprovider",
        "--canary-tenant", "all", f"--canary-root={root}", f"--canary-date={DEMO_DATE}",
        f"--canary-gates={REPO / 'gates'}", "--canary-rollout",
        "--junitxml", str(SCRATCH / "junit.xml"), "-rN",
    ]  # fmt: skip
    print("$", " ".join(command[2:]), flush=True)
    code = subprocess.call(command, cwd=REPO)
    if code not in (0, 1):  # 0: all GO; 1: some not GO; anything else decided nothing
        print(
            f"demo: pytest exited {code} and decided nothing (its output is above)", file=sys.stderr
        )
        return code
    print(f"\npytest exited {code} (1: at least one tenant is not GO, as intended here)\n")
    seen = {}
    for tenant in sorted(EXPECTED):
        decision = json.loads((root / tenant / "canary" / f"{DEMO_DATE}_decision.json").read_text())
        state_file = root / tenant / "operate" / "operate_state.json"
        state = json.loads(state_file.read_text()) if state_file.exists() else decision["base"]
        seen[tenant] = decision["decision"]
        switch = "on" if state["kill_switch"] else "off"
        paused = " (paused)" if state.get("pause") else ""
        print(
            f"{tenant:7} {decision['decision']:8} quota now {state['quota']:3} %,"
            f" kill switch {switch}{paused}"
        )
    print(f"\nfiles written under {root.relative_to(REPO)}/<tenant>/canary/ and operate/")
    if seen != EXPECTED:
        print(f"demo: unexpected decisions {seen}, expected {EXPECTED}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
