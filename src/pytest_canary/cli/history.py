"""``canary history``: a tenant's timeline and whether its state agrees with its history."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pytest_canary.cli import exit_codes, options


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="the tenant's timeline: each step, kill, pause, review and BACKOUT with who, why and"
        " trace id, then whether the state is consistent with it (exit 0, 1 when not)",
        epilog="example: canary history --tenant acme --json",
    )
    parser.add_argument("--tenant", required=True, help="tenant id")
    options.add_root(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pytest_canary.core.tenants import validate_tenant_id
    from pytest_canary.ops.history import timeline
    from pytest_canary.render.controls import history_lines
    from pytest_canary.store.layout import TenantPaths

    paths = TenantPaths.open(options.root(args), validate_tenant_id(args.tenant))
    found = timeline(paths)
    if args.json:
        print(json.dumps(found.as_json(), indent=2, sort_keys=True, ensure_ascii=False))
    else:
        print("\n".join(history_lines(found)))
    return exit_codes.OK if found.consistent else exit_codes.ATTENTION
