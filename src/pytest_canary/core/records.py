"""The models of the files a decision and a rollout write: decision, rollout and control logs,
audit lines. The inputs and the state are :mod:`pytest_canary.core.models`'s.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from pytest_canary.core.models import (
    ClosedModel,
    ControlEvent,
    DecisionName,
    GateStatus,
    IsoDate,
    QuotaState,
    SchemaVersion,
    Sha256,
    TenantId,
    Timestamp,
    TraceId,
)

# --- decision ---------------------------------------------------------------------------------


class CohortFigure(ClosedModel):
    """A rate as counts: ``events`` of ``trials``."""

    events: int
    trials: int
    rate: float


class Evidence(ClosedModel):
    """What an evidence gate weighed: the counts, the interval and the confidence."""

    kind: Literal["wilson", "relative"]
    confidence: float
    observed: CohortFigure | None = None
    canary: CohortFigure | None = None
    control: CohortFigure | None = None
    interval: tuple[float, float] | None = None
    interval_of: str = ""
    verdict: str = ""


BUILTIN_ITEMS = ("inputs", "kill_switch", "promotion")
"""The items every tenant has besides its threshold gates."""


class GateResult(ClosedModel):
    """One gate's verdict: what a pytest item reports and what the decision records."""

    name: str
    label: str
    kind: Literal["threshold", "custom", "inputs", "kill_switch", "promotion"] = "threshold"
    metric: str
    value: float | None
    op: Literal["<=", ">=", "=="]
    threshold: float | None
    backout_threshold: float | None = None
    status: GateStatus
    message: str
    source: str
    shadow: bool = False
    evidence: Evidence | None = None

    @model_serializer(mode="wrap")
    def _drop_no_evidence(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        # Gates without evidence are written as before the field existed: a decision of a tenant
        # that uses no evidence gate is byte-for-byte what it was.
        data = handler(self)
        if isinstance(data, dict) and data.get("evidence") is None:
            data.pop("evidence", None)
        return data


class Threshold(ClosedModel):
    value: float
    source: str
    backout: float | None = None
    backout_source: str | None = None


class Target(ClosedModel):
    quota: int
    kill_switch: bool


class InputRecord(ClosedModel):
    name: Literal["kpis", "blocklist", "state", "gates"]
    path: str
    sha256: Sha256 | None
    valid: bool
    present: bool = True
    error: str | None = None


class PromotionRecord(ClosedModel):
    """Whether a GO could be applied on the decision's date, and the bake count then."""

    green_days: int
    min_green_days: int
    paused: bool
    freeze_window: str | None
    holds: list[str]


class Decision(ClosedModel):
    """``<root>/<tenant>/canary/<date>_decision.json``."""

    schema_version: SchemaVersion = 1
    tenant: TenantId
    date: IsoDate
    decision: DecisionName
    decision_id: Sha256
    trace_id: TraceId
    created_at: Timestamp
    steps: list[int]
    base: QuotaState
    target: Target
    kill_switch_recommended: bool
    reasons: list[str]
    gates: list[GateResult]
    thresholds: dict[str, Threshold]
    inputs: list[InputRecord]
    promotion: PromotionRecord | None = None

    @property
    def is_go(self) -> bool:
        return self.decision.startswith("GO_")


# --- rollout ----------------------------------------------------------------------------------


class RolloutLog(ClosedModel):
    """``<root>/<tenant>/canary/<date>_rollout_log.json``."""

    schema_version: SchemaVersion = 1
    tenant: TenantId
    date: IsoDate
    decision: DecisionName
    decision_id: Sha256
    trace_id: TraceId
    at: Timestamp
    outcome: Literal["applied", "unchanged", "refused"]
    changed: bool
    before: QuotaState | None
    after: QuotaState | None
    reasons: list[str]


class ControlLog(ClosedModel):
    """``<root>/<tenant>/canary/<date>_<kill|pause|resume>_log.json``: an operator's action."""

    schema_version: SchemaVersion = 1
    tenant: TenantId
    date: IsoDate
    action: ControlEvent
    trace_id: TraceId
    at: Timestamp
    by: str
    note: str
    outcome: Literal["applied", "unchanged"]
    changed: bool
    before: QuotaState
    after: QuotaState
    reasons: list[str]


class AuditLine(BaseModel):
    """One line of ``<root>/<tenant>/canary/audit.jsonl``; ``prev`` chains it to the line before."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    seq: int = Field(ge=1)
    at: Timestamp
    event: Literal["DECISION", "ROLLOUT", "REVIEW", "PRUNE", "KILL", "PAUSE", "RESUME"]
    tenant: TenantId
    prev: Sha256 | None
