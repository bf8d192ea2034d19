"""Where dispatch events come from: a JSONL file, a SQLite database or a PostgreSQL server.

A source is named by a URL (``file:///x.jsonl`` or a plain path, ``sqlite:///x.sqlite``,
``postgresql://user@host/db``) and counts one tenant's events into a
:class:`~pytest_canary.kpi.events.Tally`. The databases aggregate in SQL (``GROUP BY`` over the
tenant's rows, served by the index on ``(tenant, event, ts)``), so no row crosses into Python.
The table schemas are below and in docs/kpi-engine.md.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.dispatch import dispatch_bucket
from pytest_canary.kpi.cohorts import (
    COHORT_NAMES,
    POSTGRES_HASH,
    QuotaTimeline,
    postgres_cohort,
    sqlite_cohort,
)
from pytest_canary.kpi.events import (
    AFTER,
    BEFORE,
    EVENT_LIST,
    EVENT_TYPES,
    INSIDE,
    EventError,
    Tally,
    Window,
)
from pytest_canary.kpi.jsonl import Progress, tally_jsonl

TABLE = "dispatch_events"

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

POSTGRES_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id        bigserial   PRIMARY KEY,
    tenant    text        NOT NULL,
    notice_id text        NOT NULL,
    event     text        NOT NULL,
    ts        timestamptz NOT NULL,
    recipient text
);
CREATE INDEX IF NOT EXISTS {TABLE}_tenant_event_ts ON {TABLE} (tenant, event, ts);
"""

_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
_EVENT_SQL = ", ".join(f"'{name}'" for name in EVENT_TYPES)
_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@|((?:^|[?&\s])password=)[^&\s]*")

Kind = Literal["jsonl", "sqlite", "postgresql"]


