"""Readings: one tenant's inputs (KPIs, blocklist, state) parsed from bytes or objects into
plain data for the engine. Pure: no file is opened here (:mod:`pytest_canary.store.readers` reads
them), so the engine's tests build readings in memory.

KPI fields are validated one by one, not as a whole model: a field that is valid on its own is
still judged when another field is not, so a broken ``retry_depth`` cannot hide a DLQ that calls
for a backout.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError

from pytest_canary.core.jsonfile import (
    InvalidInput,
    error_text,
    parse_json,
    sha256_hex,
    validation_message,
)
from pytest_canary.core.models import (
    KPI_OPTIONAL_COUNTS,
    KPI_REQUIRED_FIELDS,
    Blocklist,
    BlocklistSummary,
    Cohorts,
    HardBounceEntry,
    Kpis,
    Number,
    OperateState,
    cohort_sum_problem,
)
from pytest_canary.core.tenants import TENANT_PATTERN

BERLIN = ZoneInfo("Europe/Berlin")
# Each numeric KPI field with the model's own type, so a field means here what the schema says.
_KPI_HINTS = get_type_hints(Kpis, include_extras=True)
_FIELD_TYPES: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(_KPI_HINTS[name]) for name in (*KPI_REQUIRED_FIELDS, *KPI_OPTIONAL_COUNTS)
}
_NUMBER: TypeAdapter[float] = TypeAdapter(Number)
_COHORTS: TypeAdapter[Cohorts] = TypeAdapter(Cohorts)
BLOCKLIST_REASONS = frozenset({"hard_bounce", "complaint", "manual"})


@dataclass(frozen=True)
class KpiReading:
    path: str
    present: bool
    sha256: str | None
    values: dict[str, float] = field(default_factory=dict)
    field_errors: dict[str, str] = field(default_factory=dict)
    unusable: dict[str, str] = field(default_factory=dict)
    file_error: str | None = None
    contents: dict[str, Any] | None = None
    model: Kpis | None = None
    cohorts: Cohorts | None = None

    @property
    def valid(self) -> bool:
        return self.file_error is None and not self.field_errors

    def problems(self) -> list[str]:
        if self.file_error is not None:
            return [self.file_error]
        return [f"{self.path}: field {name}: {msg}" for name, msg in self.field_errors.items()]


@dataclass(frozen=True)
class BlocklistReading:
    path: str
    present: bool
    sha256: str | None
    summary: BlocklistSummary | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class StateReading:
    path: str
    present: bool
    sha256: str | None
    state: OperateState | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None


def _first_error(error: ValidationError) -> str:
    return error_text(error.errors()[0])


def _shown(value: Any, pattern: str) -> str:
    """``value`` quoted when it has the expected form; anything else (an address?) is not echoed."""
    if isinstance(value, str) and re.fullmatch(pattern, value, flags=re.ASCII):
        return repr(value)
    return f"a {type(value).__name__} of another form (not shown)"


def _foreign_claim(raw: dict[str, Any], where: str, tenant: str, date: dt.date) -> str | None:
    """Why the object is another tenant's or day's, or ``None`` when it claims to be this one."""
    # A null tenant or date claims nothing, as in the model: the same as leaving it out.
    if raw.get("tenant") is not None and raw["tenant"] != tenant:
        return f"{where}: field tenant is {_shown(raw['tenant'], TENANT_PATTERN)}, not {tenant!r}"
    if raw.get("date") is not None and raw["date"] != date.isoformat():
        shown = _shown(raw["date"], r"^\d{4}-\d{2}-\d{2}$")
        return f"{where}: field date is {shown}, not {date}"
    return None


def kpis_from_object(
    raw: Any, where: str, tenant: str, date: dt.date, sha: str | None
) -> KpiReading:
    """Validate a parsed KPI object field by field (also used by the KPI-loading hook)."""
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        return KpiReading(
            where, True, sha, file_error=f"{where}: expected a JSON object, got {kind}"
        )
    claim = _foreign_claim(raw, where, tenant, date)
    if claim is not None:
        return KpiReading(where, True, sha, file_error=claim)
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    unusable: dict[str, str] = {}
    cohorts = None
    for name, value in raw.items():
        if name == "cohorts":
            try:
                cohorts = _COHORTS.validate_python(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                errors[".".join(str(p) for p in ("cohorts", *first["loc"]))] = error_text(first)
            continue
        adapter = _FIELD_TYPES.get(name)
        try:
            if adapter is not None:
                checked = adapter.validate_python(value)
                if checked is not None:  # an optional count given as null is not there
                    values[name] = checked
            elif not isinstance(value, bool) and isinstance(value, int | float):
                values[name] = _NUMBER.validate_python(value)
        except ValidationError as exc:
            # Other keys are ignored (docs/file-formats.md): a bad one only fails a gate that uses it.
            (errors if adapter is not None else unusable)[name] = _first_error(exc)
    for name in KPI_REQUIRED_FIELDS:
        if name not in raw:
            errors[name] = "missing (required)"
    hard, sent = values.get("hard_bounces"), values.get("notices_sent")
    if hard is not None and sent is not None and hard > sent:
        errors["hard_bounces"] = f"{hard:g} is more than notices_sent {sent:g}"
    split = cohort_sum_problem(values, cohorts)
    if split is not None:
        errors["cohorts"] = split.removeprefix("cohorts: ")
        cohorts = None
    model = None
    if not errors:
        try:
            model = Kpis.model_validate(raw)
        except ValidationError as exc:  # an optional field (e.g. generated_at) is malformed
            first = exc.errors()[0]
            errors[".".join(str(part) for part in first["loc"]) or "(file)"] = error_text(first)
    return KpiReading(
        where, True, sha, values, errors, unusable, contents=raw, model=model, cohorts=cohorts
    )


def kpis_from_bytes(data: bytes, where: str, tenant: str, date: dt.date) -> KpiReading:
    """A KPI file's bytes as a reading: strict JSON, then field by field."""
    sha = sha256_hex(data)
    try:
        raw = parse_json(data, where)
    except InvalidInput as exc:
        return KpiReading(where, True, sha, file_error=str(exc))
    return kpis_from_object(raw, where, tenant, date, sha)


