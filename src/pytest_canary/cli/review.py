"""``canary review``: record a review, so that the next GO may clear the kill switch."""

from __future__ import annotations

import argparse
import os
from typing import Any

from pytest_canary.cli import exit_codes, options
from pytest_canary.render.console import echo


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="record a review so that a GO may clear the kill switch (exit 0, 4 refused)",
        epilog='example: canary review --tenant acme --by "M. Muster" --note "DLQ cause fixed"',
    )
    parser.add_argument("--tenant", required=True, help="tenant id")
    options.add_root(parser)
    parser.add_argument("--by", required=True, help="who reviewed")
    parser.add_argument("--note", required=True, help="what was reviewed, one line")
    parser.add_argument("--gates", help="gate file or folder (for the steps)")
    options.add_lock_timeout(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pytest_canary.core.tenants import validate_tenant_id
    from pytest_canary.ops import review
    from pytest_canary.store.layout import TenantPaths
    from pytest_canary.store.settings import now_berlin

    paths = TenantPaths.open(options.root(args), validate_tenant_id(args.tenant))
    state = review.record_review(
        paths,
        by=args.by,
        note=args.note,
        now=now_berlin(),
        lock_timeout=options.check_lock_timeout(args.lock_timeout),
        steps=options.gate_config(args.gates).for_tenant(args.tenant, os.environ).steps,
    )
    echo(
        f"{args.tenant}: review recorded by {args.by} (serial {state.serial});"
        " the next GO may clear the kill switch"
    )
    return exit_codes.OK
