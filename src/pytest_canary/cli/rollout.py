"""``canary rollout``: apply the newest (or a named) decision to the tenant's state."""

from __future__ import annotations

import argparse
import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_canary.cli import exit_codes, options
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.render.console import echo

if TYPE_CHECKING:  # building the parser stays light: the commands import what they use
    from pytest_canary.ops import batch

MAX_AGE_HOURS = 24 * 366  # a year: more is a typo, and would overflow a timedelta long before


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="apply the newest decision to the state (exit 0 applied/unchanged, 4 refused)",
        description="Apply a decision to a tenant's state.\nWith --tenant all (or --decisions):"
        " every tenant's, in one run,\neach under its own lock; a refused tenant does not stop"
        " the others,\nand the exit status is 4 when any was refused.",
        epilog="example: canary rollout --tenant acme --decision-file <root>/acme/canary/2026-11-26_decision.json\n"
        "example: canary rollout --tenant all --decisions downloaded/decisions --report applied.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--tenant", required=True, help="tenant id ('all' for every tenant folder under the root)"
    )
    options.add_root(parser)
    parser.add_argument("--decision-file", help="decision to apply (default: the newest by date)")
    parser.add_argument(
        "--decisions",
        metavar="DIR",
        help="folder of <tenant>/<YYYY-MM-DD>_decision.json to copy in and apply, one tenant"
        " after another (with --tenant all: every tenant in it)",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="with --tenant all or --decisions: write one JSON line per tenant"
        " (tenant, date, decision, outcome, changed, reason)",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=26.0,
        help="refuse decisions older than this many hours (default 26)",
    )
    options.add_gates(parser)
    options.add_lock_timeout(parser)
    parser.set_defaults(handler=run)


def _max_age(hours: float) -> dt.timedelta:
    if not (math.isfinite(hours) and 0 < hours <= MAX_AGE_HOURS):
        raise CanaryUsageError(
            f"--max-age {hours:g}: must be a positive number of hours, at most {MAX_AGE_HOURS}"
        )
    return dt.timedelta(hours=hours)


def run(args: argparse.Namespace) -> int:
    from pytest_canary.ops import batch
    from pytest_canary.store.settings import now_berlin

    # The options first: a usage error is reported before anything is read.
    shared = batch.Options(
        root=options.root(args),
        config=options.gate_config(args.gates),
        now=now_berlin(),
        max_age=_max_age(args.max_age),
        lock_timeout=options.check_lock_timeout(args.lock_timeout),
    )
    if args.tenant == "all" or args.decisions:
        return _rollout_batch(args, shared)
    if args.report:
        raise CanaryUsageError("--report: only with --tenant all or --decisions")
    decision_file = Path(args.decision_file) if args.decision_file else None
    log = batch.rollout_tenant(shared, args.tenant, decision_file)
    before = f"{log.before.quota} %" if log.before else "?"
    after = f"{log.after.quota} %" if log.after else "?"
    echo(
        f"{log.tenant}: {log.decision} {log.outcome}"
        f" (changed={str(log.changed).lower()}, quota {before} → {after})"
    )
    for reason in log.reasons:
        echo(f"  {reason}")
    return exit_codes.OK


def _rollout_batch(args: argparse.Namespace, shared: batch.Options) -> int:
    from pytest_canary.ops import batch

    if args.decision_file:
        raise CanaryUsageError(
            "--decision-file: only with one --tenant; use --decisions for a folder"
        )
    tenants = None if args.tenant == "all" else [args.tenant]
    decisions = Path(args.decisions) if args.decisions else None
    results = batch.rollout_all(shared, tenants, decisions)
    for result in results:
        echo(f"{result.tenant}: {result.decision or '?'} {result.outcome}: {result.reason}")
    if args.report:
        batch.write_report(Path(args.report), results)
    echo(batch.summary_line(results))
    refused = any(r.outcome == "refused" for r in results)
    return exit_codes.REFUSED if refused else exit_codes.OK
