"""``canary schema``: write the JSON Schemas of every file pytest-canary reads or writes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pytest_canary.cli import exit_codes
from pytest_canary.render.console import echo_lines


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="write the JSON Schemas of every file pytest-canary reads or writes",
        epilog="example: canary schema --out schemas",
    )
    parser.add_argument("--out", default="schemas", help="folder to write into (default: schemas)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pytest_canary.ops.validate import write_schemas

    echo_lines(write_schemas(Path(args.out)))
    return exit_codes.OK
