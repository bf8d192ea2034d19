"""Each tenant's inputs and built-in verdicts, read and judged once per process."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pytest_canary.core.case import Case
from pytest_canary.core.jsonfile import canonical_json, sha256_hex
from pytest_canary.core.readings import kpis_from_object
from pytest_canary.core.records import BUILTIN_ITEMS, GateResult
from pytest_canary.core.verdicts import evaluate_gates
from pytest_canary.plugin.options import RunOptions
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.readers import read_case
from pytest_canary.store.settings import now_berlin


class Cases:
    """The run's tenants: their folders, their cases (inputs) and their built-in gate results."""

    def __init__(self, config: pytest.Config, options: RunOptions) -> None:
        self._config = config
        self._options = options
        self.started: dt.datetime = now_berlin()
        self.paths = {tenant: TenantPaths.open(options.root, tenant) for tenant in options.tenants}
        for paths in self.paths.values():  # the KPI file too: a link out of the root is refused
            paths.check(paths.kpi(options.date))
        self._cases: dict[str, Case] = {}
        self._results: dict[str, dict[str, GateResult]] = {}

    def case(self, tenant: str) -> Case:
        """The tenant's inputs, read once: KPIs (from the hook, else the file), blocklist, state."""
        cached = self._cases.get(tenant)
        if cached is not None:
            return cached
        date, paths = self._options.date, self.paths[tenant]
        gates = self._options.gates.for_tenant(tenant, self._options.gate_env)
        hooked = self._config.hook.pytest_canary_load_kpis(
            tenant=tenant, date=date, config=self._config
        )
        kpis = None
        if hooked is not None:
            where = f"pytest_canary_load_kpis({tenant}, {date})"
            raw_sha = sha256_hex(canonical_json(hooked)) if _jsonable(hooked) else None
            kpis = kpis_from_object(hooked, where, tenant, date, raw_sha)
        case = read_case(
            paths,
            date,
            gates,
            trace_id=self._options.trace_id,
            created_at=self.started,
            kpis=kpis,
        )
        self._cases[tenant] = case
        return case

    def result(self, tenant: str, gate: str) -> GateResult:
        """A built-in gate's result; the tenant's gates are judged once, together."""
        results = self._results.get(tenant)
        if results is None:
            results = {r.name: r for r in evaluate_gates(self.case(tenant))}
            self._results[tenant] = results
        return results[gate]

    def forget(self, tenant: str) -> None:
        """Drop a decided tenant's inputs: 10,000 tenants' worth would stay until the run ends."""
        self._cases.pop(tenant, None)
        self._results.pop(tenant, None)

    def is_shadow(self, tenant: str, gate: str) -> bool:
        """Whether a built-in item is a shadow gate, from the gate set: no input is read."""
        spec = self._options.gates.for_tenant(tenant, self._options.gate_env).get(gate)
        return spec is not None and spec.shadow  # inputs and kill_switch are never shadows

    def gate_names(self, tenant: str) -> list[str]:
        specs = self._options.gates.for_tenant(tenant, self._options.gate_env).gates
        return [*BUILTIN_ITEMS, *(spec.name for spec in specs)]


def _jsonable(value: Any) -> bool:
    try:
        canonical_json(value)
    except (TypeError, ValueError):
        return False
    return True
