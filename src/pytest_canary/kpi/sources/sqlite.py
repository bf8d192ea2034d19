"""The SQLite source: the events table in a database file, aggregated in SQL (``GROUP BY``)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from pytest_canary.dispatch import dispatch_bucket
from pytest_canary.kpi.cohorts import QuotaTimeline, sqlite_cohort
from pytest_canary.kpi.events import (
    AFTER,
    BEFORE,
    EVENT_LIST,
    EVENT_TYPES,
    INSIDE,
    EventError,
    Tally,
    Window,
    described,
)
from pytest_canary.kpi.jsonl import Progress
from pytest_canary.kpi.sources.base import SourceBase
from pytest_canary.kpi.sources.table import (
    CHANGED_WHILE_READ,
    EVENT_SQL,
    NO_TABLE,
    TABLE,
    any_bad,
    check_cohorts,
    tally_groups,
)

SQLITE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    tenant    TEXT    NOT NULL,
    notice_id TEXT    NOT NULL,
    event     TEXT    NOT NULL,
    ts        INTEGER NOT NULL,  -- Unix time in milliseconds (UTC)
    recipient TEXT
);
CREATE INDEX IF NOT EXISTS {TABLE}_tenant_event_ts ON {TABLE} (tenant, event, ts);
"""


@dataclass(frozen=True)
class SqliteSource(SourceBase):
    """A SQLite database file with the events table."""

    kind: ClassVar[str] = "sqlite"
    path_schemes: ClassVar[tuple[str, ...]] = ("sqlite",)
    suffixes: ClassVar[tuple[str, ...]] = (".sqlite", ".sqlite3", ".db")

    def tally(
        self,
        tenant: str,
        window: Window,
        progress: Progress | None = None,
        timeline: QuotaTimeline | None = None,
    ) -> Tally:
        return _tally_sqlite(Path(self.location), tenant, window, timeline)


def _ms(instant: dt.datetime) -> int:
    return round(instant.timestamp() * 1000)


def _tally_sqlite(
    path: Path, tenant: str, window: Window, timeline: QuotaTimeline | None = None
) -> Tally:
    shown = f"sqlite://{path}"
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "no such file"
        raise EventError(f"{shown}: {what}")
    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise EventError(f"{shown}: cannot be opened ({exc})") from None
    params = {"tenant": tenant, "start": _ms(window.start), "end": _ms(window.end)}
    try:
        cohort = "NULL"
        if timeline is not None:
            conn.create_function("canary_bucket", 1, _bucket_of(tenant), deterministic=True)
            cohort = sqlite_cohort(timeline, _sqlite_has_cohort(conn))
        rows = conn.execute(
            f"SELECT event, SUM(typeof(ts) <> 'integer' OR typeof(notice_id) <> 'text'),"
            f" SUM(ts < :start), SUM(ts >= :start AND ts < :end), SUM(ts >= :end), COUNT(*),"
            f" {cohort} FROM {TABLE} WHERE tenant = :tenant GROUP BY event, 7",
            params,
        ).fetchall()
        check_cohorts(shown, rows, timeline)
        if any_bad(rows, flagged=1):
            first = conn.execute(
                f"SELECT rowid, event, typeof(ts) FROM {TABLE} WHERE tenant = :tenant"
                f" AND (event IS NULL OR event NOT IN ({EVENT_SQL})"
                f" OR typeof(ts) <> 'integer' OR typeof(notice_id) <> 'text')"
                f" ORDER BY rowid LIMIT 1",
                params,
            ).fetchone()
            raise EventError(f"{shown}: {_bad_sqlite_row(first)}")
    except sqlite3.Error as exc:
        raise EventError(f"{shown}: {_sqlite_problem(exc)}") from None
    finally:
        conn.close()
    groups = (
        (event, cohort, {BEFORE: before, INSIDE: inside, AFTER: after}, count)
        for event, _untyped, before, inside, after, count, cohort in rows
    )
    return tally_groups(groups, split=timeline is not None)


def _bucket_of(tenant: str) -> Any:
    """``canary_bucket(notice_id)`` for SQLite: the dispatch bucket, NULL for a non-text id."""

    def bucket(notice: object) -> int | None:
        if not isinstance(notice, str):
            return None
        try:
            return dispatch_bucket(tenant, notice)
        except UnicodeEncodeError:
            return None

    return bucket


def _sqlite_has_cohort(conn: sqlite3.Connection) -> bool:
    columns = conn.execute(f"PRAGMA table_info({TABLE})").fetchall()
    return any(column[1] == "cohort" for column in columns)


def _bad_sqlite_row(row: Any) -> str:
    if row is None:  # a row changed between the two queries
        return CHANGED_WHILE_READ
    rowid, event, kind = row
    if event is None or event not in EVENT_TYPES:
        return f"row {rowid}: column event: {described(event)}, expected one of {EVENT_LIST}"
    if kind == "integer":
        return f"row {rowid}: column notice_id: must be text"
    return f"row {rowid}: column ts: must be an integer (Unix time in milliseconds), not {kind}"


def _sqlite_problem(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "no such table" in text:
        return NO_TABLE
    if "no such column" in text:
        return f"table {TABLE}: {text} (the schema is in docs/kpi-engine.md)"
    return text.splitlines()[0] if text else type(exc).__name__


def create_sqlite_schema(conn: sqlite3.Connection) -> None:
    """Create the events table and its index (for producers and tests; the engine only reads)."""
    conn.executescript(SQLITE_SCHEMA)


def sqlite_rows(
    events: Iterable[tuple[str, str, str, dt.datetime, str | None]],
) -> Iterable[tuple[str, str, str, int, str | None]]:
    """(tenant, notice_id, event, aware time, recipient) as rows of the SQLite table."""
    for tenant, notice, event, instant, recipient in events:
        yield tenant, notice, event, _ms(instant), recipient
