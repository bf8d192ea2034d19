"""A rollout that waits for its cue: imports first, says ``ready``, then rolls out on a line.

Campaign 2 kills it with SIGKILL at a random moment after the cue (or it kills itself at a
``CANARY_FAULT_POINT``), so the import time does not dilute the moments that matter. Usage::

    python _crash_worker.py   # stdin: "<root>\\t<tenant>\\t<decision file>\\n"
"""

from __future__ import annotations

import sys

from pytest_canary import cli
from pytest_canary.cli import rollout as rollout_command
from pytest_canary.ops import batch, rollout
from pytest_canary.store import atomic, audit, gates, layout, lock, settings

_ = (atomic, audit, batch, gates, layout, lock, rollout, rollout_command, settings)

print("ready", flush=True)
line = sys.stdin.readline().rstrip("\n")
if not line:
    sys.exit(0)
root, tenant, decision_file = line.split("\t")
sys.exit(
    cli.main(["rollout", "--tenant", tenant, "--root", root, "--decision-file", decision_file])
)