def _redact(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@`` replaced by ``***``."""
    return _PASSWORD.sub(lambda m: f"{m[1]}***@" if m[1] else f"{m[2]}***", text)


@dataclass(frozen=True)
class Source:
    """A parsed ``--source``: its kind, and a path (files) or a connection URL (PostgreSQL)."""

    kind: Kind
    location: str

    @property
    def shown(self) -> str:
        """The source for messages and the KPI file: a password is never shown."""
        if self.kind == "postgresql":
            return _redact(self.location)
        return f"{'file' if self.kind == 'jsonl' else 'sqlite'}://{Path(self.location)}"

    def tally(
        self,
        tenant: str,
        window: Window,
        progress: Progress | None = None,
        timeline: QuotaTimeline | None = None,
    ) -> Tally:
        """Count ``tenant``'s events against ``window``, split by cohort when a ``timeline`` is
        given; :class:`EventError` on bad input."""
        if self.kind == "jsonl":
            return tally_jsonl(Path(self.location), tenant, window, progress, timeline)
        if self.kind == "sqlite":
            return _tally_sqlite(Path(self.location), tenant, window, timeline)
        return _tally_postgres(self.location, self.shown, tenant, window, timeline)


def parse_source(text: str, cwd: Path) -> Source:
    """A :class:`Source` from a URL or a plain path; :class:`CanaryUsageError` when unclear."""
    if not text.strip():
        raise CanaryUsageError("--source: empty; give a file path or a URL")
    lowered = text.lower()
    if lowered.startswith(("postgresql://", "postgres://")):
        return Source("postgresql", text)
    if lowered.startswith(("file:", "sqlite:")):
        scheme, _, rest = text.partition(":")
        path = _url_path(text, rest)
        if scheme.lower() == "sqlite" or path.name.lower().endswith(_SQLITE_SUFFIXES):
            return Source("sqlite", str(cwd / path))
        return Source("jsonl", str(cwd / path))
    if "://" in text:
        raise CanaryUsageError(
            f"--source {_redact(text)!r}: unknown scheme; use a JSONL path,"
            " file:///path.jsonl, sqlite:///path.sqlite or postgresql://user@host/db"
        )
    path = Path(text)
    if path.name.lower().endswith(_SQLITE_SUFFIXES):
        return Source("sqlite", str(cwd / path))
    if path.name.lower().endswith(_JSONL_SUFFIXES):
        return Source("jsonl", str(cwd / path))
    raise CanaryUsageError(
        f"--source {text!r}: cannot tell the kind of file from its name; name it *.jsonl or"
        " *.sqlite, or write file:///path or sqlite:///path"
    )


def _url_path(text: str, rest: str) -> Path:
    """The path of ``file:`` and ``sqlite:`` URLs: ``///abs``, ``////abs`` or a relative ``:rel``."""
    if rest.startswith("//"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise CanaryUsageError(f"--source {text!r}: a file URL names no host; use ///path")
        if parts.query or parts.fragment:
            raise CanaryUsageError(f"--source {text!r}: a file URL takes no ?query or #fragment")
        raw = "/" + unquote(parts.path).lstrip("/")
    else:
        raw = unquote(rest)
    if not raw.strip("/"):
        raise CanaryUsageError(f"--source {text!r}: names no file")
    return Path(raw)


# --- SQLite -----------------------------------------------------------------------------------


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
        _check_cohorts(f"sqlite://{path}", rows, timeline)
        bad = [row for row in rows if row[0] not in EVENT_TYPES or row[1]]
        if bad:
            first = conn.execute(
                f"SELECT rowid, event, typeof(ts) FROM {TABLE} WHERE tenant = :tenant"
                f" AND (event IS NULL OR event NOT IN ({_EVENT_SQL})"
                f" OR typeof(ts) <> 'integer' OR typeof(notice_id) <> 'text')"
                f" ORDER BY rowid LIMIT 1",
                params,
            ).fetchone()
            raise EventError(f"{shown}: {_bad_sqlite_row(first)}")
    except sqlite3.Error as exc:
        raise EventError(f"{shown}: {_sqlite_problem(exc)}") from None
    finally:
        conn.close()
    tally = Tally()
    for event, _untyped, before, inside, after, count, cohort_name in rows:
        for counted in (tally, *([tally.split()[cohort_name]] if timeline else [])):
            counted.add(event, BEFORE, before or 0)
            counted.add(event, INSIDE, inside or 0)
            counted.add(event, AFTER, after or 0)
        tally.events_read += count
    return tally


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


def _check_cohorts(shown: str, rows: list[Any], timeline: QuotaTimeline | None) -> None:
    """An optional ``cohort`` column holds ``canary``, ``control`` or NULL, nothing else."""
    if timeline is None:
        return
    for row in rows:
        if row[-1] not in COHORT_NAMES:
            value = "NULL" if row[-1] is None else repr(str(row[-1])[:40])
            raise EventError(f"{shown}: column cohort: {value} is not canary, control or NULL")


def _bad_sqlite_row(row: Any) -> str:
    if row is None:  # a row changed between the two queries
        return "a row changed while it was read; run again"
    rowid, event, kind = row
    if event is None or event not in EVENT_TYPES:
        shown = "NULL" if event is None else repr(str(event)[:40])
        return f"row {rowid}: column event: {shown} is not one of {EVENT_LIST}"
    if kind == "integer":
        return f"row {rowid}: column notice_id: must be text"
    return f"row {rowid}: column ts: must be an integer (Unix time in milliseconds), not {kind}"


def _sqlite_problem(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "no such table" in text:
        return f"no table {TABLE} (the schema is in docs/kpi-engine.md)"
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


# --- PostgreSQL -------------------------------------------------------------------------------


def _tally_postgres(
    url: str, shown: str, tenant: str, window: Window, timeline: QuotaTimeline | None = None
) -> Tally:
    try:
        import psycopg
    except ImportError:
        raise EventError(
            f"{shown}: PostgreSQL needs psycopg: pip install 'pytest-canary[postgres]'"
        ) from None
    params = {"tenant": tenant, "start": window.start, "end": window.end}
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.read_only = True
            # Naive timestamp columns mean Berlin time, as naive times do everywhere in the model.
            conn.execute("SET TIME ZONE 'Europe/Berlin'")
            rows = conn.execute(_postgres_query(conn, timeline), params).fetchall()
            _check_cohorts(shown, rows, timeline)
            bad = [row for row in rows if row[0] not in EVENT_TYPES or row[3]]
            if bad:
                first = conn.execute(
                    f"SELECT notice_id, ts, event FROM {TABLE} WHERE tenant = %(tenant)s"
                    f" AND (ts < %(end)s OR ts IS NULL)"
                    f" AND (event IS NULL OR event NOT IN ({_EVENT_SQL}) OR ts IS NULL)"
                    f" ORDER BY ts NULLS FIRST LIMIT 1",
                    params,
                ).fetchone()
                raise EventError(f"{shown}: {_bad_postgres_row(first)}")
    except psycopg.Error as exc:
        raise EventError(f"{shown}: {_postgres_problem(exc)}") from None
    tally = Tally()
    for event, before, inside, _null, cohort_name in rows:
        for counted in (tally, *([tally.split()[cohort_name]] if timeline else [])):
            counted.add(event, BEFORE, before)
            counted.add(event, INSIDE, inside)
        tally.events_read += before + inside
    return tally


def _postgres_query(conn: Any, timeline: QuotaTimeline | None) -> str:
    """Counts per event (and cohort, with a ``timeline``) of the tenant's rows before the run."""
    rows, cohort = TABLE, "NULL"
    if timeline is not None:
        has_column = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = %s"
            " AND column_name = 'cohort' AND table_schema = ANY(current_schemas(false))",
            (TABLE,),
        ).fetchone()[0]
        rows = f"(SELECT *, {POSTGRES_HASH} FROM {TABLE}) AS rows"
        cohort = postgres_cohort(timeline, bool(has_column))
    return (
        f"SELECT event, count(*) FILTER (WHERE ts < %(start)s),"
        f" count(*) FILTER (WHERE ts >= %(start)s),"
        f" count(*) FILTER (WHERE ts IS NULL), {cohort}"
        f" FROM {rows} WHERE tenant = %(tenant)s AND (ts < %(end)s OR ts IS NULL)"
        f" GROUP BY 1, 5"
    )


def _bad_postgres_row(row: Any) -> str:
    if row is None:
        return "a row changed while it was read; run again"
    notice, ts, event = row
    where = f"row notice_id={str(notice)[:60]!r}"
    if ts is None:
        return f"{where}: column ts: NULL, expected a time"
    shown = "NULL" if event is None else repr(str(event)[:40])
    return f"{where} at {ts.isoformat()}: column event: {shown} is not one of {EVENT_LIST}"


def _postgres_problem(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "does not exist" in text and TABLE in text:
        return f"no table {TABLE} (the schema is in docs/kpi-engine.md)"
    return _redact(text)[:300]
