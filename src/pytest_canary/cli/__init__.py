"""The ``canary`` command: one registry of commands, one map of errors to exit codes.

Each command is one module of this package with ``register(subparsers, name)``, which adds its
parser and sets its ``handler``; adding a command is one module and one line in :data:`COMMANDS`.
The handlers are thin: they call the same functions as the pytest plugin.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from importlib import import_module

from pytest_canary.cli import exit_codes
from pytest_canary.core.errors import CanaryUsageError, CannotWrite, RolloutRefused
from pytest_canary.kpi.events import EventError
from pytest_canary.render.console import echo

COMMANDS: dict[str, str] = {
    "decide": "pytest_canary.cli.decide",
    "cycle": "pytest_canary.cli.cycle",
    "rollout": "pytest_canary.cli.rollout",
    "review": "pytest_canary.cli.review",
    "validate": "pytest_canary.cli.validate",
    "schema": "pytest_canary.cli.schema",
    "kpi": "pytest_canary.cli.kpi",
    "dns-check": "pytest_canary.cli.dns_check",
    "status": "pytest_canary.cli.status",
    "prune": "pytest_canary.cli.prune",
    "audit": "pytest_canary.cli.audit",
    "backtest": "pytest_canary.cli.backtest",
    "summary": "pytest_canary.cli.summary",
    "kill": "pytest_canary.cli.controls",
    "pause": "pytest_canary.cli.controls",
    "resume": "pytest_canary.cli.controls",
    "history": "pytest_canary.cli.history",
}
"""Command name → the module that registers it, in the order ``canary --help`` lists them."""

ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (CanaryUsageError, exit_codes.USAGE, "error: "),
    (RolloutRefused, exit_codes.REFUSED, "refused: "),
    (EventError, exit_codes.BAD_INPUT, "invalid input, no KPI file written: "),
    (CannotWrite, exit_codes.BAD_INPUT, ""),
)
"""The errors a user can cause → exit code and the words before the one line that explains it."""

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canary", description="Decide and apply canary rollouts from daily KPIs."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        import_module(module_name).register(subparsers, name)
    return parser


def report_error(command: str, exc: Exception) -> int:
    """Print the one line of an error of :data:`ERRORS` on stderr; its exit code."""
    code, words = next((c, w) for error, c, w in ERRORS if isinstance(exc, error))
    echo(f"canary {command}: {words}{exc}", err=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except tuple(error for error, _, _ in ERRORS) as exc:
        return report_error(args.command, exc)
    except KeyboardInterrupt:
        return exit_codes.INTERRUPTED
