"""The ``canary`` command: thin, it calls the same functions as the pytest plugin.

``decide`` and ``cycle`` run the gates through pytest itself (custom gates included), so a decision
made here and one made by ``pytest -p canary`` are the same decision with the same id.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_canary.core.errors import CanaryUsageError, RolloutRefused

if TYPE_CHECKING:  # building the parser stays light: the commands import what they use
    from pytest_canary.ops import batch

EXIT_OK, EXIT_HOLD, EXIT_USAGE, EXIT_BACKOUT, EXIT_REFUSED = 0, 1, 2, 3, 4
MAX_AGE_HOURS = 24 * 366  # a year: more is a typo, and would overflow a timedelta long before
# Operations commands live in their own modules; each adds its subparser through `register`.
COMMAND_MODULES = (
    "pytest_canary.kpi.engine",
    "pytest_canary.dns.check",
    "pytest_canary.cli.ops",
    "pytest_canary.cli.controls",
)

Handler = Callable[[argparse.Namespace], int]
# The CLI imports pytest_canary before pytest does, so pytest cannot (and need not) rewrite it.
_QUIET_WARNINGS = ("-W", "ignore::pytest.PytestAssertRewriteWarning")


def _root(args: argparse.Namespace) -> Path:
    from pytest_canary.store.settings import resolve_root

    cwd = Path.cwd()
    return resolve_root(args.root, os.environ, None, cwd, cwd)


def _common(parser: argparse.ArgumentParser, *, tenant_required: bool = True) -> None:
    parser.add_argument(
        "--tenant",
        action="store" if tenant_required else "append",
        required=tenant_required,
        help="tenant id ('all' for every tenant folder under the root)",
    )
    parser.add_argument(
        "--root", help="canary root (default: env CANARY_ROOT, else artifacts/reports/mahnwesen)"
    )


def _decide_parser(sub: Any, name: str, help_text: str, example: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=f"example: {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, tenant_required=False)
    parser.add_argument("--date", help="KPI date YYYY-MM-DD (default: today in Europe/Berlin)")
    parser.add_argument(
        "--gates", help="gate file or folder (default: gates/ when present, else built-in)"
    )
    parser.add_argument("--dry-run", action="store_true", help="decide and report, write nothing")
    return parser


class _Collector:
    """Receives the run's decisions and rollouts through the plugin's own hooks."""

    def __init__(self) -> None:
        self.decisions: list[Any] = []
        self.problems: list[str] = []

    def pytest_canary_decision(self, decision: Any, config: Any) -> None:
        self.decisions.append(decision)

    def pytest_unconfigure(self, config: Any) -> None:
        run = config.pluginmanager.get_plugin("canary-run")
        if run is not None:
            self.problems = list(run.problems)


def _run_gates(args: argparse.Namespace, *, rollout: bool) -> int:
    import pytest

    if not args.tenant:
        raise CanaryUsageError("--tenant is required (a tenant id, or 'all')")
    argv = ["-p", "canary", "-p", "no:cacheprovider", "-q", "--no-header", *_QUIET_WARNINGS]
    for tenant in args.tenant:
        argv += ["--canary-tenant", tenant]
    # "--opt=value": pytest takes a separate value that is an existing path for a test path when
    # it looks for its rootdir, and from a root outside the repo it would miss the repo's gates/.
    argv.append(f"--canary-root={_root(args)}")
    if args.date:
        argv.append(f"--canary-date={args.date}")
    if args.gates:
        argv.append(f"--canary-gates={args.gates}")
    if args.dry_run:
        argv.append("--canary-dry-run")
    if rollout:
        argv.append("--canary-rollout")
    collector = _Collector()
    code = pytest.main(argv, plugins=[collector])
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    # The run's problems are decisions not written or rollouts refused (a full disk, a stale
    # decision ...): a cycle that could not act refused.
    if rollout and collector.problems:
        return EXIT_REFUSED
    if not collector.decisions:
        print("canary: no decision was made (see the pytest output above)", file=sys.stderr)
        return EXIT_HOLD
    words = {d.decision for d in collector.decisions}
    if "BACKOUT" in words:
        return EXIT_BACKOUT
    if "HOLD" in words or collector.problems:
        return EXIT_HOLD
    return EXIT_OK


def _check_lock_timeout(seconds: float) -> None:
    if not (math.isfinite(seconds) and seconds >= 0):
        raise CanaryUsageError(f"--lock-timeout {seconds:g}: must be a number of seconds >= 0")


def _cmd_decide(args: argparse.Namespace) -> int:
    return _run_gates(args, rollout=False)


def _cmd_cycle(args: argparse.Namespace) -> int:
    return _run_gates(args, rollout=True)


def _cmd_rollout(args: argparse.Namespace) -> int:
    from pytest_canary.ops import batch
    from pytest_canary.store.gates import GateConfig, gate_files
    from pytest_canary.store.settings import now_berlin

    gates_path = Path(args.gates) if args.gates else Path("gates")
    files = gate_files(gates_path) if gates_path.exists() else []
    if not (math.isfinite(args.max_age) and 0 < args.max_age <= MAX_AGE_HOURS):
        raise CanaryUsageError(
            f"--max-age {args.max_age:g}: must be a positive number of hours,"
            f" at most {MAX_AGE_HOURS}"
        )
    _check_lock_timeout(args.lock_timeout)
    options = batch.Options(
        root=_root(args),
        config=GateConfig.load(files),
        now=now_berlin(),
        max_age=dt.timedelta(hours=args.max_age),
        lock_timeout=args.lock_timeout,
    )
    if args.tenant == "all" or args.decisions:
        return _rollout_batch(args, options)
    if args.report:
        raise CanaryUsageError("--report: only with --tenant all or --decisions")
    decision_file = Path(args.decision_file) if args.decision_file else None
    log = batch.rollout_tenant(options, args.tenant, decision_file)
    before = f"{log.before.quota} %" if log.before else "?"
    after = f"{log.after.quota} %" if log.after else "?"
    print(
        f"{log.tenant}: {log.decision} {log.outcome} (changed={str(log.changed).lower()}, quota {before} → {after})"
    )
    for reason in log.reasons:
        print(f"  {reason}")
    return EXIT_OK


def _rollout_batch(args: argparse.Namespace, options: batch.Options) -> int:
    from pytest_canary.ops import batch

    if args.decision_file:
        raise CanaryUsageError(
            "--decision-file: only with one --tenant; use --decisions for a folder"
        )
    tenants = None if args.tenant == "all" else [args.tenant]
    decisions = Path(args.decisions) if args.decisions else None
    results = batch.rollout_all(options, tenants, decisions)
    for result in results:
        print(f"{result.tenant}: {result.decision or '?'} {result.outcome}: {result.reason}")
    if args.report:
        batch.write_report(Path(args.report), results)
    print(batch.summary_line(results))
    return EXIT_REFUSED if any(r.outcome == "refused" for r in results) else EXIT_OK


def _cmd_review(args: argparse.Namespace) -> int:
    from pytest_canary import store
    from pytest_canary.ops import rollout
    from pytest_canary.store.settings import now_berlin

    paths = store.TenantPaths.open(_root(args), store.validate_tenant_id(args.tenant))
    _check_lock_timeout(args.lock_timeout)
    state = rollout.record_review(
        paths, by=args.by, note=args.note, now=now_berlin(), lock_timeout=args.lock_timeout
    )
    print(
        f"{args.tenant}: review recorded by {args.by} (serial {state.serial}); the next GO may clear the kill switch"
    )
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from pytest_canary.ops.validate import validate_paths

    problems, checked = validate_paths([Path(p) for p in args.files])
    for line in problems:
        print(line)
    if not args.quiet:
        print(f"canary validate: {checked} file(s) checked, {len(problems)} invalid")
    return EXIT_HOLD if problems else EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    from pytest_canary.ops.validate import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canary", description="Decide and apply canary rollouts from daily KPIs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _decide_parser(
        sub,
        "decide",
        "run the gates and write each tenant's decision (exit 0 GO, 1 HOLD, 3 BACKOUT)",
        "canary decide --tenant acme --date 2026-11-26",
    ).set_defaults(handler=_cmd_decide)
    _decide_parser(
        sub,
        "cycle",
        "decide, then apply the decision: the daily cycle (exit as decide, 4 refused)",
        "canary cycle --tenant all",
    ).set_defaults(handler=_cmd_cycle)

    p = sub.add_parser(
        "rollout",
        help="apply the newest decision to the state (exit 0 applied/unchanged, 4 refused)",
        description="Apply a decision to a tenant's state.\nWith --tenant all (or --decisions):"
        " every tenant's, in one run,\neach under its own lock; a refused tenant does not stop"
        " the others,\nand the exit status is 4 when any was refused.",
        epilog="example: canary rollout --tenant acme --decision-file <root>/acme/canary/2026-11-26_decision.json\n"
        "example: canary rollout --tenant all --decisions downloaded/decisions --report applied.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p)
    p.add_argument("--decision-file", help="decision to apply (default: the newest by date)")
    p.add_argument(
        "--decisions",
        metavar="DIR",
        help="folder of <tenant>/<YYYY-MM-DD>_decision.json to copy in and apply, one tenant"
        " after another (with --tenant all: every tenant in it)",
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        help="with --tenant all or --decisions: write one JSON line per tenant"
        " (tenant, date, decision, outcome, changed, reason)",
    )
    p.add_argument(
        "--max-age",
        type=float,
        default=26.0,
        help="refuse decisions older than this many hours (default 26)",
    )
    p.add_argument("--gates", help="gate file or folder (for the steps)")
    p.add_argument("--lock-timeout", type=float, default=30.0, help=argparse.SUPPRESS)
    p.set_defaults(handler=_cmd_rollout)

    p = sub.add_parser(
        "review",
        help="record a review so that a GO may clear the kill switch (exit 0, 4 refused)",
        epilog='example: canary review --tenant acme --by "M. Muster" --note "DLQ cause fixed"',
    )
    _common(p)
    p.add_argument("--by", required=True, help="who reviewed")
    p.add_argument("--note", required=True, help="what was reviewed, one line")
    p.add_argument("--lock-timeout", type=float, default=30.0, help=argparse.SUPPRESS)
    p.set_defaults(handler=_cmd_review)

    p = sub.add_parser(
        "validate",
        help="check KPI, blocklist, state, decision, rollout log and gate files (exit 0 valid, 1 invalid)",
        epilog="example: canary validate artifacts/reports/mahnwesen/acme/2026-11-26.json gates/mahnwesen.toml",
    )
    p.add_argument("files", nargs="*", help="files to check; a folder is searched for known files")
    p.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    p.set_defaults(handler=_cmd_validate)

    p = sub.add_parser(
        "schema",
        help="write the JSON Schemas of every file pytest-canary reads or writes",
        epilog="example: canary schema --out schemas",
    )
    p.add_argument("--out", default="schemas", help="folder to write into (default: schemas)")
    p.set_defaults(handler=_cmd_schema)

    for module_name in COMMAND_MODULES:
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CanaryUsageError as exc:
        print(f"canary {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RolloutRefused as exc:
        print(f"canary {args.command}: refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130
