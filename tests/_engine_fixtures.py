"""Builders of one tenant's input files and the engine's ``Case`` for the engine and parsing tests.

Every case goes through the real readers (``read_kpis``, ``read_blocklist``, ``read_state``) and
the real gate loader, on files written under ``tmp_path``, so a test sees what a run would see.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_canary.core.case import Case
from pytest_canary.core.engine import decide
from pytest_canary.core.gates import GateSet
from pytest_canary.core.records import Decision
from pytest_canary.store.gates import GateConfig
from pytest_canary.store.readers import read_blocklist, read_kpis, read_state

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


def _write(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, "utf-8")
    else:
        path.write_text(json.dumps(content), "utf-8")


def gate_set(
    tmp_path: Path,
    toml: str | None = None,
    env: Mapping[str, str] | None = None,
    tenant: str | None = TENANT,
) -> GateSet:
    """The effective gates of ``tenant``: built-ins, ``toml`` as a gate file, then ``env``."""
    if toml is None and not env:
        return _builtin_gates(tenant)
    files = []
    if toml is not None:
        gate_file = tmp_path / "gates" / "extra.toml"
        _write(gate_file, toml)
        files.append(gate_file)
    return GateConfig.load(files).for_tenant(tenant, env or {})


@functools.cache
def _builtin_gates(tenant: str | None) -> GateSet:
    return GateConfig.load([]).for_tenant(tenant, {})


def make_case(
    tmp_path: Path,
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
    """A case read from real files; ``None`` leaves a file out (dict/list as JSON, bytes raw)."""
    root = tmp_path / folder / tenant
    root.mkdir(parents=True, exist_ok=True)
    kpi_path = root / f"{date.isoformat()}.json"
    blocklist_path = root / "ops" / "blocklist.json"
    state_path = root / "operate" / "operate_state.json"
    for path, content in (
        (kpi_path, kpi),
        (blocklist_path, blocklist),
        (state_path, operate_state),
    ):
        if content is None:
            path.unlink(missing_ok=True)
        else:
            _write(path, content)
    gates = gate_set(tmp_path, toml, env, tenant)
    return Case(
        tenant=tenant,
        date=date,
        kpis=read_kpis(kpi_path, tenant, date),
        blocklist=read_blocklist(blocklist_path, date),
        state=read_state(state_path, tenant, gates.steps),
        gates=gates,
        trace_id=trace_id,
        created_at=created_at,
    )


def decide_files(tmp_path: Path, kpi: Any = GOOD_KPIS, **options: Any) -> Decision:
    """Write the files, read them back, decide."""
    return decide(make_case(tmp_path, kpi, **options))


def gate(decision: Decision, name: str) -> Any:
    return next(g for g in decision.gates if g.name == name)


def statuses(decision: Decision) -> dict[str, str]:
    return {g.name: g.status for g in decision.gates}
