"""Read one tenant's inputs (KPI file, blocklist, state) from its files into readings.

The parsing is :mod:`pytest_canary.core.readings`'s; this module opens the files, through the
layout, and says which file a reading came from.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from pytest_canary.core.case import Case
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.gates import GateSet
from pytest_canary.core.jsonfile import InvalidInput, parse_json
from pytest_canary.core.models import OperateState
from pytest_canary.core.readings import (
    BlocklistReading,
    KpiReading,
    StateReading,
    blocklist_from_bytes,
    kpis_from_bytes,
    kpis_from_object,
    missing_kpis,
    parse_state,
    state_from_bytes,
)
from pytest_canary.core.records import Decision
from pytest_canary.store.faults import fault
from pytest_canary.store.files import read_bytes
from pytest_canary.store.layout import KPI_FILE, TenantPaths, dated_files


def display_path(path: Path) -> str:
    """A path as a person would type it: relative to the working directory when inside it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_kpis(path: Path, tenant: str, date: dt.date) -> KpiReading:
    where = display_path(path)
    if not path.exists() and not path.is_symlink():
        return missing_kpis(where, date, _newest_kpi(path.parent))
    try:
        data = read_bytes(path, where)
    except InvalidInput as exc:
        return KpiReading(where, True, None, file_error=str(exc))
    return kpis_from_bytes(data, where, tenant, date)


def _newest_kpi(folder: Path) -> str:
    """The newest KPI file beside a missing one, and the option that would use it."""
    days = dated_files(folder, KPI_FILE)
    if not days:
        return "the folder has no KPI file at all"
    newest = max(days).isoformat()
    return (
        f"the newest is of {newest} (--canary-date {newest} in pytest, --date {newest} in canary"
        " decide/cycle would use it)"
    )


def read_blocklist(path: Path, date: dt.date) -> BlocklistReading:
    where = display_path(path)
    if not path.exists() and not path.is_symlink():
        return BlocklistReading(where, False, None)
    try:
        data = read_bytes(path, where)
    except InvalidInput as exc:
        return BlocklistReading(where, True, None, error=str(exc))
    return blocklist_from_bytes(data, where, date)


def read_state(path: Path, tenant: str, steps: tuple[int, ...]) -> StateReading:
    where = display_path(path)
    if not path.exists() and not path.is_symlink():
        return StateReading(where, False, None)
    try:
        data = read_bytes(path, where)
    except InvalidInput as exc:
        return StateReading(where, True, None, error=str(exc))
    fault("state:after-read")  # a decision's base is read without the lock: races are tested here
    return state_from_bytes(data, where, tenant, steps)


def load_state(paths: TenantPaths, steps: Sequence[int]) -> OperateState | None:
    """The tenant's operate state, ``None`` when there is no file, ``InvalidInput`` when corrupt.

    ``steps`` are the configured steps: a quota off them is corrupt too (see :func:`parse_state`).
    """
    path = paths.check(paths.state)
    if not (path.exists() or path.is_symlink()):
        return None
    return parse_state(read_bytes(path), str(path), paths.tenant, steps)


# --- the trend's history ----------------------------------------------------------------------

_MAX_CHARTED_KPI_BYTES = 1 << 16  # a KPI file is a few hundred bytes; a bigger one is not charted


def kpi_values(path: Path, tenant: str, day: dt.date) -> dict[str, float] | None:
    """The KPI fields of one file as the decision reads them, or ``None`` when it is missing,
    unreadable or another tenant's or day's (the same strict parser and field checks)."""
    where = str(path)
    try:
        raw = parse_json(read_bytes(path, where, _MAX_CHARTED_KPI_BYTES), where)
    except InvalidInput:
        return None
    reading = kpis_from_object(raw, where, tenant, day, None)
    if reading.file_error is not None:
        return None
    return {name: float(value) for name, value in reading.values.items()}  # counts are ints


def kpi_history(
    paths: TenantPaths, day: dt.date, days: int
) -> list[tuple[dt.date, dict[str, float]]]:
    """The KPI fields of the ``days - 1`` days before ``day`` that have a readable file, oldest first.

    Cheap: the tenant's folder is listed once, and only the files of those days that it holds are
    checked and read (a run of 10,000 tenants would otherwise look for 130,000 files, most of them
    missing). A KPI file that cannot be read (or leaves the root) is left out, never judged here:
    the decision already says what was wrong with that day.
    """
    try:
        present = set(os.listdir(paths.dir))
    except OSError:
        return []
    history = []
    for back in range(days - 1, 0, -1):
        earlier = day - dt.timedelta(days=back)
        if f"{earlier.isoformat()}.json" not in present:
            continue
        try:
            path = paths.kpi(earlier)
        except CanaryUsageError:
            continue
        values = kpi_values(path, paths.tenant, earlier)
        if values is not None:
            history.append((earlier, values))
    return history


def read_recorded(paths: TenantPaths, day: dt.date, days: int) -> dict[dt.date, Decision]:
    """The tenant's decisions recorded on the ``days`` days before ``day``, by date.

    A missing file, or one that does not read as the engine wrote it (or is another tenant's, or
    of another date), is left out: a bake streak ends there rather than counting a day nobody
    can show was green.
    """
    found: dict[dt.date, Decision] = {}
    for back in range(1, days + 1):
        earlier = day - dt.timedelta(days=back)
        path = paths.check(paths.decision_json(earlier))
        try:
            data = read_bytes(path, display_path(path))
            parse_json(data, str(path))
            decision = Decision.model_validate_json(data, strict=True)
        except (InvalidInput, ValidationError):
            continue
        if (decision.tenant, decision.date) == (paths.tenant, earlier):
            found[earlier] = decision
    return found


def read_case(
    paths: TenantPaths,
    date: dt.date,
    gates: GateSet,
    *,
    trace_id: str,
    created_at: dt.datetime,
    kpis: KpiReading | None = None,
) -> Case:
    """Everything the tenant's decision for ``date`` is made from, read from its files.

    ``kpis`` when they came from elsewhere (the ``pytest_canary_load_kpis`` hook); else the file.
    """
    return Case(
        tenant=paths.tenant,
        date=date,
        kpis=kpis if kpis is not None else read_kpis(paths.kpi(date), paths.tenant, date),
        blocklist=read_blocklist(paths.blocklist, date),
        state=read_state(paths.state, paths.tenant, gates.steps),
        gates=gates,
        trace_id=trace_id,
        created_at=created_at,
        recorded=read_recorded(paths, date, gates.promotion.min_green_days - 1),
    )
