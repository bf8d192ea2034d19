"""The PostgreSQL source: the events table on a server, aggregated in SQL; psycopg is optional."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pytest_canary.kpi.cohorts import POSTGRES_HASH, QuotaTimeline, postgres_cohort
from pytest_canary.kpi.events import (
    BEFORE,
    EVENT_LIST,
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
    redact,
    tally_groups,
)

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


@dataclass(frozen=True)
class PostgresSource(SourceBase):
    """A PostgreSQL connection URL; a password in it is never shown."""

    kind: ClassVar[str] = "postgresql"
    url_schemes: ClassVar[tuple[str, ...]] = ("postgresql", "postgres")

    @property
    def shown(self) -> str:
        return redact(self.location)

    def tally(
        self,
        tenant: str,
        window: Window,
        progress: Progress | None = None,
        timeline: QuotaTimeline | None = None,
    ) -> Tally:
        return _tally_postgres(self.location, self.shown, tenant, window, timeline)


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
            check_cohorts(shown, rows, timeline)
            if any_bad(rows, flagged=3):
                first = conn.execute(
                    f"SELECT notice_id, ts, event FROM {TABLE} WHERE tenant = %(tenant)s"
                    f" AND (ts < %(end)s OR ts IS NULL)"
                    f" AND (event IS NULL OR event NOT IN ({EVENT_SQL}) OR ts IS NULL)"
                    f" ORDER BY ts NULLS FIRST LIMIT 1",
                    params,
                ).fetchone()
                raise EventError(f"{shown}: {_bad_postgres_row(first)}")
    except psycopg.Error as exc:
        raise EventError(f"{shown}: {_postgres_problem(exc)}") from None
    groups = (
        (event, cohort, {BEFORE: before, INSIDE: inside}, before + inside)
        for event, before, inside, _null, cohort in rows
    )
    return tally_groups(groups, split=timeline is not None)


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
    if row is None:  # a row changed between the two queries
        return CHANGED_WHILE_READ
    _notice, ts, event = row
    if ts is None:  # the notice id is not quoted either: a message quotes no field's content
        return "a row: column ts: NULL, expected a time"
    return (
        f"a row at {ts.isoformat()}: column event: {described(event)}, expected one of {EVENT_LIST}"
    )


def _postgres_problem(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "does not exist" in text and TABLE in text:
        return NO_TABLE
    return redact(text)[:300]
