"""Pydantic models of every file pytest-canary reads or writes.

Counts accept an integral float (``5.0``) but never a boolean or a string; rates are finite
fractions in [0, 1]. Every model that describes a file we write forbids unknown keys, so a
hand-edited or half-migrated file is noticed instead of silently half-read.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    model_serializer,
    model_validator,
)

from pytest_canary.core.tenants import RESERVED, TENANT_PATTERN

SCHEMA_VERSION = 1
DECISION_PATTERN = r"^(GO_[0-9]+|HOLD|BACKOUT)$"
TRACE_PATTERN = r"^[0-9a-f]{32}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
# ISO-8601 date and time to the second; the offset is optional here, required where we write it.
_EXAMPLE_TIME = "2026-11-26T07:30:00+01:00"
DATETIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})?$"

# The largest count the engine can compare (as a float); beyond it a count is refused.
MAX_COUNT = int(sys.float_info.max)
KPI_REQUIRED_FIELDS = ("notices_sent", "error_rate", "hard_bounces", "dlq_depth", "retry_depth")
COHORTS = ("canary", "control")
COHORT_SUMS = ("notices_sent", "errors", "hard_bounces", "soft_bounces")
"""Counts of the tenant that its two cohorts must add up to, when both cohorts give them."""
KPI_OPTIONAL_COUNTS = ("errors", "soft_bounces")
RATE_FIELDS = ("error_rate",)
"""KPI fields that are fractions in [0, 1]."""


def _as_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float: the engine could not compare it
        raise ValueError(f"must be a finite number, got {len(str(value))} digits") from None


def _integral(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number, not " + type(value).__name__)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError(f"must be a whole number, got {value!r}")
        return int(value)
    _as_float(value)
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number, not " + type(value).__name__)
    number = _as_float(value)
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, got {value!r}")
    return number


def _iso_text(value: Any) -> Any:
    """Only ISO-8601 text (or a datetime built in code): pydantic would read ``0`` or ``"0"`` as a
    Unix timestamp, which no file of ours means."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 datetime text, not " + type(value).__name__)
    try:
        if re.fullmatch(DATETIME_PATTERN, value) is None:
            raise ValueError(value)
        return dt.datetime.fromisoformat(value)
    except ValueError:
        shown = value[:40]
        raise ValueError(
            f"must be an ISO-8601 datetime like {_EXAMPLE_TIME}, got {shown!r}"
        ) from None


def _fraction(value: Any) -> Any:
    number = _finite(value)
    if not 0 <= number <= 1:
        raise ValueError(f"must be a fraction in [0, 1] (0.03 is 3 %), got {value:g}")
    return number


def _not_reserved(value: str) -> str:
    if value == RESERVED:
        raise ValueError("'all' is reserved (it selects every tenant)")
    return value


