"""``make demo``: the daily cycle on the bundled demo tenants, on a scratch copy of their data.

acme climbs a step (GO_50), beta holds on its error rate, gamma backs out on its DLQ and delta
holds on too little volume. The copy lives in ``.demo/`` (ignored by git), so the tree stays clean.
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
EXPECTED = {"acme": "GO_50", "beta": "HOLD", "gamma": "BACKOUT", "delta": "HOLD"}


def main() -> int:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    root = SCRATCH / "root"
    shutil.copytree(HERE / "data", root)
    command = [
        sys.executable, "-m", "pytest", "-p", "canary", "-p", "no:cacheprovider",
        "--canary-tenant", "all", f"--canary-root={root}", f"--canary-date={DEMO_DATE}",
        f"--canary-gates={REPO / 'gates'}", "--canary-rollout",
        "--junitxml", str(SCRATCH / "junit.xml"), "-rN",
    ]  # fmt: skip
    print("$", " ".join(command[2:]), flush=True)
    code = subprocess.call(command, cwd=REPO)
    print(f"\npytest exited {code} (1: at least one tenant is not GO, as intended here)\n")
    seen = {}
    for tenant in sorted(EXPECTED):
        decision = json.loads((root / tenant / "canary" / f"{DEMO_DATE}_decision.json").read_text())
        state_file = root / tenant / "operate" / "operate_state.json"
        state = json.loads(state_file.read_text()) if state_file.exists() else decision["base"]
        seen[tenant] = decision["decision"]
        switch = "on" if state["kill_switch"] else "off"
        print(
            f"{tenant:6} {decision['decision']:8} quota now {state['quota']:3} %, kill switch {switch}"
        )
    print(f"\nfiles written under {root.relative_to(REPO)}/<tenant>/canary/ and operate/")
    if seen != EXPECTED:
        print(f"demo: unexpected decisions {seen}, expected {EXPECTED}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
