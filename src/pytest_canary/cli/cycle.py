"""``canary cycle``: decide, then apply the decision; the daily cycle."""

from __future__ import annotations

from pytest_canary.cli import gate_run

register, run = gate_run.command(
    "decide, then apply the decision: the daily cycle (exit as decide, 4 refused)",
    "canary cycle --tenant all",
    rollout=True,
)
