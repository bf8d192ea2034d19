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
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    StrictBool,
    StrictInt,
    StringConstraints,
    Tag,
    WithJsonSchema,
    model_validator,
)

from pytest_canary.core.tenants import RESERVED, TENANT_PATTERN

SCHEMA_VERSION = 1
DECISION_PATTERN = r"^(GO_[0-9]+|HOLD|BACKOUT)$"
TRACE_PATTERN = r"^[0-9a-f]{32}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
# ISO-8601 date and time to the second; the offset is optional here, required where we write it.
_EXAMPLE_TIME = "2026-11-26T07:30:00+01:00"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
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


def _iso(value: str, pattern: str, parse: Callable[[str], Any], kind: str, example: str) -> Any:
    try:
        if re.fullmatch(pattern, value) is None:
            raise ValueError(value)
        return parse(value)
    except ValueError:
        raise ValueError(f"must be an ISO-8601 {kind} like {example}, got {value[:40]!r}") from None


def _iso_text(value: Any) -> Any:
    """Only ISO-8601 text (or a datetime built in code): pydantic would read ``0`` or ``"0"`` as a
    Unix timestamp, which no file of ours means."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 datetime text, not " + type(value).__name__)
    return _iso(value, DATETIME_PATTERN, dt.datetime.fromisoformat, "datetime", _EXAMPLE_TIME)


def _iso_date_text(value: Any) -> Any:
    """Only ``YYYY-MM-DD`` text (or a date built in code): pydantic would read ``"0"`` as a Unix
    timestamp too, 1970-01-01."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 date text, not " + type(value).__name__)
    return _iso(value, DATE_PATTERN, dt.date.fromisoformat, "date", _EXAMPLE_TIME[:10])


def _fraction(value: Any) -> Any:
    number = _finite(value)
    if not 0 <= number <= 1:
        raise ValueError(f"must be a fraction in [0, 1] (0.03 is 3 %), got {value:g}")
    return number


def _not_a_boolean(value: Any) -> Any:
    """``true`` is no version: pydantic matches a literal by equality, and ``True == 1``."""
    if isinstance(value, bool):
        raise ValueError("must be the number 1, not a boolean")
    return value


def _not_reserved(value: str) -> str:
    if value == RESERVED:
        raise ValueError("'all' is reserved (it selects every tenant)")
    return value


# Constraints come before the validators: after one, pydantic writes them into the JSON Schema
# under their Python names (``ge``), which no JSON Schema validator knows.
Count = Annotated[int, Field(ge=0, le=MAX_COUNT), BeforeValidator(_integral)]
Rate = Annotated[float, Field(ge=0.0, le=1.0), BeforeValidator(_fraction)]
Number = Annotated[float, BeforeValidator(_finite)]
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_text)]
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
SchemaVersion = Annotated[Literal[1], BeforeValidator(_not_a_boolean)]
"""The version of a file's format: 1, the only one so far."""
GateStatus = Literal["pass", "hold", "backout", "skipped", "error"]


class ClosedModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --- inputs -----------------------------------------------------------------------------------


class CohortKpis(BaseModel):
    """The KPIs of one cohort: the notices the new code dispatched (canary) or the rest."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    notices_sent: Count
    error_rate: Rate
    hard_bounces: Count
    dlq_depth: Count
    retry_depth: Count
    errors: Count | None = None
    soft_bounces: Count | None = None


class Cohorts(BaseModel):
    """The optional ``cohorts`` object of a KPI file: the tenant's figures split by cohort."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    canary: CohortKpis
    control: CohortKpis


class Kpis(CohortKpis):
    """One tenant's KPIs of one run date: ``<root>/<tenant>/<YYYY-MM-DD>.json``."""

    tenant: TenantId | None = None
    date: IsoDate | None = None
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


HARD_BOUNCE = "hard_bounce"


class HardBounceEntry(BaseModel):
    """A hard bounce: counted on the Berlin day it was added, so ``added_at`` must be readable."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    reason: Literal["hard_bounce"]
    added_at: IsoDateTime  # without an offset: Berlin time (docs/file-formats.md)


class OtherEntry(BaseModel):
    """An entry of any other reason: not counted, so nothing but its reason is judged."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    reason: Annotated[
        str, WithJsonSchema({"type": "string", "not": {"const": HARD_BOUNCE}, "title": "Reason"})
    ]


def _entry_kind(value: Any) -> str | None:
    if isinstance(value, dict | HardBounceEntry | OtherEntry):
        reason = value.get("reason") if isinstance(value, dict) else value.reason
        return "hard_bounce" if reason == HARD_BOUNCE else "other"
    return None  # not an object: neither kind


BlocklistEntry = Annotated[
    Annotated[HardBounceEntry, Tag("hard_bounce")] | Annotated[OtherEntry, Tag("other")],
    Discriminator(_entry_kind),
]
"""One blocked address; the address itself (or its hash) is never read."""


class BlocklistObject(BaseModel):
    """The object form: ``{"entries": [...]}``, other keys allowed."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    entries: list[BlocklistEntry]


def _form(value: Any) -> str:
    return "list" if isinstance(value, list) else "object"


_BlocklistForms = Annotated[
    Annotated[BlocklistObject, Tag("object")] | Annotated[list[BlocklistEntry], Tag("list")],
    Discriminator(_form),
]


class Blocklist(RootModel[_BlocklistForms]):
    """``<root>/<tenant>/ops/blocklist.json``: ``{"entries": [...]}`` or a bare list of entries."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    @property
    def entries(self) -> list[HardBounceEntry | OtherEntry]:
        return self.root.entries if isinstance(self.root, BlocklistObject) else self.root


class BlocklistSummary(ClosedModel):
    """What a gate or a custom gate may know of the blocklist: counts, never addresses."""

    entries: int
    by_reason: dict[str, int]
    hard_bounces_on_date: int


# --- operate state --------------------------------------------------------------------------


class Review(ClosedModel):
    by: str
    note: str
    at: Timestamp


class Pause(Review):
    """Who paused a tenant, when and why: its GO decisions are held until ``canary resume``."""


CONTROL_EVENTS = ("KILL", "PAUSE", "RESUME")
"""History events an operator causes by hand, without a decision."""
ControlEvent = Literal["KILL", "PAUSE", "RESUME"]


class BaseState(ClosedModel):
    """The part of the state a decision is judged against, as a history entry keeps it.

    It has no serial: an entry's base is the state just before that entry, whose serial is the
    entry's own less one; a serial here could only repeat that or contradict it.
    """

    quota: StrictInt
    kill_switch: StrictBool
    review: Review | None = None
    pause: Pause | None = None


class QuotaState(BaseState):
    """A base with its serial: the state a decision records as judged against, and the state
    before and after a rollout or an operator's control."""

    serial: StrictInt


class HistoryEntry(ClosedModel):
    serial: StrictInt
    at: Timestamp
    event: Literal["ROLLOUT", "REVIEW", "KILL", "PAUSE", "RESUME"]
    decision: DecisionName | None = None
    decision_id: Sha256 | None = None
    kpi_date: IsoDate | None = None
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

    @property
    def before(self) -> QuotaState:
        """The state just before this entry."""
        return QuotaState(**dict(self.base), serial=self.serial - 1)


class OperateState(ClosedModel):
    """``<root>/<tenant>/operate/operate_state.json``: written only by the rollout."""

    schema_version: SchemaVersion = 1
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

    @property
    def snapshot(self) -> QuotaState:
        """The base with its serial: what a rollout or a control logs as before and after."""
        return QuotaState(**dict(self.base), serial=self.serial)
