"""``canary decide``: run the gates and write each tenant's decision."""

from __future__ import annotations

import argparse
from typing import Any

from pytest_canary.cli import gate_run


def register(subparsers: Any, name: str) -> None:
    parser = gate_run.add_parser(
        subparsers,
        name,
        "run the gates and write each tenant's decision (exit 0 GO, 1 HOLD, 3 BACKOUT)",
        "canary decide --tenant acme --date 2026-11-26",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return gate_run.run_gates(args, rollout=False)
