"""The pytest nodes of the built-in gates: ``<gates>::<tenant>::<gate>``, one item per gate."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from pytest_canary.core.records import GateResult
from pytest_canary.render.report import failure_line

GateLookup = Callable[[str, str], GateResult]
# The user properties that carry a gate's verdict from the item (or an xdist worker) to the run.
STATUS_KEY = "canary_status"
MESSAGE_KEY = "canary_message"


class GateFailure(Exception):
    """A gate that does not pass; its one line is all a person (or JUnit) needs."""

    def __init__(self, result: GateResult) -> None:
        super().__init__(failure_line(result))
        self.result = result


class GateSetNode(pytest.Collector):
    """The gate set of a run (a gate file, a folder of them, or the built-ins)."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        return []


class TenantNode(pytest.Collector):
    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        return []


class GateItem(pytest.Item):
    """One gate of one tenant. The verdict is computed once per tenant, then only looked up."""

    def __init__(self, *, tenant: str, lookup: GateLookup, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tenant = tenant
        self._lookup = lookup

    def runtest(self) -> None:
        result = self._lookup(self.tenant, self.name)
        self.user_properties.append((STATUS_KEY, result.status))
        if result.status == "pass":
            return
        if result.shadow:
            pytest.xfail(f"SHADOW (not counted) {failure_line(result)}")
        if result.status == "skipped":
            pytest.skip(result.message)
        raise GateFailure(result)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, GateFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"canary gate {self.tenant}::{self.name}"


def build_items(
    session: pytest.Session,
    gates_id: str,
    gates_path: Path,
    tenants: Iterable[str],
    gate_names: Callable[[str], list[str]],
    lookup: GateLookup,
) -> list[GateItem]:
    """Items for every tenant's built-in gates, under one node named after the gate set."""
    root = GateSetNode.from_parent(session, name=gates_id, path=gates_path, nodeid=gates_id)
    items: list[GateItem] = []
    for tenant in tenants:
        node = TenantNode.from_parent(root, name=tenant)
        items.extend(
            GateItem.from_parent(node, name=name, tenant=tenant, lookup=lookup)
            for name in gate_names(tenant)
        )
    return items
