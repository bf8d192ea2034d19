"""``canary validate``: check the files pytest-canary reads and writes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pytest_canary.cli import exit_codes
from pytest_canary.render.console import echo, echo_lines


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="check KPI, blocklist, state, decision, rollout log and gate files (exit 0 valid, 1 invalid)",
        epilog="example: canary validate artifacts/reports/mahnwesen/acme/2026-11-26.json gates/mahnwesen.toml",
    )
    parser.add_argument(
        "files", nargs="*", help="files to check; a folder is searched for known files"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pytest_canary.ops.validate import validate_paths

    warnings: list[str] = []
    problems, checked = validate_paths([Path(p) for p in args.files], warnings)
    echo_lines(problems)
    echo_lines(f"warning: {line}" for line in warnings)
    if not args.quiet:
        echo(f"canary validate: {checked} file(s) checked, {len(problems)} invalid")
    return exit_codes.ATTENTION if problems else exit_codes.OK
