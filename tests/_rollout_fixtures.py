"""Builders of roots, states and decisions for the store and rollout tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from pytest_canary.core.models import OperateState, QuotaState, Review
from pytest_canary.core.records import Decision, Target
from pytest_canary.store.layout import TenantPaths

BERLIN = dt.timezone(dt.timedelta(hours=2))
KPI_DATE = dt.date(2024, 5, 2)
CREATED = dt.datetime(2024, 5, 2, 7, 30, tzinfo=BERLIN)
NOW = CREATED + dt.timedelta(minutes=5)
TRACE = "0123456789abcdef0123456789abcdef"
STEPS = [10, 25, 50, 100]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_root(tmp_path: Path, *tenants: str) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    for tenant in tenants or ("acme",):
        (root / tenant).mkdir()
    return root


def open_tenant(tmp_path: Path, tenant: str = "acme") -> TenantPaths:
    return TenantPaths.open(make_root(tmp_path, tenant), tenant)


def decision(
    verdict: str = "GO_25",
    *,
    tenant: str = "acme",
    date: dt.date = KPI_DATE,
    quota: int = 10,
    kill_switch: bool = False,
    serial: int = 0,
    target: int | None = None,
    created_at: dt.datetime | None = None,
    salt: str = "",
    reasons: list[str] | None = None,
    review: Review | None = None,
) -> Decision:
    """A decision as the engine would write it; the id depends on what decided, like the engine's.

    Created at 07:30 Berlin on its KPI date unless ``created_at`` says otherwise.
    """
    if created_at is None:
        created_at = dt.datetime.combine(date, dt.time(7, 30), BERLIN)
    if target is None:
        target = int(verdict[3:]) if verdict.startswith("GO_") else quota
        if verdict == "BACKOUT":
            target = STEPS[0]
    if reasons is None:
        reasons = [] if verdict.startswith("GO_") else [f"{verdict}: error_rate 0.05 > 0.02"]
    return Decision(
        tenant=tenant,
        date=date,
        decision=verdict,
        decision_id=sha(f"{tenant}|{date}|{verdict}|{quota}|{kill_switch}|{salt}"),
        trace_id=TRACE,
        created_at=created_at,
        steps=STEPS,
        base=QuotaState(quota=quota, kill_switch=kill_switch, serial=serial, review=review),
        target=Target(quota=target, kill_switch=verdict == "BACKOUT"),
        kill_switch_recommended=verdict == "BACKOUT",
        reasons=reasons,
        gates=[],
        thresholds={},
        inputs=[],
    )


def write_state(paths: TenantPaths, **fields: Any) -> OperateState:
    state = OperateState.model_validate({"tenant": paths.tenant, "quota": 10, **fields})
    paths.operate_dir.mkdir(exist_ok=True)
    payload = state.model_dump(mode="json")
    paths.state.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return state


def audit_lines(paths: TenantPaths) -> list[dict[str, Any]]:
    if not paths.audit.exists():
        return []
    return [json.loads(line) for line in paths.audit.read_text().splitlines() if line]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (lock files aside): to prove nothing changed."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }
