"""``canary audit verify``: check the audit log's hash chain."""

from __future__ import annotations

import argparse
from typing import Any

from pytest_canary.cli import exit_codes, options
from pytest_canary.render.console import echo


def register(subparsers: Any, name: str) -> None:
    audit = subparsers.add_parser(name, help="the audit log: verify its hash chain")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    parser = actions.add_parser(
        "verify",
        help="check the hash chain; name the first changed, removed or moved line (exit 1)",
        epilog="example: canary audit verify --tenant acme",
    )
    parser.add_argument("--tenant", required=True, help="tenant id ('all' for every tenant folder)")
    options.add_root(parser)
    parser.set_defaults(handler=verify)


def verify(args: argparse.Namespace) -> int:
    from pytest_canary.store.audit import verify_audit

    root = options.root(args)
    broken = 0
    for paths in options.tenants(root, args.tenant, False):
        verdict = verify_audit(paths.check(paths.audit))
        shown = paths.audit.relative_to(root)
        if verdict.ok:
            echo(f"{paths.tenant}: audit chain intact: {verdict.lines} line(s) in {shown}")
        else:
            broken += 1
            problem = verdict.problem or "broken"
            if verdict.first_bad_line is not None:
                prefix = f"{paths.audit}: line {verdict.first_bad_line}: "
                problem = problem.removeprefix(prefix)
                echo(
                    f"{paths.tenant}: audit chain BROKEN at line {verdict.first_bad_line}"
                    f" of {shown}: {problem}"
                )
            else:
                echo(f"{paths.tenant}: audit chain BROKEN: {problem}")
        for note in verdict.notes:
            echo(f"  note: {note}")
    return exit_codes.ATTENTION if broken else exit_codes.OK
