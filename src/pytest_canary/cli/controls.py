"""``canary kill``, ``pause``, ``resume``: the operator's controls, one tenant or every tenant.

Thin: each parses its options and calls :func:`pytest_canary.ops.controls.apply_control`. A kill
of ``--tenant all`` (stop the line) acts on every tenant even when one of them refuses (a corrupt
state): each tenant gets its own state change and audit line, and the exit status is 4 when any
refused.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from pytest_canary.cli import exit_codes, options
from pytest_canary.core.errors import CanaryUsageError, RolloutRefused
from pytest_canary.render.console import echo

_CONTROLS = {
    "kill": (
        "KILL",
        "kill switch on and quota to the first step, now, without a decision (exit 0, 4 refused)",
        'canary kill --tenant acme --by "M. Muster" --note "complaint wave"',
    ),
    "pause": (
        "PAUSE",
        "hold the tenant's GO decisions until resumed; BACKOUT still applies (exit 0, 4 refused)",
        'canary pause --tenant acme --by "M. Muster" --note "legal review of the new text"',
    ),
    "resume": (
        "RESUME",
        "lift a pause: GO decisions may raise the quota again (exit 0, 4 refused)",
        'canary resume --tenant acme --by "M. Muster" --note "legal review done"',
    ),
}


def register(subparsers: Any, name: str) -> None:
    """Add ``kill``, ``pause`` or ``resume`` (``name``) to the ``canary`` command."""
    action, help_text, example = _CONTROLS[name]
    p = subparsers.add_parser(name, help=help_text, epilog=f"example: {example}")
    p.add_argument(
        "--tenant",
        required=True,
        help="tenant id" + (" ('all' for every tenant folder)" if name == "kill" else ""),
    )
    options.add_root(p)
    p.add_argument("--by", required=True, help="who acts (a name or user id, one line)")
    p.add_argument("--note", required=True, help="why, one line")
    options.add_gates(p)
    options.add_lock_timeout(p)
    p.set_defaults(handler=_cmd_control, action=action)


def _cmd_control(args: argparse.Namespace) -> int:
    from pytest_canary.cli import report_error
    from pytest_canary.core.tenants import validate_tenant_id
    from pytest_canary.core.transitions import review_text
    from pytest_canary.ops.controls import apply_control
    from pytest_canary.store import settings
    from pytest_canary.store.layout import TenantPaths, list_tenants

    review_text(args.by, args.note)  # a bad --by or --note is a usage error before anything
    options.check_lock_timeout(args.lock_timeout)
    root = options.root(args)
    if args.tenant == "all" and args.action == "KILL":
        names = list_tenants(root)
        if not names:
            raise CanaryUsageError(f"--tenant all: no tenant folders under {root}")
    else:
        names = [validate_tenant_id(args.tenant)]
    tenants = [TenantPaths.open(root, name) for name in names]
    config = options.gate_config(args.gates)
    trace = settings.trace_id(os.environ)
    now = settings.now_berlin()
    refused = 0
    for paths in tenants:
        steps = config.for_tenant(paths.tenant, os.environ).steps
        try:
            log = apply_control(
                paths,
                args.action,
                by=args.by,
                note=args.note,
                now=now,
                trace=trace,
                steps=steps,
                lock_timeout=args.lock_timeout,
            )
        except RolloutRefused as exc:
            if len(tenants) == 1:
                raise
            refused += 1
            report_error(args.command, exc)
            continue
        before, after = log.before, log.after
        echo(
            f"{log.tenant}: {log.action} {log.outcome} (changed={str(log.changed).lower()},"
            f" quota {before.quota} % → {after.quota} %,"
            f" kill switch {'on' if after.kill_switch else 'off'},"
            f" {'paused' if after.pause else 'not paused'}, serial {after.serial})"
        )
        echo(f"  {log.reasons[0]}")
    return exit_codes.REFUSED if refused else exit_codes.OK