# Constraints come before the validators: after one, pydantic writes them into the JSON Schema
# under their Python names (``ge``), which no JSON Schema validator knows.
Count = Annotated[int, Field(ge=0, le=MAX_COUNT), BeforeValidator(_integral)]
Rate = Annotated[float, Field(ge=0.0, le=1.0), BeforeValidator(_fraction)]
Number = Annotated[float, BeforeValidator(_finite)]
IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_text)]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
TenantId = Annotated[
    str,
    StringConstraints(pattern=TENANT_PATTERN),
    AfterValidator(_not_reserved),
    WithJsonSchema({"type": "string", "pattern": TENANT_PATTERN, "not": {"const": "all"}}),
]
DecisionName = Annotated[str, StringConstraints(pattern=DECISION_PATTERN)]
TraceId = Annotated[str, StringConstraints(pattern=TRACE_PATTERN)]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
GateStatus = Literal["pass", "hold", "backout", "skipped", "error"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- inputs -----------------------------------------------------------------------------------


class CohortKpis(BaseModel):
    """The KPIs of one cohort: the notices the new code dispatched (canary) or the rest."""

    model_config = ConfigDict(extra="allow", frozen=True)

    notices_sent: Count
    error_rate: Rate
    hard_bounces: Count
    dlq_depth: Count
    retry_depth: Count
    errors: Count | None = None
    soft_bounces: Count | None = None


class Cohorts(BaseModel):
    """The optional ``cohorts`` object of a KPI file: the tenant's figures split by cohort."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    canary: CohortKpis
    control: CohortKpis


class Kpis(CohortKpis):
    """One tenant's KPIs of one run date: ``<root>/<tenant>/<YYYY-MM-DD>.json``."""

    tenant: TenantId | None = None
    date: dt.date | None = None
    generated_at: IsoDateTime | None = None
    cohorts: Cohorts | None = None

    @model_validator(mode="after")
    def _cohorts_add_up(self) -> Kpis:
        problem = cohort_sum_problem(self.model_dump(), self.cohorts)
        if problem is not None:
            raise ValueError(problem)
        return self


def cohort_sum_problem(totals: dict[str, Any], cohorts: Cohorts | None) -> str | None:
    """Why ``cohorts`` cannot be a split of ``totals``, or ``None`` when its counts add up."""
    if cohorts is None:
        return None
    for name in COHORT_SUMS:
        parts = [getattr(cohorts, cohort).model_dump().get(name) for cohort in COHORTS]
        total = totals.get(name)
        if total is None or None in parts:
            continue
        if sum(parts) != total:
            return (
                f"cohorts: canary.{name} {parts[0]} + control.{name} {parts[1]}"
                f" is not the tenant's {name} {total:g}"
            )
    return None


class BlocklistEntry(BaseModel):
    """One blocked address; the address itself (or its hash) is never read."""

    model_config = ConfigDict(extra="allow", frozen=True)

    reason: str
    # Without an offset the time is Berlin's (docs/contract.md), which JSON Schema's date-time cannot say.
    added_at: Annotated[
        dt.datetime | None,
        WithJsonSchema(
            {"type": ["string", "null"], "description": "ISO-8601; no offset means Europe/Berlin"}
        ),
    ] = None


class Blocklist(BaseModel):
    """``<root>/<tenant>/ops/blocklist.json`` in its object form."""

    model_config = ConfigDict(extra="allow", frozen=True)

    entries: list[BlocklistEntry]


class BlocklistSummary(_Closed):
    """What a gate or a custom gate may know of the blocklist: counts, never addresses."""

    entries: int
    by_reason: dict[str, int]
    hard_bounces_on_date: int


# --- operate state --------------------------------------------------------------------------


class Review(_Closed):
    by: str
    note: str
    at: Timestamp


class Pause(Review):
    """Who paused a tenant, when and why: its GO decisions are held until ``canary resume``."""


CONTROL_EVENTS = ("KILL", "PAUSE", "RESUME")
"""History events an operator causes by hand, without a decision."""
ControlEvent = Literal["KILL", "PAUSE", "RESUME"]


class BaseState(_Closed):
    """The part of the state a decision is judged against."""

    quota: StrictInt
    kill_switch: StrictBool
    review: Review | None = None
    pause: Pause | None = None


class HistoryEntry(_Closed):
    serial: StrictInt
    at: Timestamp
    event: Literal["ROLLOUT", "REVIEW", "KILL", "PAUSE", "RESUME"]
    decision: DecisionName | None = None
    decision_id: Sha256 | None = None
    kpi_date: dt.date | None = None
    trace_id: TraceId | None = None
    base: BaseState
    from_quota: StrictInt
    to_quota: StrictInt
    kill_switch: StrictBool
    reasons: list[str] = Field(default_factory=list)
    by: str | None = None  # who, for the events a person causes (review, kill, pause, resume)
    note: str | None = None

    @property
    def is_go(self) -> bool:
        """A rollout of a GO decision (a review, or a HOLD or BACKOUT, is not)."""
        return (
            self.event == "ROLLOUT"
            and self.decision is not None
            and self.decision.startswith("GO_")
        )


class OperateState(_Closed):
    """``<root>/<tenant>/operate/operate_state.json``: written only by the rollout."""

    schema_version: Literal[1] = 1
    tenant: TenantId
    quota: StrictInt = Field(ge=0, le=100)
    kill_switch: StrictBool = False
    serial: StrictInt = Field(default=0, ge=0)
    last_decision_id: Sha256 | None = None
    updated_at: Timestamp | None = None
    review: Review | None = None
    pause: Pause | None = None
    history: list[HistoryEntry] = Field(default_factory=list)

    @property
    def base(self) -> BaseState:
        return BaseState(
            quota=self.quota, kill_switch=self.kill_switch, review=self.review, pause=self.pause
        )


# --- decision ---------------------------------------------------------------------------------


class CohortFigure(_Closed):
    """A rate as counts: ``events`` of ``trials``."""

    events: int
    trials: int
    rate: float


class Evidence(_Closed):
    """What an evidence gate weighed: the counts, the interval and the confidence."""

    kind: Literal["wilson", "relative"]
    confidence: float
    observed: CohortFigure | None = None
    canary: CohortFigure | None = None
    control: CohortFigure | None = None
    interval: tuple[float, float] | None = None
    interval_of: str = ""
    verdict: str = ""


class GateResult(_Closed):
    """One gate's verdict: what a pytest item reports and what the decision records."""

    name: str
    label: str
    kind: Literal["threshold", "custom", "inputs", "kill_switch"] = "threshold"
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


class Threshold(_Closed):
    value: float
    source: str
    backout: float | None = None
    backout_source: str | None = None


class DecisionBase(_Closed):
    quota: int
    kill_switch: bool
    serial: int
    review: Review | None = None
    pause: Pause | None = None


class Target(_Closed):
    quota: int
    kill_switch: bool


class InputRecord(_Closed):
    name: Literal["kpis", "blocklist", "state", "gates"]
    path: str
    sha256: Sha256 | None
    valid: bool
    present: bool = True
    error: str | None = None


class Decision(_Closed):
    """``<root>/<tenant>/canary/<date>_decision.json``."""

    schema_version: Literal[1] = 1
    tenant: TenantId
    date: dt.date
    decision: DecisionName
    decision_id: Sha256
    trace_id: TraceId
    created_at: Timestamp
    steps: list[int]
    base: DecisionBase
    target: Target
    kill_switch_recommended: bool
    reasons: list[str]
    gates: list[GateResult]
    thresholds: dict[str, Threshold]
    inputs: list[InputRecord]

    @property
    def is_go(self) -> bool:
        return self.decision.startswith("GO_")


# --- rollout ----------------------------------------------------------------------------------


class QuotaState(_Closed):
    quota: int
    kill_switch: bool
    serial: int
    review: Review | None = None
    pause: Pause | None = None


class RolloutLog(_Closed):
    """``<root>/<tenant>/canary/<date>_rollout_log.json``."""

    schema_version: Literal[1] = 1
    tenant: TenantId
    date: dt.date
    decision: DecisionName
    decision_id: Sha256
    trace_id: TraceId
    at: Timestamp
    outcome: Literal["applied", "unchanged", "refused"]
    changed: bool
    before: QuotaState | None
    after: QuotaState | None
    reasons: list[str]


class ControlLog(_Closed):
    """``<root>/<tenant>/canary/<date>_<kill|pause|resume>_log.json``: an operator's action."""

    schema_version: Literal[1] = 1
    tenant: TenantId
    date: dt.date
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

    model_config = ConfigDict(extra="allow", frozen=True)

    seq: int = Field(ge=1)
    at: Timestamp
    event: Literal["DECISION", "ROLLOUT", "REVIEW", "PRUNE", "KILL", "PAUSE", "RESUME"]
    tenant: TenantId
    prev: Sha256 | None


SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "kpis": Kpis,
    "blocklist": Blocklist,
    "operate_state": OperateState,
    "decision": Decision,
    "rollout_log": RolloutLog,
    "control_log": ControlLog,
    "audit_line": AuditLine,
}
