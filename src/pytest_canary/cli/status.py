"""``canary status``: where each tenant stands."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from pytest_canary.cli import exit_codes, options
from pytest_canary.render.console import echo_lines


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="where each tenant stands: quota, kill switch, review, last decision, KPI age"
        " (exit 0, 1 on a warning)",
        epilog="example: canary status --all",
    )
    options.add_selection(parser, default_all=True)
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument("--today", help=options.TODAY_HELP)
    options.add_gates(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pytest_canary.ops.status import table, tenant_status

    root = options.root(args)
    today = options.today(args.today)
    config = options.gate_config(args.gates)
    statuses = []
    for paths in options.tenants(root, args.tenant, args.all):
        gates = config.for_tenant(paths.tenant, os.environ)
        statuses.append(tenant_status(paths, today, gates.steps, gates.promotion))
    if args.json:
        echo_lines(
            json.dumps([s.as_json() for s in statuses], indent=2, sort_keys=True).split("\n")
        )
    else:
        echo_lines(table(statuses))
    return exit_codes.ATTENTION if any(s.warnings for s in statuses) else exit_codes.OK