def missing_kpis(where: str, date: dt.date, nearby: str) -> KpiReading:
    """No KPI file for ``date``; ``nearby`` says what the folder has instead."""
    return KpiReading(
        where, False, None, file_error=f"{where}: KPI file missing for {date}; {nearby}"
    )


def _added_on(entry: HardBounceEntry) -> dt.date:
    stamp = entry.added_at
    if stamp.tzinfo is None:  # docs/contract.md: timestamps without an offset are Berlin time
        stamp = stamp.replace(tzinfo=BERLIN)
    return stamp.astimezone(BERLIN).date()


def summarise_blocklist(raw: Any, where: str, date: dt.date) -> BlocklistSummary:
    """Counts of a blocklist read through its model (the one the published schema is made from)."""
    try:
        blocklist = Blocklist.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(f"{where}: {_blocklist_problem(exc)}") from None
    by_reason: dict[str, int] = {}
    on_date = 0
    for entry in blocklist.entries:
        # Only the contract's reasons are named: free text could be an address (never passed on).
        named = entry.reason if entry.reason in BLOCKLIST_REASONS else "other"
        by_reason[named] = by_reason.get(named, 0) + 1
        if isinstance(entry, HardBounceEntry) and _added_on(entry) == date:
            on_date += 1
    entries = len(blocklist.entries)
    return BlocklistSummary(entries=entries, by_reason=by_reason, hard_bounces_on_date=on_date)


def _blocklist_problem(exc: ValidationError) -> str:
    """The first error, said of the entry and field it is in (never the value: it may be an address)."""
    loc = exc.errors()[0]["loc"]
    index = next((part for part in loc if isinstance(part, int)), None)
    if index is None:
        return "expected {'entries': [...]} or a list of entries"
    if loc[-1] == index:
        return f"entry {index} is not an object"
    if loc[-1] == "reason":
        return f"entry {index}: reason must be a string"
    return f"entry {index}: hard_bounce without a readable added_at (ISO-8601)"


def blocklist_from_bytes(data: bytes, where: str, date: dt.date) -> BlocklistReading:
    """A blocklist file's bytes as a reading: its summary, or the one-line error."""
    sha = sha256_hex(data)
    try:
        summary = summarise_blocklist(parse_json(data, where), where, date)
    except InvalidInput as exc:
        return BlocklistReading(where, True, sha, error=str(exc))
    return BlocklistReading(where, True, sha, summary=summary)


def state_from_bytes(data: bytes, where: str, tenant: str, steps: Sequence[int]) -> StateReading:
    """A state file's bytes as a reading: the state :func:`parse_state` accepts, or its error."""
    sha = sha256_hex(data)
    try:
        state = parse_state(data, where, tenant, steps)
    except InvalidInput as exc:
        return StateReading(where, True, sha, error=str(exc))
    return StateReading(where, True, sha, state=state)


def parse_state(data: bytes, where: str, tenant: str, steps: Sequence[int]) -> OperateState:
    """A state file's bytes read strictly, as the rollout wrote them, or :class:`InvalidInput`.

    The one definition of a valid state, for the decision, the rollout, the review and validate
    alike: ``"25"`` for a quota or a number for a time is not a file the rollout wrote, nor is
    another tenant's state, a quota that is not one of ``steps``, or a state that disagrees with
    its own history (see :func:`history_problem`).
    """
    parse_json(data, where)  # NaN, duplicate keys, BOM ...
    try:
        state = OperateState.model_validate_json(data, strict=True)
    except ValidationError as exc:
        raise InvalidInput(validation_message(where, exc)) from None
    if state.tenant != tenant:
        raise InvalidInput(f"{where}: field tenant is {state.tenant!r}, not {tenant!r}")
    if state.quota not in steps:
        steps_text = ", ".join(str(s) for s in steps)
        raise InvalidInput(f"{where}: quota {state.quota} is not one of the steps {steps_text}")
    problem = history_problem(state)
    if problem is not None:
        raise InvalidInput(f"{where}: {problem}; edited by hand? the file is left for review")
    return state


def history_problem(state: OperateState) -> str | None:
    """Why ``state`` disagrees with its history, or ``None``.

    Every writer appends one history entry and sets quota, kill switch and serial to what that
    entry says, so a state whose fields differ from its last entry, or whose serials skip, was
    changed by something else. Only the fields every event carries are compared (serial,
    ``to_quota``, ``kill_switch``), so a new kind of event fits without a change here. An empty
    history is a bootstrap: the state is taken as written.
    """
    if not state.history:
        return None
    for before, after in zip(state.history, state.history[1:], strict=False):
        if after.serial != before.serial + 1:
            return (
                f"field history: serial {after.serial} follows serial {before.serial};"
                " serials rise by one"
            )
    last = state.history[-1]
    for name, value, expected in (
        ("quota", state.quota, last.to_quota),
        ("kill_switch", state.kill_switch, last.kill_switch),
        ("serial", state.serial, last.serial),
    ):
        if value != expected:
            return (
                f"field {name} is {_json_word(value)}, but the last history entry"
                f" (serial {last.serial}, {last.event}) left it {_json_word(expected)}"
            )
    return None


def _json_word(value: int | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
