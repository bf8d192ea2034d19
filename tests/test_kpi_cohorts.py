"""``canary kpi`` splits a tenant's figures by cohort: canary (the new code's notices) or control."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import time_machine

from _engine_fixtures import history_entry, state
from _evidence_fixtures import RELATIVE_TOML
from _kpi_fixtures import DATE, RUN, Event, kpi, make_root, read_kpis, write_jsonl, write_sqlite
from pytest_canary.core.models import Kpis, OperateState
from pytest_canary.dispatch import should_dispatch
from pytest_canary.kpi.cohorts import QuotaTimeline
from pytest_canary.kpi.sources.postgresql import POSTGRES_SCHEMA

# The state's rollout from 10 % to 25 % happened at this time, inside the KPI window.
CHANGE = RUN - dt.timedelta(hours=12)


def _relative_gates(tmp_path: Path) -> tuple[str, str]:
    """``--gates`` naming a gate that compares the cohorts: ``canary kpi`` splits only then."""
    gates = tmp_path / "gates.toml"
    gates.write_text(RELATIVE_TOML, "utf-8")
    return "--gates", str(gates)


def _state_with_rollout() -> dict[str, Any]:
    entry = history_entry(serial=1, decision="GO_25", decision_id="a" * 64, to_quota=25)
    entry["at"] = CHANGE.isoformat()
    return state(quota=25, serial=1, history=[entry])


def _write_state(root: Path, content: dict[str, Any] | str) -> None:
    path = root / "acme" / "operate" / "operate_state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")


def _day() -> list[Event]:
    """600 notices before and after the rollout, some failed, bounced, queued."""
    items = []
    for i in range(600):
        at = RUN - dt.timedelta(hours=20) + dt.timedelta(minutes=2 * i)
        kind = "failed" if i % 7 == 0 else "sent"
        items.append(Event(kind, at, notice_id=f"N-{i}"))
        if i % 11 == 0:
            items.append(Event("hard_bounce", at + dt.timedelta(seconds=30), notice_id=f"N-{i}"))
        if i % 13 == 0:
            items.append(Event("dlq_in", at, notice_id=f"N-{i}"))
    items.append(Event("sent", RUN - dt.timedelta(hours=2), tenant="beta", notice_id="B-1"))
    return items


def _expected(items: list[Event]) -> dict[str, dict[str, int]]:
    """The split by hand: the dispatcher's answer with the state in force at each event."""
    before = {"tenant": "acme", "quota": 10, "kill_switch": False}
    after = {"tenant": "acme", "quota": 25, "kill_switch": False}
    counts: dict[str, dict[str, int]] = {
        c: {"sent": 0, "failed": 0, "hard_bounce": 0, "dlq_in": 0} for c in ("canary", "control")
    }
    for e in items:
        if e.tenant != "acme":
            continue
        in_force = after if e.at.replace(second=0) >= CHANGE else before
        cohort = "canary" if should_dispatch(in_force, e.notice_id) else "control"
        counts[cohort][e.event] += 1
    return counts


def _check_split(data: dict[str, Any], items: list[Event]) -> None:
    Kpis.model_validate(data)  # the cohorts add up to the tenant's counts
    expected = _expected(items)
    for name in ("canary", "control"):
        cohort = data["cohorts"][name]
        assert cohort["notices_sent"] == expected[name]["sent"]
        assert cohort["errors"] == expected[name]["failed"]
        assert cohort["hard_bounces"] == expected[name]["hard_bounce"]
        assert cohort["dlq_depth"] == expected[name]["dlq_in"]
    assert (
        0 < data["cohorts"]["canary"]["notices_sent"] < data["cohorts"]["control"]["notices_sent"]
    )


@pytest.mark.parametrize("canonical", [True, False], ids=["fast-reader", "general-reader"])
def test_jsonl_events_are_split_with_the_quota_in_force_at_their_time(
    tmp_path: Path, canonical: bool
) -> None:
    root = make_root(tmp_path)
    _write_state(root, _state_with_rollout())
    items = _day()
    source = write_jsonl(tmp_path / "events.jsonl", items, canonical=canonical)

    assert kpi(root, source, *_relative_gates(tmp_path)) == 0

    _check_split(read_kpis(root), items)


