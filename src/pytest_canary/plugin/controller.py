"""The plugin of the controller only: reports in, one decision per tenant, written once.

Registered where ``workerinput`` is absent (the only process without xdist, the controller with
it). It records every gate's verdict and decides and writes each tenant as soon as its last gate
has reported (with xdist, while the workers run the other tenants); at the end it decides the
tenants whose gates did not all report (deselected, cut off, lost with a worker), rolls out,
reports and sets the exit status. An interrupted run decides nothing more and rolls out nothing;
the decisions of tenants whose every gate had reported stay written.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from pytest_canary.core import engine
from pytest_canary.core.errors import CanaryUsageError, RolloutRefused
from pytest_canary.core.records import Decision, RolloutLog
from pytest_canary.ops import decision_markdown
from pytest_canary.plugin import junit
from pytest_canary.plugin.cases import Cases
from pytest_canary.plugin.ledger import Expected, Ledger
from pytest_canary.plugin.options import RunOptions
from pytest_canary.render import github, report
from pytest_canary.store.decisions import record_decision
from pytest_canary.store.lock import LOCK_TIMEOUT
from pytest_canary.store.settings import now_berlin


class CanaryController:
    """Decides, writes and rolls out a canary run's tenants, on the controller."""

    def __init__(
        self, config: pytest.Config, options: RunOptions, cases: Cases, ledger: Ledger
    ) -> None:
        self.config = config
        self.options = options
        self.cases = cases
        self.ledger = ledger
        self.decisions: list[Decision] = []
        self.rollouts: dict[str, RolloutLog] = {}
        self._decided: set[str] = set()
        self._to_roll_out: list[tuple[Decision, list[int]]] = []
        self.problems: list[str] = []
        self._resume: str | None = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """In a GitHub Actions step, stop the runner reading commands until the run is over."""
        if github.in_actions(os.environ):
            stop, self._resume = github.stop_commands()
            self._say(stop)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Give every xdist worker the controller's date and trace id: one run, one date."""
        node.workerinput["canary_date"] = self.options.date.isoformat()
        node.workerinput["canary_trace_id"] = self.options.trace_id

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect each gate's verdict, from this process or from an xdist worker; decide a
        tenant once its last gate is done."""
        self.ledger.record(report)
        junit.group_by_tenant(self.config, report)
        tenant = self.ledger.completed(report)
        if tenant is not None:
            self._decide(tenant)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Learn from a finished worker which gates it expected to run."""
        expected = getattr(node, "workeroutput", {}).get("canary_expected", {})
        for nodeid, values in expected.items():
            self.ledger.expect(nodeid, Expected(*values))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Decide every tenant once; write, roll out, set the exit status."""
        if len(self.options.tenants) > report.TERMINAL_FULL_LIMIT and (
            self.config.option.tbstyle == "auto"
        ):
            # pytest builds its failures section in O(failures x items), minutes at 10,000
            # tenants, and a gate's section only repeats its one line, which the short summary
            # and JUnit (its reports are made by now) carry anyway: a large run leaves it out.
            self.config.option.tbstyle = "no"
        if exitstatus not in (
            pytest.ExitCode.OK,
            pytest.ExitCode.TESTS_FAILED,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            return  # interrupted, internal or usage error: no decision from a broken run
        if self.config.option.collectonly:
            return  # listing the gates judges nothing: no decision, no file
        for tenant in self.options.tenants:
            self._decide(tenant)
        for decision, steps in self._to_roll_out:
            self._roll_out(decision, steps)
        order = {tenant: index for index, tenant in enumerate(self.options.tenants)}
        self.decisions.sort(key=lambda d: order[d.tenant])
        github.emit_files(self.decisions, self.rollouts, os.environ, self._say)
        junit.record_decisions(self.config, self.decisions)
        all_go = all(d.is_go for d in self.decisions) and not self.problems
        session.exitstatus = (
            pytest.ExitCode.OK
            if all_go and not self._other_failures()
            else pytest.ExitCode.TESTS_FAILED
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """List each tenant's decision, quota before → after and reasons."""
        if not self.decisions:
            return
        terminalreporter.section("canary")
        for line in report.terminal_lines(self.decisions, self.rollouts):
            terminalreporter.write_line(line)
        for line in self.problems:
            terminalreporter.write_line(line, red=True)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Resume the runner's commands, then annotate: each command on a line of its own."""
        if self._resume is None:
            return
        self._say(self._resume)
        for line in github.annotation_lines(self.decisions, self.rollouts):
            self._say(line)
        self._resume = None

    # --- helpers ------------------------------------------------------------------------------

    def _say(self, line: str) -> None:
        """Print ``line`` on a line of its own, after whatever pytest printed (progress dots)."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and reporter._tw.width_of_current_line:
            reporter._tw.line()
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def _decide(self, tenant: str) -> None:
        """Decide a selected tenant once, then drop what the run kept of its inputs."""
        if tenant in self._decided or tenant not in self.cases.paths:
            return
        self._decided.add(tenant)
        self._finish_tenant(tenant)
        self.cases.forget(tenant)
        self.ledger.forget(tenant)

    def _finish_tenant(self, tenant: str) -> None:
        case = self.cases.case(tenant)
        custom, missing = self.ledger.custom_results(tenant)
        missing.extend(self._disagreements(tenant))
        decision = engine.decide(case, custom, missing)
        self.decisions.append(self._summary_view(decision))
        if self.options.dry_run:
            self.config.hook.pytest_canary_decision(decision=decision, config=self.config)
            return
        paths = self.cases.paths[tenant]
        try:
            record_decision(paths, decision, decision_markdown.render(paths, decision))
        except (OSError, RolloutRefused, CanaryUsageError) as exc:
            self.problems.append(f"{tenant}: decision not written: {exc}")
            return
        self.config.hook.pytest_canary_decision(decision=decision, config=self.config)
        if self.options.rollout:  # at the end: a run cut off mid-way rolls nothing out
            self._to_roll_out.append((decision, list(case.gates.steps)))

    def _summary_view(self, decision: Decision) -> Decision:
        """What the summaries read of a decision (words, quotas, reasons), kept until the end.

        Its gates, thresholds and inputs are most of its size and are in its files; only the
        step summary shows them, for a tenant that is not GO. Kept whole, 10,000 decisions
        took ~200 MB.
        """
        if not decision.is_go and os.environ.get("GITHUB_STEP_SUMMARY"):
            return decision
        return decision.model_copy(update={"gates": [], "thresholds": {}, "inputs": []})

    def _roll_out(self, decision: Decision, steps: list[int]) -> None:
        from pytest_canary.ops.rollout import DEFAULT_MAX_AGE, apply_decision, refused_log

        tenant = decision.tenant
        try:
            log = apply_decision(
                self.cases.paths[tenant],
                decision,
                steps=steps,
                now=now_berlin(),
                max_age=DEFAULT_MAX_AGE,
                lock_timeout=LOCK_TIMEOUT,
            )
        except (RolloutRefused, CanaryUsageError, OSError) as exc:
            self.problems.append(f"{tenant}: rollout refused: {exc}")
            self.rollouts[tenant] = refused_log(decision, now_berlin(), str(exc))
            return
        self.rollouts[tenant] = log
        self.config.hook.pytest_canary_rollout(result=log, config=self.config)

    def _disagreements(self, tenant: str) -> list[str]:
        """Built-in gates whose reported verdict differs from the controller's (an input changed)."""
        names = []
        for nodeid, exp in self.ledger.of_tenant(tenant):
            if exp.kind == "custom" or nodeid not in self.ledger.statuses:
                continue
            if self.ledger.statuses[nodeid][0] != self.cases.result(tenant, exp.gate).status:
                names.append(exp.gate)
        return names

    def _other_failures(self) -> bool:
        """Whether a test that is not a gate failed (the ledger records every failed report)."""
        return any(
            status == "error" and nodeid not in self.ledger.expected
            for nodeid, (status, _) in self.ledger.statuses.items()
        )
