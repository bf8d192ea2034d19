"""canary kpi on real JSONL files: each KPI, the window and its edges, DST days, both readers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from _kpi_fixtures import (
    DATE,
    RECIPIENT,
    RUN,
    Event,
    events,
    kpi,
    make_root,
    read_kpis,
    write_jsonl,
)
from pytest_canary.core.models import Kpis

UTC = dt.UTC

# --- the KPIs ------------------------------------------------------------------------------


def test_each_kpi_follows_from_the_events(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    items = events(sent=97, failed=3, hard=2, soft=4, dlq=(5, 2), retry=(7, 7))
    source = write_jsonl(tmp_path / "events.jsonl", items)

    assert kpi(root, source) == 0

    data = read_kpis(root)
    Kpis.model_validate(data)
    assert {k: data[k] for k in ("notices_sent", "errors", "hard_bounces", "soft_bounces")} == {
        "notices_sent": 97,
        "errors": 3,
        "hard_bounces": 2,
        "soft_bounces": 4,
    }
    assert data["error_rate"] == pytest.approx(0.03)
    assert (data["dlq_depth"], data["retry_depth"]) == (3, 0)
    assert (data["tenant"], data["date"]) == ("acme", "2026-11-26")
    assert data["window_start"] == "2026-11-25T07:30:00+01:00"
    assert data["window_end"] == "2026-11-26T07:30:00+01:00"
    assert dt.datetime.fromisoformat(str(data["generated_at"])).tzinfo is not None


def test_no_volume_is_an_error_rate_of_zero_and_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    source = write_jsonl(tmp_path / "events.jsonl", events(sent=5, tenant="beta"))

    assert kpi(root, source) == 0

    data = read_kpis(root)
    assert (data["notices_sent"], data["error_rate"], data["dlq_depth"]) == (0, 0.0, 0)
    assert "no events of tenant 'acme'" in capsys.readouterr().err


def test_only_failures_is_an_error_rate_of_one(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    assert kpi(root, write_jsonl(tmp_path / "e.jsonl", events(failed=4))) == 0
    assert read_kpis(root)["error_rate"] == 1.0


def test_other_tenants_events_are_not_counted(tmp_path: Path) -> None:
    root = make_root(tmp_path, "acme", "beta")
    items = events(sent=3, dlq=(2, 0)) + events(sent=50, failed=50, dlq=(9, 0), tenant="beta")
    source = write_jsonl(tmp_path / "events.jsonl", items)

    assert kpi(root, source) == 0

    assert (read_kpis(root)["notices_sent"], read_kpis(root)["dlq_depth"]) == (3, 2)


def test_more_queue_outs_than_ins_is_depth_zero_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    source = write_jsonl(tmp_path / "e.jsonl", events(sent=3, retry=(1, 4)))

    assert kpi(root, source) == 0

    assert read_kpis(root)["retry_depth"] == 0
    assert "retry: 4 outs but only 1 ins" in capsys.readouterr().err


def test_more_hard_bounces_than_sent_is_written_as_is_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    source = write_jsonl(tmp_path / "e.jsonl", events(sent=1, hard=2))

    assert kpi(root, source) == 0

    assert read_kpis(root)["hard_bounces"] == 2
    assert "hard_bounces 2 > notices_sent 1" in capsys.readouterr().err


def test_a_recipient_is_never_copied_anywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    good = write_jsonl(tmp_path / "good.jsonl", events(sent=3, hard=1))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + f'{{"tenant":"acme","recipient":"{RECIPIENT}"}}\n')

    assert kpi(root, good) == 0
    assert kpi(root, good, "--dry-run") == 0
    assert kpi(root, bad) == 1

    out, err = capsys.readouterr()
    assert RECIPIENT not in (root / "acme" / f"{DATE}.json").read_text()
    assert RECIPIENT not in out + err
    assert "line 5: field notice_id is missing" in err


# --- the window ----------------------------------------------------------------------------


def _count_sent(tmp_path: Path, *times: dt.datetime, date: dt.date = DATE) -> int:
    root = make_root(tmp_path)
    items = [Event("sent", at, notice_id=f"N-{i}") for i, at in enumerate(times)]
    assert kpi(root, write_jsonl(tmp_path / "e.jsonl", items), date=date.isoformat()) == 0
    return int(str(read_kpis(root, date)["notices_sent"]))


def test_window_includes_its_start_and_excludes_the_run_time(tmp_path: Path) -> None:
    start = RUN - dt.timedelta(hours=24)
    ms = dt.timedelta(milliseconds=1)
    inside = (start, start + ms, RUN - ms)
    outside = (start - ms, RUN, RUN + ms, RUN + dt.timedelta(days=2))

    assert _count_sent(tmp_path, *inside, *outside) == len(inside)


def test_queue_depth_counts_everything_before_the_run_time(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    old = RUN - dt.timedelta(days=30)
    items = [
        *events(dlq=(4, 1), at=old),
        *events(dlq=(1, 0), at=RUN - dt.timedelta(milliseconds=1)),
        *events(dlq=(5, 0), at=RUN),  # at the run time: not yet
    ]
    assert kpi(root, write_jsonl(tmp_path / "e.jsonl", items)) == 0
    assert read_kpis(root)["dlq_depth"] == 4


@pytest.mark.parametrize(
    ("date", "first_in", "last_out"),
    [
        # 23-hour day: Saturday 06:30 CET is 24 hours before Sunday 07:30 CEST.
        (dt.date(2024, 3, 31), "2024-03-30T06:30:00+01:00", "2024-03-30T06:29:59.999+01:00"),
        # 25-hour day: Saturday 08:30 CEST is 24 hours before Sunday 07:30 CET.
        (dt.date(2024, 10, 27), "2024-10-26T08:30:00+02:00", "2024-10-26T08:29:59.999+02:00"),
    ],
)
def test_dst_days_count_24_real_hours_before_the_run(
    tmp_path: Path, date: dt.date, first_in: str, last_out: str
) -> None:
    times = [dt.datetime.fromisoformat(t) for t in (first_in, last_out)]
    times.append(dt.datetime.combine(date, dt.time(7, 29, 59), tzinfo=RUN.tzinfo))
    times.append(dt.datetime.combine(date, dt.time(7, 30), tzinfo=RUN.tzinfo))

    assert _count_sent(tmp_path, *times, date=date) == 2


def test_times_in_utc_and_naive_berlin_times_are_the_same_instants(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    start_utc = (RUN - dt.timedelta(hours=24)).astimezone(UTC)
    lines = [
        f'{{"tenant":"acme","event":"sent","ts":"{start_utc.isoformat()}","notice_id":"a"}}',
        '{"tenant":"acme","event":"sent","ts":"2026-11-25T07:30:00Z","notice_id":"b"}',
        '{"tenant":"acme","event":"sent","ts":"2026-11-25 07:30","notice_id":"c"}',  # naive: Berlin
        '{"tenant":"acme","event":"sent","ts":"2026-11-25T07:29:59","notice_id":"d"}',
    ]
    source = tmp_path / "e.jsonl"
    source.write_text("\n".join(lines) + "\n")

    assert kpi(root, source) == 0
    # 06:30Z (= 07:30 Berlin) and 07:30Z are inside, naive 07:30 is Berlin (inside), 07:29:59 not.
    assert read_kpis(root)["notices_sent"] == 3


# --- the two JSONL readers -----------------------------------------------------------------


def _mixed_events() -> list[Event]:
    """A day around the October DST change, every type, two tenants, offsets changing midway."""
    run = dt.datetime(2024, 10, 27, 7, 30, tzinfo=RUN.tzinfo)
    names = ["sent"] * 6 + ["failed", "hard_bounce", "soft_bounce"]
    names += ["dlq_in", "dlq_out", "retry_in", "retry_out", "dlq_in", "retry_in"]
    out = []
    for i in range(3000):
        at = (run - dt.timedelta(hours=26) + dt.timedelta(seconds=37 * i)).astimezone(RUN.tzinfo)
        tenant = "beta" if i % 7 == 0 else "acme"
        out.append(Event(names[i % len(names)], at, tenant=tenant, notice_id=f"N-{i}"))
    return out


def test_canonical_and_other_json_forms_give_the_same_kpis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_canary.kpi import jsonl as kpi_jsonl

    monkeypatch.setattr(kpi_jsonl, "BLOCK", 4096)  # many blocks, some spanning the DST change
    root = make_root(tmp_path)
    results = []
    for canonical in (True, False):
        source = write_jsonl(tmp_path / "e.jsonl", _mixed_events(), canonical=canonical)
        assert kpi(root, source, date="2024-10-27") == 0
        data = read_kpis(root, dt.date(2024, 10, 27))
        results.append({k: v for k, v in data.items() if k not in ("generated_at", "source")})
    assert results[0] == results[1]
    assert results[0] | _expected(_mixed_events(), dt.date(2024, 10, 27)) == results[0]


def _expected(items: list[Event], date: dt.date) -> dict[str, object]:
    """The KPIs as docs/kpi-engine.md defines them, computed naively from the events."""
    run = dt.datetime.combine(date, dt.time(7, 30), tzinfo=RUN.tzinfo).astimezone(UTC)
    mine = [e for e in items if e.tenant == "acme" and e.at < run]
    recent = [e.event for e in mine if e.at >= run - dt.timedelta(hours=24)]
    sent, failed = recent.count("sent"), recent.count("failed")

    def depth(queue: str) -> int:
        names = [e.event for e in mine]
        return max(0, names.count(f"{queue}_in") - names.count(f"{queue}_out"))

    return {
        "notices_sent": sent,
        "errors": failed,
        "error_rate": failed / (sent + failed),
        "hard_bounces": recent.count("hard_bounce"),
        "soft_bounces": recent.count("soft_bounce"),
        "dlq_depth": depth("dlq"),
        "retry_depth": depth("retry"),
    }


def test_canonical_lines_take_the_fast_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_canary.kpi import jsonl as kpi_jsonl

    def refuse(self: object, chunk: bytes) -> None:
        raise AssertionError("the general reader was used")

    monkeypatch.setattr(kpi_jsonl._Reader, "_slow", refuse)
    monkeypatch.setattr(kpi_jsonl, "BLOCK", 4096)
    items = [e for e in _mixed_events() if e.at.utcoffset() == dt.timedelta(hours=1)]
    root = make_root(tmp_path)

    assert kpi(root, write_jsonl(tmp_path / "e.jsonl", items), date="2024-10-27") == 0
    expected = _expected(items, dt.date(2024, 10, 27))["notices_sent"]
    assert read_kpis(root, dt.date(2024, 10, 27))["notices_sent"] == expected


def test_blank_lines_crlf_and_a_last_line_without_newline_are_fine(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    text = write_jsonl(tmp_path / "a.jsonl", events(sent=3)).read_text()
    source = tmp_path / "b.jsonl"
    source.write_bytes(("\n" + text.replace("\n", "\r\n") + "\n  \n" + text.rstrip()).encode())

    assert kpi(root, source) == 0
    assert read_kpis(root)["notices_sent"] == 6
