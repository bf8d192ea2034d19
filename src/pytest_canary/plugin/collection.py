"""The plugin of every process of a canary run: gates become items, outcomes become verdicts.

Registered on the controller and on every xdist worker. It adds the built-in gate items, runs each
``canary_gate`` function once per tenant, turns a custom gate's outcome into its verdict and
notes in the ledger which gates should report. :class:`CanaryWorker` hands that list to the
controller; :mod:`pytest_canary.plugin.controller` decides.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_canary.plugin import junit
from pytest_canary.plugin.cases import Cases
from pytest_canary.plugin.items import GateItem, build_items
from pytest_canary.plugin.ledger import MESSAGE_KEY, STATUS_KEY, Ledger, custom_verdict, expected_of
from pytest_canary.plugin.options import RunOptions

_VALID_SEVERITIES = ("hold", "backout")


class CanaryCollection:
    """Collects a canary run's gates and their verdicts, on every process."""

    def __init__(self, options: RunOptions, cases: Cases, ledger: Ledger) -> None:
        self.options = options
        self.cases = cases
        self.ledger = ledger

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run each ``canary_gate`` function once per selected tenant."""
        marker = metafunc.definition.get_closest_marker("canary_gate")
        if marker is None:
            return
        severity = marker.kwargs.get("severity", "hold")
        if severity not in _VALID_SEVERITIES:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid}: canary_gate severity={severity!r};"
                " use 'hold' or 'backout'"
            )
        if "canary_tenant" not in metafunc.fixturenames:
            metafunc.fixturenames.append("canary_tenant")
        tenants = self.options.tenants
        metafunc.parametrize("canary_tenant", tenants, ids=tenants, indirect=True)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, items: list[pytest.Item]
    ) -> Generator[None]:
        """Add the built-in gate items, and remember every gate before any deselection."""
        options = self.options
        builtins = build_items(
            session,
            options.gates_id,
            options.gates_path,
            options.tenants,
            self.cases.gate_names,
            self.cases.result,
        )
        items[:0] = builtins
        # Announce the injected items like any collected ones, so "collected N items" counts them.
        session.ihook.pytest_collectreport(
            report=pytest.CollectReport(options.gates_id, "passed", None, list(builtins))
        )
        for item in items:
            expected = expected_of(item, self.cases.is_shadow)
            if expected is not None:
                self.ledger.expect(item.nodeid, expected)
                item.user_properties.append((junit.TENANT_KEY, expected.tenant))
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Turn a custom gate's outcome into a verdict (assertion = its severity, else error), and
        mark every gate's teardown report so the controller can tell when a tenant is done."""
        report = yield
        self.ledger.mark(report, item.nodeid)
        if isinstance(item, GateItem):  # first: the marker lookup walks the node chain
            return report
        marker = item.get_closest_marker("canary_gate")
        if marker is None:
            return report
        if report.when == "call" or (report.when == "setup" and not report.passed):
            status, line = custom_verdict(item, report, call, marker.kwargs.get("severity", "hold"))
            if report.failed and marker.kwargs.get("shadow", False):
                report.outcome = "skipped"
                report.wasxfail = f"SHADOW (not counted) {line}"
            elif report.failed:
                report.longrepr = f"{line}\n\n{report.longrepr}"
            report.user_properties.append((STATUS_KEY, status))
            report.user_properties.append((MESSAGE_KEY, line))
        return report

    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> None:
        """A custom gate cannot judge invalid KPIs: fail it in the call phase, as an error."""
        if pyfuncitem.get_closest_marker("canary_gate") is None:
            return
        tenant = pyfuncitem.callspec.params.get("canary_tenant")
        kpis = self.cases.case(str(tenant)).kpis
        if kpis.model is None:
            raise RuntimeError(f"KPI input invalid, gate cannot judge: {kpis.problems()[0]}")


class CanaryWorker:
    """On an xdist worker only: hands the gates it expected to the controller."""

    def __init__(self, config: pytest.Config, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Put the expected gates in the worker's output; the controller reads it at node down."""
        workeroutput: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
        workeroutput["canary_expected"] = {
            nodeid: exp.as_list() for nodeid, exp in self.ledger.expected.items()
        }
