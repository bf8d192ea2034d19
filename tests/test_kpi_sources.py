"""canary kpi on a real SQLite database and a real PostgreSQL server, and the --source URLs.

The PostgreSQL tests need ``CANARY_TEST_POSTGRES_DSN`` (``.ci/run`` starts a server and sets it;
the ``postgres`` fixture is in conftest.py).
Without it they are skipped locally, but with ``CI`` set a missing server fails them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from _kpi_fixtures import DATE, RECIPIENT, RUN, Event, events, make_root, write_jsonl, write_sqlite
from pytest_canary.cli import main
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.kpi.sources import parse_source
from pytest_canary.kpi.sources.postgresql import POSTGRES_SCHEMA

UTC = dt.UTC


def kpi(root: Path, source: str | None, *extra: str) -> int:
    args = ["kpi", "--tenant", "acme", "--root", str(root), "--date", DATE.isoformat()]
    return main([*args, *(["--source", source] if source else []), *extra])


def read_kpis(root: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((root / "acme" / f"{DATE}.json").read_text())
    return data


def _day() -> list[Event]:
    start = RUN - dt.timedelta(hours=24)
    items = [
        *events(sent=30, failed=2, hard=1, soft=3, dlq=(4, 1), retry=(6, 2)),
        *events(sent=7, dlq=(2, 0), at=start),  # the window's first instant: inside
        *events(sent=5, dlq=(3, 3), at=start - dt.timedelta(milliseconds=1)),
        *events(sent=9, dlq=(8, 0), at=RUN),  # the run time: not yet
        *events(sent=50, failed=50, dlq=(9, 0), tenant="beta"),
    ]
    return items


EXPECTED = {
    "notices_sent": 37,
    "errors": 2,
    "hard_bounces": 1,
    "soft_bounces": 3,
    "dlq_depth": 5,
    "retry_depth": 4,
}


def _kpis(data: dict[str, object]) -> dict[str, object]:
    return {k: data[k] for k in EXPECTED}


# --- SQLite ----------------------------------------------------------------------------------


def test_sqlite_gives_the_same_kpis_as_jsonl(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    db = write_sqlite(tmp_path / "events.sqlite", _day())
    assert kpi(root, f"sqlite://{db}") == 0
    from_sqlite = read_kpis(root)
    assert kpi(root, str(write_jsonl(tmp_path / "events.jsonl", _day()))) == 0

    assert _kpis(from_sqlite) == _kpis(read_kpis(root)) == EXPECTED
    assert from_sqlite["error_rate"] == pytest.approx(2 / 39)
    assert from_sqlite["source"] == f"sqlite://{db}"


def test_sqlite_is_the_default_source_under_the_tenant_ops_folder(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / "acme" / "ops").mkdir()
    db = write_sqlite(root / "acme" / "ops" / "events.sqlite", _day())
    before = hashlib.sha256(db.read_bytes()).hexdigest()

    assert kpi(root, None) == 0

    assert _kpis(read_kpis(root)) == EXPECTED
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["events.sqlite"]
    assert RECIPIENT not in (root / "acme" / f"{DATE}.json").read_text()


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (
            "event = 'opened'",
            "row 3: column event: a string of 6 characters, expected one of sent, failed",
        ),
        ("ts = '2026-11-26T05:00:00Z'", "row 3: column ts: must be an integer"),
        ("ts = 1764133200000.5", "row 3: column ts: must be an integer"),
    ],
)
def test_a_bad_sqlite_row_fails_closed_naming_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], update: str, message: str
) -> None:
    root = make_root(tmp_path)
    db = write_sqlite(tmp_path / "events.sqlite", events(sent=5))
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE dispatch_events SET {update} WHERE rowid = 3")
    conn.close()

    assert kpi(root, f"sqlite://{db}") == 1

    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert not (root / "acme" / f"{DATE}.json").exists()


def test_unusable_sqlite_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)

    assert kpi(root, f"sqlite://{empty}") == 1
    assert "no table dispatch_events" in capsys.readouterr().err
    assert kpi(root, str(garbage)) == 1
    assert "file is not a database" in capsys.readouterr().err
    assert kpi(root, f"sqlite://{tmp_path}") == 1
    assert "is a folder" in capsys.readouterr().err


# --- PostgreSQL ------------------------------------------------------------------------------


def _fill(url: str, items: list[Event], schema: str = POSTGRES_SCHEMA) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(schema)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dispatch_events (tenant, notice_id, event, ts, recipient)"
                " VALUES (%s, %s, %s, %s, %s)",
                [(e.tenant, e.notice_id, e.event, e.at, e.recipient) for e in items],
            )


def test_postgresql_gives_the_same_kpis_as_jsonl(tmp_path: Path, postgres: str) -> None:
    root = make_root(tmp_path)
    _fill(postgres, _day())

    assert kpi(root, postgres) == 0

    data = read_kpis(root)
    assert _kpis(data) == EXPECTED
    assert RECIPIENT not in json.dumps(data)


def test_postgresql_naive_timestamps_are_berlin_time(tmp_path: Path, postgres: str) -> None:
    root = make_root(tmp_path)
    naive = POSTGRES_SCHEMA.replace("timestamptz", "timestamp")
    start = (RUN - dt.timedelta(hours=24)).replace(tzinfo=None)  # 2026-11-25 07:30, Berlin
    items = [Event("sent", start), Event("sent", start - dt.timedelta(seconds=1))]
    _fill(postgres, items, schema=naive)

    assert kpi(root, postgres) == 0
    assert read_kpis(root)["notices_sent"] == 1


def test_a_bad_postgresql_row_fails_closed_naming_the_row(
    tmp_path: Path, postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    bad = Event("opened", RUN - dt.timedelta(hours=2), notice_id="N-77")
    _fill(postgres, [*events(sent=5), bad])

    assert kpi(root, postgres) == 1

    err = capsys.readouterr().err
    assert "a row at 2026-11-26T05:30:00+01:00: column event: a string of 6 characters" in err
    assert "N-77" not in err and "opened" not in err
    assert not (root / "acme" / f"{DATE}.json").exists()


def test_postgresql_errors_never_show_the_password(
    tmp_path: Path, postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    assert kpi(root, postgres) == 1
    assert "no table dispatch_events" in capsys.readouterr().err

    wrong = postgres.replace("://canary:canary@", "://canary:Sekr3t-w0rd@", 1)
    if wrong == postgres:
        pytest.skip("the test DSN is not postgresql://canary:canary@...")
    assert kpi(root, wrong) == 1
    err = capsys.readouterr().err
    assert "password authentication failed" in err
    assert "Sekr3t-w0rd" not in err
    assert err.count("\n") == 1


# --- --source --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "location"),
    [
        ("events.jsonl", "jsonl", "/w/events.jsonl"),
        ("data/x.ndjson", "jsonl", "/w/data/x.ndjson"),
        ("/abs/events.jsonl", "jsonl", "/abs/events.jsonl"),
        ("file:///abs/my%20events.jsonl", "jsonl", "/abs/my events.jsonl"),
        ("file://localhost/abs/e.log", "jsonl", "/abs/e.log"),
        ("file:rel/e.jsonl", "jsonl", "/w/rel/e.jsonl"),
        ("file:///abs/events.db", "sqlite", "/abs/events.db"),
        ("sqlite:///abs/events.sqlite", "sqlite", "/abs/events.sqlite"),
        ("sqlite:////abs/events.sqlite", "sqlite", "/abs/events.sqlite"),
        ("sqlite:rel/ev", "sqlite", "/w/rel/ev"),
        ("events.sqlite3", "sqlite", "/w/events.sqlite3"),
        ("postgresql://u:pw@db:5432/ops", "postgresql", "postgresql://u:pw@db:5432/ops"),
        (
            "postgres://u@db/ops?sslmode=require",
            "postgresql",
            "postgres://u@db/ops?sslmode=require",
        ),
    ],
)
def test_source_urls_and_paths(text: str, kind: str, location: str) -> None:
    source = parse_source(text, Path("/w"))
    assert (source.kind, source.location) == (kind, location)


@pytest.mark.parametrize(
    "text", ["", "  ", "ftp://x/e.jsonl", "file://host/e.jsonl", "sqlite://", "file:///e?x=1", "e"]
)
def test_unclear_sources_are_usage_errors(text: str) -> None:
    with pytest.raises(CanaryUsageError, match="--source"):
        parse_source(text, Path("/w"))


def test_a_shown_source_never_holds_a_password() -> None:
    source = parse_source("postgresql://u:pw@db/ops?password=pw2", Path("/w"))
    assert "pw" not in source.shown.replace("password", "")
    assert source.shown == "postgresql://u:***@db/ops?password=***"
