"""``canary kill``, ``pause``, ``resume``: the operator's controls, one tenant or every tenant.

Thin: each parses its options and calls :func:`pytest_canary.ops.controls.apply_control`. A kill
of ``--tenant all`` (stop the line) acts on every tenant even when one of them refuses (a corrupt
state): each tenant gets its own state change and audit line, and the exit status is 4 when any
refused.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from pytest_canary.core.errors import CanaryUsageError, RolloutRefused

EXIT_OK, EXIT_REFUSED = 0, 4
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


def register(subparsers: Any) -> None:
    """Add ``kill``, ``pause`` and ``resume`` to the ``canary`` command's subparsers."""
    from pytest_canary.cli.ops import _ROOT_HELP

    for name, (action, help_text, example) in _CONTROLS.items():
        p = subparsers.add_parser(name, help=help_text, epilog=f"example: {example}")
        p.add_argument(
            "--tenant",
            required=True,
            help="tenant id" + (" ('all' for every tenant folder)" if name == "kill" else ""),
        )
        p.add_argument("--root", help=_ROOT_HELP)
        p.add_argument("--by", required=True, help="who acts (a name or user id, one line)")
        p.add_argument("--note", required=True, help="why, one line")
        p.add_argument("--gates", help="gate file or folder (for the steps)")
        p.add_argument("--lock-timeout", type=float, default=30.0, help=argparse.SUPPRESS)
        p.set_defaults(handler=_cmd_control, action=action)


def _cmd_control(args: argparse.Namespace) -> int:
    from pytest_canary import store
    from pytest_canary.cli import _check_lock_timeout
    from pytest_canary.cli.ops import _gate_config, _root
    from pytest_canary.core.transitions import review_text
    from pytest_canary.ops.controls import apply_control
    from pytest_canary.store import settings

    review_text(args.by, args.note)  # a bad --by or --note is a usage error before anything
    _check_lock_timeout(args.lock_timeout)
    root = _root(args)
    if args.tenant == "all" and args.action == "KILL":
        names = store.list_tenants(root)
        if not names:
            raise CanaryUsageError(f"--tenant all: no tenant folders under {root}")
    else:
        names = [store.validate_tenant_id(args.tenant)]
    tenants = [store.TenantPaths.open(root, name) for name in names]
    config = _gate_config(args.gates)
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
            print(f"canary {args.command}: refused: {exc}", file=sys.stderr)
            continue
        before, after = log.before, log.after
        print(
            f"{log.tenant}: {log.action} {log.outcome} (changed={str(log.changed).lower()},"
            f" quota {before.quota} % → {after.quota} %,"
            f" kill switch {'on' if after.kill_switch else 'off'},"
            f" {'paused' if after.pause else 'not paused'}, serial {after.serial})"
        )
        print(f"  {log.reasons[0]}")
    return EXIT_REFUSED if refused else EXIT_OK
