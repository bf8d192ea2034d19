"""What ``decide`` and ``cycle`` share: they run the gates through pytest itself.

Custom gates are included that way, so a decision made here and one made by ``pytest -p canary``
are the same decision with the same id.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from pytest_canary.cli import exit_codes, options
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.render.console import echo
from pytest_canary.store import settings

# The CLI imports pytest_canary before pytest does, so pytest cannot (and need not) rewrite it.
_QUIET_WARNINGS = ("-W", "ignore::pytest.PytestAssertRewriteWarning")


def command(
    help_text: str, example: str, *, rollout: bool
) -> tuple[Callable[[Any, str], None], Callable[[argparse.Namespace], int]]:
    """The ``register`` and ``run`` of ``decide`` (``rollout=False``) or ``cycle``: one parser,
    one run of the gates, told apart by whether the run rolls out."""

    def run(args: argparse.Namespace) -> int:
        return run_gates(args, rollout=rollout)

    def register(subparsers: Any, name: str) -> None:
        add_parser(subparsers, name, help_text, example).set_defaults(handler=run)

    return register, run


def add_parser(subparsers: Any, name: str, help_text: str, example: str) -> argparse.ArgumentParser:
    """The parser of ``decide`` or ``cycle``: their options are the same."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=f"example: {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--tenant",
        action="append",
        help="tenant id ('all' for every tenant folder under the root)",
    )
    options.add_root(parser)
    parser.add_argument("--date", help=options.DATE_HELP)
    options.add_gates(parser)
    parser.add_argument("--dry-run", action="store_true", help="decide and report, write nothing")
    parser.add_argument(
        "--junitxml", metavar="PATH", help="also write the gates as JUnit XML, as pytest does"
    )
    return parser


class _Collector:
    """Receives the run's decisions and rollouts through the plugin's own hooks."""

    def __init__(self) -> None:
        self.decisions: list[Any] = []
        self.problems: list[str] = []

    def pytest_canary_decision(self, decision: Any, config: Any) -> None:
        self.decisions.append(decision)

    def pytest_sessionfinish(self, session: Any) -> None:
        """After the controller's (tryfirst): the decisions it could not write or roll out."""
        from pytest_canary.plugin import CONTROLLER_KEY

        controller = session.config.stash.get(CONTROLLER_KEY, None)
        if controller is not None:
            self.problems = list(controller.problems)


def _argv(args: argparse.Namespace, *, rollout: bool) -> list[str]:
    argv = ["-p", "canary", "-p", "no:cacheprovider", "-q", "--no-header", *_QUIET_WARNINGS]
    for tenant in args.tenant:
        argv += ["--canary-tenant", tenant]
    # Resolved here, as every command resolves them, so that an error names this command's
    # option. "--opt=value": pytest takes a separate value that is an existing path for a test
    # path when it looks for its rootdir, and from a root outside the repo it would miss gates/.
    project = settings.Project.discover()
    argv.append(f"--canary-root={project.root(args.root)}")
    argv.append(f"--canary-date={settings.parse_date(args.date, '--date')}")
    gates = project.gates(args.gates)
    if gates is not None:
        argv.append(f"--canary-gates={gates}")
    if args.dry_run:
        argv.append("--canary-dry-run")
    if rollout:
        argv.append("--canary-rollout")
    if args.junitxml:
        argv.append(f"--junitxml={args.junitxml}")
    return argv


def run_gates(args: argparse.Namespace, *, rollout: bool) -> int:
    """Run pytest with the canary plugin; the exit code of the worst decision it made."""
    import pytest

    if not args.tenant:
        raise CanaryUsageError("--tenant is required (a tenant id, or 'all')")
    collector = _Collector()
    code = pytest.main(_argv(args, rollout=rollout), plugins=[collector])
    if code == pytest.ExitCode.USAGE_ERROR:
        return exit_codes.USAGE
    # The run's problems are decisions not written or rollouts refused (a full disk, a stale
    # decision ...): a cycle that could not act refused.
    if rollout and collector.problems:
        return exit_codes.REFUSED
    if not collector.decisions:
        echo("canary: no decision was made (see the pytest output above)", err=True)
        return exit_codes.HOLD
    words = {d.decision for d in collector.decisions}
    if "BACKOUT" in words:
        return exit_codes.BACKOUT
    if "HOLD" in words or collector.problems:
        return exit_codes.HOLD
    return exit_codes.OK
