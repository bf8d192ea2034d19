"""``canary decide``: run the gates and write each tenant's decision."""

from __future__ import annotations

from pytest_canary.cli import gate_run

register, run = gate_run.command(
    "run the gates and write each tenant's decision (exit 0 GO, 1 HOLD, 3 BACKOUT)",
    "canary decide --tenant acme --date 2026-11-26",
    rollout=False,
)