def test_sqlite_events_are_split_like_jsonl(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    _write_state(root, _state_with_rollout())
    items = _day()

    assert (
        kpi(root, write_sqlite(tmp_path / "events.sqlite", items), *_relative_gates(tmp_path)) == 0
    )

    _check_split(read_kpis(root), items)


def test_an_events_own_cohort_wins_over_the_derived_one(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    source = tmp_path / "events.jsonl"
    at = (RUN - dt.timedelta(hours=1)).isoformat()
    lines = [
        {"tenant": "acme", "event": "sent", "ts": at, "notice_id": f"N-{i}", "cohort": "canary"}
        for i in range(5)
    ]
    lines.append({"tenant": "acme", "event": "failed", "ts": at, "notice_id": "X", "cohort": None})
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), "utf-8")

    assert kpi(root, source, *_relative_gates(tmp_path)) == 0

    cohorts = read_kpis(root)["cohorts"]
    derived = (
        "canary"
        if should_dispatch({"tenant": "acme", "quota": 10, "kill_switch": False}, "X")
        else "control"
    )
    assert cohorts["canary"]["notices_sent"] == 5
    assert cohorts[derived]["errors"] == 1


def test_sqlite_cohort_column_wins_and_a_bad_value_fails_closed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    path = write_sqlite(tmp_path / "events.sqlite", [Event("sent", RUN - dt.timedelta(hours=1))])
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE dispatch_events ADD COLUMN cohort TEXT")
        conn.execute("UPDATE dispatch_events SET cohort = 'canary'")
    assert kpi(root, path, *_relative_gates(tmp_path)) == 0
    assert read_kpis(root)["cohorts"]["canary"]["notices_sent"] == 1

    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE dispatch_events SET cohort = 'blue'")
    capsys.readouterr()
    assert kpi(root, path, *_relative_gates(tmp_path)) == 1
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and "column cohort: a string of 4 characters, expected canary, control or NULL" in err
    )


def test_a_bad_cohort_in_jsonl_fails_closed_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    source = tmp_path / "events.jsonl"
    at = (RUN - dt.timedelta(hours=1)).isoformat()
    line = {"tenant": "acme", "event": "sent", "ts": at, "notice_id": "N", "cohort": "Canary"}
    source.write_text(json.dumps(line) + "\n", "utf-8")

    assert kpi(root, source, *_relative_gates(tmp_path)) == 1

    err = capsys.readouterr().err
    assert "line 1: field cohort: a string of 6 characters, expected canary, control or null" in err
    assert not (root / "acme" / f"{DATE}.json").exists()


def test_a_corrupt_state_writes_no_cohorts_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    _write_state(root, "{not json")
    source = write_jsonl(tmp_path / "events.jsonl", _day())

    assert kpi(root, source, *_relative_gates(tmp_path)) == 0

    assert "cohorts" not in read_kpis(root)
    assert 'gate with compare = "control" reports an error' in capsys.readouterr().err


def test_a_kill_switch_puts_every_later_notice_in_control() -> None:
    entry = history_entry(
        serial=1, decision="BACKOUT", decision_id="b" * 64, kill_switch=True, to_quota=10
    )
    entry["at"] = CHANGE.isoformat()
    timeline = QuotaTimeline.from_state(
        OperateState.model_validate(state(kill_switch=True, serial=1, history=[entry]))
    )

    later = [timeline.cohort(f"N-{i}", CHANGE + dt.timedelta(minutes=1)) for i in range(200)]
    earlier = [timeline.cohort(f"N-{i}", CHANGE - dt.timedelta(minutes=1)) for i in range(200)]

    assert set(later) == {"control"}
    assert "canary" in earlier


