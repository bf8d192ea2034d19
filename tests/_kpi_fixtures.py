"""Dispatch events for the KPI engine tests, written the way a dispatch service would write them."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from pytest_canary.kpi.jsonl import event_line
from pytest_canary.kpi.sources.sqlite import create_sqlite_schema, sqlite_rows

BERLIN = ZoneInfo("Europe/Berlin")
DATE = dt.date(2026, 11, 26)
RUN = dt.datetime(2026, 11, 26, 7, 30, tzinfo=BERLIN)
RECIPIENT = "erika.mustermann@example.org"


@dataclass(frozen=True)
class Event:
    event: str
    at: dt.datetime
    tenant: str = "acme"
    notice_id: str = "N-1"
    recipient: str | None = RECIPIENT

    @property
    def ts(self) -> str:
        return self.at.isoformat()


def events(
    *,
    sent: int = 0,
    failed: int = 0,
    hard: int = 0,
    soft: int = 0,
    dlq: tuple[int, int] = (0, 0),
    retry: tuple[int, int] = (0, 0),
    at: dt.datetime = RUN - dt.timedelta(hours=3),
    tenant: str = "acme",
) -> list[Event]:
    """So many events of each type, all at ``at``; queues as (ins, outs)."""
    counts = {
        "sent": sent,
        "failed": failed,
        "hard_bounce": hard,
        "soft_bounce": soft,
        "dlq_in": dlq[0],
        "dlq_out": dlq[1],
        "retry_in": retry[0],
        "retry_out": retry[1],
    }
    return [
        Event(name, at, tenant=tenant, notice_id=f"{tenant}-{name}-{i}")
        for name, n in counts.items()
        for i in range(n)
    ]


def write_jsonl(path: Path, items: Iterable[Event], *, canonical: bool = True) -> Path:
    """Events as JSONL: the canonical form (fast reader), or spaced with another key order."""
    with path.open("w", encoding="utf-8") as handle:
        for e in items:
            if canonical:
                handle.write(event_line(e.tenant, e.event, e.ts, e.notice_id, e.recipient))
            else:
                fields = {"notice_id": e.notice_id, "ts": e.ts, "event": e.event}
                fields |= {"recipient": e.recipient, "tenant": e.tenant}
                handle.write(json.dumps(fields) + "\n")
    return path


def write_sqlite(path: Path, items: Iterable[Event]) -> Path:
    """Events in a SQLite database with the documented schema."""
    conn = sqlite3.connect(path)
    try:
        create_sqlite_schema(conn)
        rows = ((e.tenant, e.notice_id, e.event, e.at, e.recipient) for e in items)
        conn.executemany("INSERT INTO dispatch_events VALUES (?, ?, ?, ?, ?)", sqlite_rows(rows))
        conn.commit()
    finally:
        conn.close()
    return path


def kpi(root: Path, source: Path | str, *extra: str, date: str = DATE.isoformat()) -> int:
    """``canary kpi`` for tenant acme, in process; the exit status."""
    from pytest_canary.cli import main

    args = ["kpi", "--tenant", "acme", "--root", str(root), "--source", str(source)]
    return main([*args, "--date", date, *extra])


def read_kpis(root: Path, date: dt.date = DATE) -> dict[str, object]:
    data: dict[str, object] = json.loads((root / "acme" / f"{date}.json").read_text())
    return data


def make_root(tmp_path: Path, *tenants: str) -> Path:
    root = tmp_path / "root"
    for tenant in tenants or ("acme",):
        (root / tenant).mkdir(parents=True)
    return root
