"""``canary prune``: delete files older than their retention, cut the audit log's head."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_canary.cli import exit_codes, options
from pytest_canary.render.console import echo
from pytest_canary.store import settings

if TYPE_CHECKING:
    from pytest_canary.ops.retention import Retention, TenantPrune

_KINDS = (
    ("kpi", "KPI files", 90),
    ("log", "decision and rollout logs", 90),
    ("audit", "audit lines", 365),
    ("run-log", "run logs", 30),
)


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="delete files older than their retention (docs/retention.md), cut the audit log's head",
        epilog="example: canary prune --all --dry-run",
    )
    options.add_selection(parser, default_all=False)
    parser.add_argument("--dry-run", action="store_true", help="list what would go, delete nothing")
    for kind, what, minimum in _KINDS:
        parser.add_argument(
            f"--{kind}-days",
            type=int,
            metavar="N",
            help=f"keep {what} N days (default and minimum {minimum})",
        )
    parser.add_argument("--today", help=options.TODAY_HELP)
    options.add_lock_timeout(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pytest_canary.ops import retention

    keep = retention.Retention.from_days(
        kpi=args.kpi_days, log=args.log_days, audit=args.audit_days, run_log=args.run_log_days
    )
    root = options.root(args)
    today = options.today(args.today)
    tenants = options.tenants(root, args.tenant, args.all)
    files = lines_cut = problems = 0
    for paths in tenants:
        if args.dry_run:
            result = retention.plan(paths, keep, today)
        else:
            result = retention.apply(
                paths, keep, today, settings.now_berlin(), lock_timeout=args.lock_timeout
            )
        _print_result(result, root, dry=args.dry_run)
        files += len(result.files)
        lines_cut += result.audit.cut if result.audit is not None else 0
        for problem in result.problems:
            echo(f"{paths.tenant}: {problem}", err=True)
        problems += len(result.problems)
    echo(_summary(keep, today, len(tenants), files, lines_cut, dry=args.dry_run))
    return exit_codes.ATTENTION if problems else exit_codes.OK


def _print_result(result: TenantPrune, root: Path, *, dry: bool) -> None:
    from pytest_canary.ops import retention

    verb = "would delete" if dry else "deleted"
    for item in result.files:
        label = retention.KIND_LABELS[item.kind]
        echo(f"{verb} {item.path.relative_to(root)} ({label}, {item.age} days old)")
    audit = result.audit
    if audit is not None and audit.cut:
        cut_verb = "would cut" if dry else "cut"
        echo(
            f"{cut_verb} {audit.cut} line(s) from the head of"
            f" {audit.path.relative_to(root)}; it now starts at its PRUNE checkpoint"
            f" seq {audit.first_kept_seq}"
        )
    if audit is not None and audit.kept_expired:
        echo(
            f"kept {audit.kept_expired} expired line(s) of"
            f" {audit.path.relative_to(root)}: the log is cut only at a PRUNE checkpoint"
        )


def _summary(
    keep: Retention, today: dt.date, tenants: int, files: int, lines_cut: int, *, dry: bool
) -> str:
    summary = f"canary prune{' (dry run)' if dry else ''}: {tenants} tenant(s),"
    summary += f" {files} file(s) {'to delete' if dry else 'deleted'},"
    summary += f" {lines_cut} audit line(s) {'to cut' if dry else 'cut'}"
    days = keep.as_dict()
    return summary + (
        f" (kept: KPI {days['kpi']} d, logs {days['log']} d, run logs {days['run_log']} d,"
        f" audit {days['audit']} d; today {today.isoformat()})"
    )
