"""Builders of one tenant's inputs and the engine's ``Case`` for the engine and parsing tests.

Every case is built in memory, from the bytes a file would hold, through the same parsers the
store's readers use (``kpis_from_bytes``, ``blocklist_from_bytes``, ``state_from_bytes``) and the
same gate parser, so a test sees what a run would see from those files without writing them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any

from pytest_canary.core.case import Case
from pytest_canary.core.engine import decide
from pytest_canary.core.gates import GateSet
from pytest_canary.core.readings import (
    BlocklistReading,
    StateReading,
    blocklist_from_bytes,
    kpis_from_bytes,
    missing_kpis,
    state_from_bytes,
)
from pytest_canary.core.records import Decision
from pytest_canary.store.gates import GateConfig

TENANT = "acme"
DATE = dt.date(2024, 5, 2)
TRACE = "0123456789abcdef0123456789abcdef"
CREATED = dt.datetime(2024, 5, 2, 7, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
AT = "2024-05-01T07:35:00+02:00"

# Every built-in gate passes with room to spare.
GOOD_KPIS: dict[str, Any] = {
    "notices_sent": 1000,
    "error_rate": 0.001,
    "hard_bounces": 1,
    "dlq_depth": 0,
    "retry_depth": 0,
}


def kpis(**changes: Any) -> dict[str, Any]:
    """The good KPIs with ``changes``; a value of ``None`` removes the field."""
    result = dict(GOOD_KPIS)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def state(
    *,
    quota: int = 10,
    kill_switch: bool = False,
    serial: int = 0,
    review: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    tenant: str = TENANT,
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "tenant": tenant,
        "quota": quota,
        "kill_switch": kill_switch,
        "serial": serial,
        "last_decision_id": None,
        "updated_at": AT,
        "review": review,
        "history": history or [],
    }


def review(by: str = "oncall") -> dict[str, Any]:
    return {"by": by, "note": "checked the DLQ", "at": AT}


def history_entry(
    *,
    serial: int,
    decision: str,
    decision_id: str,
    kpi_date: dt.date = DATE,
    event: str = "ROLLOUT",
    base_quota: int = 10,
    base_kill_switch: bool = False,
    base_review: dict[str, Any] | None = None,
    to_quota: int = 25,
    kill_switch: bool = False,
) -> dict[str, Any]:
    return {
        "serial": serial,
        "at": AT,
        "event": event,
        "decision": decision,
        "decision_id": decision_id,
        "kpi_date": kpi_date.isoformat(),
        "trace_id": TRACE,
        "base": {"quota": base_quota, "kill_switch": base_kill_switch, "review": base_review},
        "from_quota": base_quota,
        "to_quota": to_quota,
        "kill_switch": kill_switch,
        "reasons": [],
    }


def hard_bounce(added_at: str) -> dict[str, Any]:
    return {"reason": "hard_bounce", "added_at": added_at, "address_sha256": "ab" * 32}


GATE_FILE = "gates/extra.toml"
"""Where the ``toml`` of a case is shown as coming from."""
NO_KPI_NEARBY = "the folder has no KPI file at all"


def _bytes(content: Any) -> bytes:
    """A file's bytes: bytes as they are, text as UTF-8, anything else as JSON."""
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode()
    return json.dumps(content).encode()


def gate_set(
    toml: str | None = None,
    env: Mapping[str, str] | None = None,
    tenant: str | None = TENANT,
) -> GateSet:
    """The effective gates of ``tenant``: built-ins, ``toml`` as a gate file, then ``env``."""
    if toml is None and not env:
        return _builtin_gates(tenant)
    texts = [] if toml is None else [(toml, GATE_FILE)]
    return GateConfig.parse(texts).for_tenant(tenant, env or {})


@functools.cache
def _builtin_gates(tenant: str | None) -> GateSet:
    return GateConfig.parse([]).for_tenant(tenant, {})


def make_case(
    kpi: Any = GOOD_KPIS,
    *,
    blocklist: Any = None,
    operate_state: Any = None,
    toml: str | None = None,
    env: Mapping[str, str] | None = None,
    tenant: str = TENANT,
    date: dt.date = DATE,
    trace_id: str = TRACE,
    created_at: dt.datetime = CREATED,
    folder: str = "root",
) -> Case:
    """A case from the files' contents; ``None`` leaves a file out (dict/list as JSON, bytes raw).

    Each reading names the path the file would have under ``folder``.
    """
    where = f"{folder}/{tenant}"
    kpi_path = f"{where}/{date.isoformat()}.json"
    blocklist_path, state_path = (
        f"{where}/ops/blocklist.json",
        f"{where}/operate/operate_state.json",
    )
    gates = gate_set(toml, env, tenant)
    return Case(
        tenant=tenant,
        date=date,
        kpis=missing_kpis(kpi_path, date, NO_KPI_NEARBY)
        if kpi is None
        else kpis_from_bytes(_bytes(kpi), kpi_path, tenant, date),
        blocklist=BlocklistReading(blocklist_path, False, None)
        if blocklist is None
        else blocklist_from_bytes(_bytes(blocklist), blocklist_path, date),
        state=StateReading(state_path, False, None)
        if operate_state is None
        else state_from_bytes(_bytes(operate_state), state_path, tenant, gates.steps),
        gates=gates,
        trace_id=trace_id,
        created_at=created_at,
    )


def decide_inputs(kpi: Any = GOOD_KPIS, **options: Any) -> Decision:
    """Decide the case of these inputs (see :func:`make_case`)."""
    return decide(make_case(kpi, **options))


def gate(decision: Decision, name: str) -> Any:
    return next(g for g in decision.gates if g.name == name)


def statuses(decision: Decision) -> dict[str, str]:
    return {g.name: g.status for g in decision.gates}