def test_the_timeline_gives_the_dispatchers_answer() -> None:
    timeline = QuotaTimeline.from_state(OperateState.model_validate(_state_with_rollout()))
    for minutes in (-60, 0, 60):
        at = CHANGE + dt.timedelta(minutes=minutes)
        quota = 25 if minutes >= 0 else 10
        in_force = {"tenant": "acme", "quota": quota, "kill_switch": False}
        for i in range(300):
            expected = "canary" if should_dispatch(in_force, f"N-{i}") else "control"
            assert timeline.cohort(f"N-{i}", at) == expected


def test_cohorts_from_canary_kpi_feed_a_relative_gate_in_canary_decide(tmp_path: Path) -> None:
    from pytest_canary.cli import main

    root = make_root(tmp_path)
    timeline = QuotaTimeline.initial("acme")
    at = RUN - dt.timedelta(hours=5)
    items = []
    for i in range(20_000):
        notice = f"N-{i}"
        canary = timeline.cohort(notice, at) == "canary"
        failed = i % 10 == 0 if canary else i % 200 == 0  # canary 10 %, control 0.5 %
        items.append(Event("failed" if failed else "sent", at, notice_id=notice))
    assert kpi(root, write_jsonl(tmp_path / "events.jsonl", items), *_relative_gates(tmp_path)) == 0
    gates = tmp_path / "gates.toml"

    code = main(
        [
            "decide",
            "--tenant",
            "acme",
            "--root",
            str(root),
            "--date",
            DATE.isoformat(),
            "--gates",
            str(gates),
        ]
    )

    decision = json.loads((root / "acme" / "canary" / f"{DATE}_decision.json").read_text())
    result = next(g for g in decision["gates"] if g["name"] == "error_rate_vs_control")
    assert result["status"] == "backout" and code == 3
    assert (
        result["evidence"]["canary"]["trials"] + result["evidence"]["control"]["trials"] == 20_000
    )


# --- PostgreSQL --------------------------------------------------------------------------------


def _fill(url: str, items: list[Event], *, cohort: str | None = None) -> None:
    """The events in the documented table; with ``cohort``, in an added ``cohort`` column too."""
    import psycopg

    rows = [(e.tenant, e.notice_id, e.event, e.at, e.recipient) for e in items]
    columns, marks = "tenant, notice_id, event, ts, recipient", "%s, %s, %s, %s, %s"
    with psycopg.connect(url) as conn:
        conn.execute(POSTGRES_SCHEMA)
        if cohort is not None:
            conn.execute("ALTER TABLE dispatch_events ADD COLUMN cohort text")
            rows = [(*row, cohort) for row in rows]
            columns, marks = columns + ", cohort", marks + ", %s"
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO dispatch_events ({columns}) VALUES ({marks})", rows)


def test_postgresql_events_are_split_like_jsonl(tmp_path: Path, postgres: str) -> None:
    root = make_root(tmp_path)
    _write_state(root, _state_with_rollout())
    items = _day()
    _fill(postgres, items)

    assert kpi(root, postgres, *_relative_gates(tmp_path)) == 0

    _check_split(read_kpis(root), items)


def test_postgresql_cohort_column_wins(tmp_path: Path, postgres: str) -> None:
    root = make_root(tmp_path)
    _fill(postgres, [Event("sent", RUN - dt.timedelta(hours=1))], cohort="canary")

    assert kpi(root, postgres, *_relative_gates(tmp_path)) == 0

    assert read_kpis(root)["cohorts"]["canary"]["notices_sent"] == 1


@pytest.mark.parametrize("canonical", [True, False], ids=["fast-reader", "general-reader"])
def test_the_split_is_made_only_for_a_cohort_gate_and_changes_no_other_figure(
    tmp_path: Path, canonical: bool
) -> None:
    root = make_root(tmp_path)
    _write_state(root, _state_with_rollout())
    items = _day()
    source = write_jsonl(tmp_path / "events.jsonl", items, canonical=canonical)

    with time_machine.travel(RUN + dt.timedelta(hours=1), tick=False):  # the same generated_at
        assert kpi(root, source) == 0
        plain = read_kpis(root)
        assert kpi(root, source, *_relative_gates(tmp_path)) == 0
        split = read_kpis(root)

    assert "cohorts" not in plain
    _check_split(split, items)
    del split["cohorts"]
    assert split == plain
