"""``canary summary``: one table of many shards' decisions, for the daily run's test results job.

Each gate job's step summary shows its own shard; this shows the whole run, worst first, from the
decisions the gate jobs uploaded, with the same Markdown as a pytest run's summary.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pytest_canary.cli import exit_codes
from pytest_canary.core.errors import CanaryUsageError, RolloutRefused


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="one table of the decisions in a folder, worst first (to GITHUB_STEP_SUMMARY when"
        " set, else printed; exit 0, 1 when a decision file is unreadable)",
        epilog="example: canary summary --decisions downloaded/decisions",
    )
    parser.add_argument(
        "--decisions",
        required=True,
        metavar="DIR",
        help="folder of <tenant>/<YYYY-MM-DD>_decision.json (the gate jobs' artifacts)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pytest_canary.ops.rollout import load_decision
    from pytest_canary.render.github import append_step_summary
    from pytest_canary.render.report import summary_markdown

    folder = Path(args.decisions)
    if not folder.is_dir():
        raise CanaryUsageError(f"--decisions {folder}: no such folder")
    decisions, unreadable = [], 0
    for path in sorted(folder.glob("*/*_decision.json")):
        try:
            decisions.append(load_decision(path))
        except RolloutRefused as exc:
            unreadable += 1
            print(f"canary summary: {exc}", file=sys.stderr)
    markdown = summary_markdown(decisions)
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        append_step_summary(Path(target), markdown)
        print(f"canary summary: {len(decisions)} decision(s) in the step summary")
    else:
        print(markdown, end="")
    return exit_codes.BAD_INPUT if unreadable else exit_codes.OK
