"""Builders of Decision, GateResult and RolloutLog for the report and GitHub tests."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from pytest_canary.core.models import QuotaState
from pytest_canary.core.records import Decision, GateResult, RolloutLog, Target

BERLIN_MORNING = dt.datetime(2024, 5, 2, 7, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
TRACE = "0123456789abcdef0123456789abcdef"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def gate(name: str = "error_rate", **overrides: Any) -> GateResult:
    fields: dict[str, Any] = {
        "name": name,
        "label": "Fehlerquote",
        "metric": name,
        "value": 0.01,
        "op": "<=",
        "threshold": 0.02,
        "backout_threshold": 0.04,
        "status": "pass",
        "message": "within the threshold",
        "source": "built-in",
    }
    fields.update(overrides)
    return GateResult(**fields)


def default_gates() -> list[GateResult]:
    return [
        gate(),
        gate(
            "hard_bounce_rate",
            label="Hard-Bounce-Rate",
            metric="hard_bounces / notices_sent",
            value=0.0125,
            threshold=0.05,
            backout_threshold=0.1,
        ),
        gate("dlq_depth", label="DLQ-Tiefe", value=3.0, threshold=10.0, backout_threshold=20.0),
        gate("retry_depth", label="Retry-Tiefe", value=7.0, threshold=50.0, backout_threshold=100),
        gate(
            "min_volume",
            label="Mindestvolumen",
            metric="notices_sent",
            value=400.0,
            op=">=",
            threshold=3.0,
            backout_threshold=None,
        ),
    ]


def decision(
    tenant: str = "acme",
    word: str = "GO_25",
    *,
    quota: int = 10,
    target: int | None = None,
    kill_switch: bool = False,
    reasons: list[str] | None = None,
    gates: list[GateResult] | None = None,
    **overrides: Any,
) -> Decision:
    if target is None:
        target = {"HOLD": quota, "BACKOUT": 10}.get(word, int(word[3:]) if "_" in word else quota)
    backout = word == "BACKOUT"
    fields: dict[str, Any] = {
        "tenant": tenant,
        "date": dt.date(2024, 5, 2),
        "decision": word,
        "decision_id": sha(f"{tenant}-{word}"),
        "trace_id": TRACE,
        "created_at": BERLIN_MORNING,
        "steps": [10, 25, 50, 100],
        "base": QuotaState(quota=quota, kill_switch=kill_switch, serial=3),
        "target": Target(quota=target, kill_switch=backout or (kill_switch and word == "HOLD")),
        "kill_switch_recommended": backout,
        "reasons": [] if reasons is None else reasons,
        "gates": default_gates() if gates is None else gates,
        "thresholds": {},
        "inputs": [],
    }
    fields.update(overrides)
    return Decision(**fields)


def rollout(
    tenant: str = "acme",
    word: str = "GO_25",
    *,
    outcome: str = "applied",
    before: tuple[int, bool] = (10, False),
    after: tuple[int, bool] | None = (25, False),
    reasons: list[str] | None = None,
) -> RolloutLog:
    changed = outcome == "applied"
    return RolloutLog(
        tenant=tenant,
        date=dt.date(2024, 5, 2),
        decision=word,
        decision_id=sha(f"{tenant}-{word}"),
        trace_id=TRACE,
        at=BERLIN_MORNING + dt.timedelta(minutes=1),
        outcome=outcome,  # type: ignore[arg-type]
        changed=changed,
        before=QuotaState(quota=before[0], kill_switch=before[1], serial=3),
        after=None if after is None else QuotaState(quota=after[0], kill_switch=after[1], serial=4),
        reasons=[] if reasons is None else reasons,
    )
