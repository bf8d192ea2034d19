"""The operations commands: ``canary status``, ``prune``, ``audit verify`` and ``backtest``.

Thin: each handler parses its options, calls :mod:`status`, :mod:`retention`, the audit chain or
:mod:`backtest`, and prints. Usage errors raise :class:`CanaryUsageError` (one line, exit 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.store import settings

if TYPE_CHECKING:  # the commands import what they use: building the parser stays light
    from pytest_canary import store
    from pytest_canary.store.gates import GateConfig

EXIT_OK, EXIT_ATTENTION = 0, 1
_ROOT_HELP = f"canary root (default: env CANARY_ROOT, else {settings.DEFAULT_ROOT})"
_TODAY_HELP = "the day to judge ages against, YYYY-MM-DD (default: today in Europe/Berlin)"


def register(subparsers: Any) -> None:
    """Add the operations commands to the ``canary`` command's subparsers."""
    p = subparsers.add_parser(
        "status",
        help="where each tenant stands: quota, kill switch, review, last decision, KPI age"
        " (exit 0, 1 on a warning)",
        epilog="example: canary status --all",
    )
    _selection(p, default_all=True)
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--today", help=_TODAY_HELP)
    p.add_argument("--gates", help="gate file or folder (for the first step of a new tenant)")
    p.set_defaults(handler=cmd_status)

    p = subparsers.add_parser(
        "prune",
        help="delete files older than their retention (SPEC §8), cut the audit log's head",
        epilog="example: canary prune --all --dry-run",
    )
    _selection(p, default_all=False)
    p.add_argument("--dry-run", action="store_true", help="list what would go, delete nothing")
    for kind, what, minimum in (
        ("kpi", "KPI files", 90),
        ("log", "decision and rollout logs", 90),
        ("audit", "audit lines", 365),
        ("run-log", "run logs", 30),
    ):
        p.add_argument(
            f"--{kind}-days",
            type=int,
            metavar="N",
            help=f"keep {what} N days (default and minimum {minimum})",
        )
    p.add_argument("--today", help=_TODAY_HELP)
    p.add_argument("--lock-timeout", type=float, default=30.0, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_prune)

    audit = subparsers.add_parser("audit", help="the audit log: verify its hash chain")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    p = audit_sub.add_parser(
        "verify",
        help="check the hash chain; name the first changed, removed or moved line (exit 1)",
        epilog="example: canary audit verify --tenant acme",
    )
    p.add_argument("--tenant", required=True, help="tenant id ('all' for every tenant folder)")
    p.add_argument("--root", help=_ROOT_HELP)
    p.set_defaults(handler=cmd_audit_verify)

    p = subparsers.add_parser(
        "backtest",
        help="decide past KPI dates again with other gates; table of the days that would change",
        epilog="example: canary backtest --tenant all --since 2026-10-01 --gates gates/",
    )
    p.add_argument("--tenant", required=True, help="tenant id, or 'all'")
    p.add_argument("--since", required=True, help="first KPI date, YYYY-MM-DD")
    p.add_argument("--until", help="last KPI date (default: today in Europe/Berlin)")
    p.add_argument("--gates", help="gate file or folder to try (default: gates/, else built-in)")
    p.add_argument("--root", help=_ROOT_HELP)
    p.set_defaults(handler=cmd_backtest)


def _selection(parser: argparse.ArgumentParser, *, default_all: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=not default_all)
    group.add_argument("--tenant", help="one tenant id ('all' is the same as --all)")
    group.add_argument("--all", action="store_true", help="every tenant folder under the root")
    parser.add_argument("--root", help=_ROOT_HELP)


def _root(args: argparse.Namespace) -> Path:
    cwd = Path.cwd()
    return settings.resolve_root(args.root, os.environ, None, cwd, cwd)


def _tenants(root: Path, tenant: str | None, every: bool) -> list[store.TenantPaths]:
    from pytest_canary import store

    if every or tenant in (None, "all"):
        names = store.list_tenants(root)
        if not names:
            raise CanaryUsageError(f"no tenant folders under {root}")
    else:
        names = [store.validate_tenant_id(str(tenant))]
    return [store.TenantPaths.open(root, name) for name in names]


def _today(text: str | None) -> dt.date:
    return settings.parse_date(text, "--today")


def _gate_config(option: str | None) -> GateConfig:
    from pytest_canary.store.gates import GateConfig, gate_files

    path = Path(option) if option else Path("gates")
    if option and not path.exists():
        raise CanaryUsageError(f"--gates {option}: no such file or folder")
    return GateConfig.load(gate_files(path) if path.exists() else [])


# --- status -----------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    from pytest_canary.ops.status import table, tenant_status

    root = _root(args)
    today = _today(args.today)
    config = _gate_config(args.gates)
    statuses = []
    for paths in _tenants(root, args.tenant, args.all):
        first = config.for_tenant(paths.tenant, os.environ).steps[0]
        statuses.append(tenant_status(paths, today, first))
    if args.json:
        print(json.dumps([s.as_json() for s in statuses], indent=2, sort_keys=True))
    else:
        print("\n".join(table(statuses)))
    return EXIT_ATTENTION if any(s.warnings for s in statuses) else EXIT_OK


# --- prune ------------------------------------------------------------------------------------


def cmd_prune(args: argparse.Namespace) -> int:
    from pytest_canary.ops import retention

    keep = retention.Retention.from_days(
        kpi=args.kpi_days, log=args.log_days, audit=args.audit_days, run_log=args.run_log_days
    )
    root = _root(args)
    today = _today(args.today)
    tenants = _tenants(root, args.tenant, args.all)
    verb = "would delete" if args.dry_run else "deleted"
    files = lines_cut = problems = 0
    for paths in tenants:
        if args.dry_run:
            result = retention.plan(paths, keep, today)
        else:
            result = retention.apply(
                paths, keep, today, settings.now_berlin(), lock_timeout=args.lock_timeout
            )
        for item in result.files:
            label = retention.KIND_LABELS[item.kind]
            print(f"{verb} {item.path.relative_to(root)} ({label}, {item.age} days old)")
        files += len(result.files)
        audit = result.audit
        if audit is not None and audit.cut:
            cut_verb = "would cut" if args.dry_run else "cut"
            print(
                f"{cut_verb} {audit.cut} line(s) from the head of"
                f" {audit.path.relative_to(root)}; it now starts at its PRUNE checkpoint"
                f" seq {audit.first_kept_seq}"
            )
            lines_cut += audit.cut
        if audit is not None and audit.kept_expired:
            print(
                f"kept {audit.kept_expired} expired line(s) of"
                f" {audit.path.relative_to(root)}: the log is cut only at a PRUNE checkpoint"
            )
        for problem in result.problems:
            print(f"{paths.tenant}: {problem}", file=sys.stderr)
        problems += len(result.problems)
    dry = args.dry_run
    summary = f"canary prune{' (dry run)' if dry else ''}: {len(tenants)} tenant(s),"
    summary += f" {files} file(s) {'to delete' if dry else 'deleted'},"
    summary += f" {lines_cut} audit line(s) {'to cut' if dry else 'cut'}"
    days = keep.as_dict()
    summary += (
        f" (kept: KPI {days['kpi']} d, logs {days['log']} d, run logs {days['run_log']} d,"
        f" audit {days['audit']} d; today {today.isoformat()})"
    )
    print(summary)
    return EXIT_ATTENTION if problems else EXIT_OK


# --- audit verify -----------------------------------------------------------------------------


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from pytest_canary import store

    root = _root(args)
    broken = 0
    for paths in _tenants(root, args.tenant, False):
        verdict = store.verify_audit(paths.check(paths.audit))
        shown = paths.audit.relative_to(root)
        if verdict.ok:
            print(f"{paths.tenant}: audit chain intact: {verdict.lines} line(s) in {shown}")
        else:
            broken += 1
            problem = verdict.problem or "broken"
            if verdict.first_bad_line is not None:
                prefix = f"{paths.audit}: line {verdict.first_bad_line}: "
                problem = problem.removeprefix(prefix)
                print(
                    f"{paths.tenant}: audit chain BROKEN at line {verdict.first_bad_line}"
                    f" of {shown}: {problem}"
                )
            else:
                print(f"{paths.tenant}: audit chain BROKEN: {problem}")
        for note in verdict.notes:
            print(f"  note: {note}")
    return EXIT_ATTENTION if broken else EXIT_OK


# --- backtest ---------------------------------------------------------------------------------


def cmd_backtest(args: argparse.Namespace) -> int:
    from pytest_canary.ops import backtest

    root = _root(args)
    since = settings.parse_date(args.since, "--since")
    until = settings.parse_date(args.until, "--until")
    if since > until:
        raise CanaryUsageError(f"--since {since} is after --until {until}")
    config = _gate_config(args.gates)
    label = args.gates or ("gates/" if Path("gates").exists() else "the built-in gates")
    results = []
    for paths in _tenants(root, args.tenant, False):
        results += backtest.backtest_tenant(paths, config, since, until)
    sys.stdout.write(backtest.markdown(results, label, since, until))
    return EXIT_OK
