"""``canary cycle``: decide, then apply the decision; the daily cycle."""

from __future__ import annotations

import argparse
from typing import Any

from pytest_canary.cli import gate_run


def register(subparsers: Any, name: str) -> None:
    parser = gate_run.add_parser(
        subparsers,
        name,
        "decide, then apply the decision: the daily cycle (exit as decide, 4 refused)",
        "canary cycle --tenant all",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return gate_run.run_gates(args, rollout=True)
