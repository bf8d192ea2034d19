"""``canary backtest``: decide past KPI dates again with other gates."""

from __future__ import annotations

import argparse
from typing import Any

from pytest_canary.cli import exit_codes, options
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.render.console import echo_lines
from pytest_canary.store import settings


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="decide past KPI dates again with other gates; table of the days that would change",
        epilog="example: canary backtest --tenant all --since 2026-10-01 --gates gates/",
    )
    parser.add_argument("--tenant", required=True, help="tenant id, or 'all'")
    parser.add_argument("--since", required=True, help="first KPI date, YYYY-MM-DD")
    parser.add_argument("--until", help=options.DATE_HELP)
    options.add_gates(parser)
    options.add_root(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pytest_canary.ops import backtest
    from pytest_canary.store.gates import GateConfig, gate_files

    root = options.root(args)
    since = settings.parse_date(args.since, "--since")
    until = settings.parse_date(args.until, "--until")
    if since > until:
        raise CanaryUsageError(f"--since {since} is after --until {until}")
    gates = options.gates(args.gates)
    config = GateConfig.load(gate_files(gates))
    label = args.gates or (str(gates) if gates else "the built-in gates")
    results = []
    for paths in options.tenants(root, args.tenant, False):
        results += backtest.backtest_tenant(paths, config, since, until)
    echo_lines(backtest.markdown(results, label, since, until).split("\n")[:-1])
    return exit_codes.OK
