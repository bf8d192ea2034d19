"""What should have reported and what did: the ledger of a canary run's gates.

Under xdist the controller collects nothing: it learns the gates each worker expected from the
workers' output, and their verdicts from the reports they send. A gate that never reported
(deselected, cut off by ``-x``, lost with a worker) is named, so that it cannot pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from pytest_canary.core.models import GateStatus
from pytest_canary.core.records import BUILTIN_ITEMS, GateResult
from pytest_canary.plugin.items import MESSAGE_KEY, STATUS_KEY, GateItem

__all__ = [
    "GATE_KEY",
    "MESSAGE_KEY",
    "STATUS_KEY",
    "Expected",
    "Ledger",
    "custom_verdict",
    "expected_of",
]

GATE_KEY = "canary_gate"
"""The attribute of a gate's teardown report: its :class:`Expected` and how many gates its tenant
has. xdist carries a report's attributes to the controller, so the controller knows when a
tenant's last gate is done and decides it then, while the workers run the other tenants."""


@dataclass(frozen=True)
class Expected:
    """A gate item a worker collected: which tenant and gate it judges, and how it counts."""

    tenant: str
    gate: str
    kind: str
    shadow: bool = False

    def as_list(self) -> list[Any]:
        return [self.tenant, self.gate, self.kind, self.shadow]


@dataclass
class Ledger:
    """What should have reported, and what did: the controller's view of the run."""

    expected: dict[str, Expected] = field(default_factory=dict)
    statuses: dict[str, tuple[GateStatus, str]] = field(default_factory=dict)
    # node ids by tenant, so a tenant's lookups cost its own gates, not every tenant's (O(n²))
    _by_tenant: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _done: dict[str, set[str]] = field(default_factory=dict, repr=False)

    def expect(self, nodeid: str, exp: Expected) -> None:
        """Remember a gate that should report (every xdist worker names the same gates once)."""
        if nodeid in self.expected:
            return
        self.expected[nodeid] = exp
        self._by_tenant.setdefault(exp.tenant, []).append(nodeid)

    def of_tenant(self, tenant: str) -> list[tuple[str, Expected]]:
        """The tenant's expected gates as ``(nodeid, Expected)``, in the order they were met."""
        return [(nodeid, self.expected[nodeid]) for nodeid in self._by_tenant.get(tenant, ())]

    def mark(self, report: pytest.TestReport, nodeid: str) -> None:
        """Put the gate's :data:`GATE_KEY` on its teardown report (every process: the collecting
        one knows the gates; the controller may not)."""
        exp = self.expected.get(nodeid)
        if exp is not None and report.when == "teardown":
            report.__dict__[GATE_KEY] = [*exp.as_list(), len(self._by_tenant[exp.tenant])]

    def completed(self, report: pytest.TestReport) -> str | None:
        """The tenant whose every gate has now finished, on its last gate's teardown report.

        The mark is taken off the report: pytest keeps every report until the run ends.
        """
        marked = report.__dict__.pop(GATE_KEY, None)
        if report.when != "teardown" or not isinstance(marked, list) or len(marked) != 5:
            return None
        exp, total = Expected(*marked[:4]), int(marked[4])
        self.expect(report.nodeid, exp)
        done = self._done.setdefault(exp.tenant, set())
        done.add(report.nodeid)
        return exp.tenant if len(done) >= total else None

    def forget(self, tenant: str) -> None:
        """Drop a decided tenant's verdicts; its expected gates stay (they are not other tests)."""
        for nodeid in self._by_tenant.get(tenant, ()):
            self.statuses.pop(nodeid, None)
        self._done.pop(tenant, None)

    def record(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        status = cast("GateStatus | None", props.get(STATUS_KEY))
        if report.when == "teardown" and report.failed:
            status = "error"
        if status is None and report.failed:
            status = "error"
        if status is not None:
            self.statuses[report.nodeid] = (status, str(props.get(MESSAGE_KEY, "")))

    def custom_results(self, tenant: str) -> tuple[list[GateResult], list[str]]:
        """The tenant's custom gate verdicts, and the names of every gate that did not report."""
        results, missing = [], []
        for nodeid, exp in self.of_tenant(tenant):
            reported = self.statuses.get(nodeid)
            if reported is None:
                missing.append(exp.gate)
            elif exp.kind == "custom":
                results.append(custom_result(exp, nodeid, *reported))
        return results, missing


def custom_result(exp: Expected, nodeid: str, status: GateStatus, message: str) -> GateResult:
    return GateResult(
        name=exp.gate,
        label=exp.gate,
        kind="custom",
        metric="custom",
        value=None,
        op="==",
        threshold=None,
        status=status,
        message=message or f"{exp.gate}: {status}",
        source=nodeid,
        shadow=exp.shadow,
    )


def expected_of(item: pytest.Item, shadow_of: Callable[[str, str], bool]) -> Expected | None:
    if isinstance(item, GateItem):
        shadow = shadow_of(item.tenant, item.name)
        kind = "threshold" if item.name not in BUILTIN_ITEMS else item.name
        return Expected(item.tenant, item.name, kind, shadow)
    marker = item.get_closest_marker("canary_gate")
    callspec = getattr(item, "callspec", None)
    if marker is None or callspec is None:
        return None
    name = getattr(item, "originalname", item.name)
    return Expected(
        str(callspec.params["canary_tenant"]),
        name,
        "custom",
        bool(marker.kwargs.get("shadow", False)),
    )


def custom_verdict(
    item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None], severity: str
) -> tuple[GateStatus, str]:
    """A custom gate's status and, when it failed, its one line (``HOLD: name [tenant] ...``)."""
    status = custom_status(report, call, severity)
    if not report.failed:
        return status, ""
    word = "BACKOUT" if status == "backout" else "HOLD"
    first = str(call.excinfo.value).strip().splitlines() if call.excinfo else []
    callspec = getattr(item, "callspec", None)
    tenant = callspec.params.get("canary_tenant", "?") if callspec else "?"
    name = getattr(item, "originalname", item.name)
    return status, f"{word}: {name} [{tenant}] ({status}): {first[0] if first else 'failed'}"


def custom_status(
    report: pytest.TestReport, call: pytest.CallInfo[None], severity: str
) -> GateStatus:
    if report.passed:
        return "pass"
    if report.skipped:
        return "skipped"
    if (
        report.when == "call"
        and call.excinfo is not None
        and call.excinfo.errisinstance(AssertionError)
    ):
        return "backout" if severity == "backout" else "hold"
    return "error"
