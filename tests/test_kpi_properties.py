"""Property tests of the JSONL reader: any line is counted or named, and both readers agree."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _kpi_fixtures import RUN, Event, write_jsonl
from pytest_canary.kpi import jsonl as kpi_jsonl
from pytest_canary.kpi.events import EVENT_TYPES, INSIDE, EventError, Window
from pytest_canary.kpi.jsonl import tally_jsonl

WINDOW = Window.for_run_date(RUN.date())
GOOD = [
    Event("sent", RUN - dt.timedelta(hours=h), notice_id=f"N-{h}", recipient=None)
    for h in range(1, 6)
]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "tenant": st.sampled_from(["acme", "beta", "ACME", "", 5, ["acme"]]),
        "notice_id": st.sampled_from(["N-1", "", None, 7]),
        "event": st.sampled_from([*EVENT_TYPES, "opened", "SENT", None]),
        "ts": st.sampled_from(
            ["2026-11-26T05:00:00+01:00", "2026-11-26T05:00Z", "2026-11-26", "nope", "", 0]
        ),
        "recipient": st.sampled_from(["a@b.example", None, 3]),
    },
)
canonical_like = st.fixed_dictionaries(
    {
        "tenant": st.sampled_from(["acme", "beta", "ACME", "all", "-x"]),
        "event": st.sampled_from([*EVENT_TYPES, "opened"]),
        "ts": st.sampled_from(
            [
                "2026-11-26T05:00:00+01:00",
                "2026-11-26T05:00:00.123456789+01:00",
                "2026-02-30T05:00:00+01:00",
                "2026-11-26T24:00:00+01:00",
                "2026-11-26T05:00:00+24:00",
                "0000-11-26T05:00:00+01:00",
            ]
        ),
        "notice_id": st.sampled_from(["N-1", "Ä", ""]),
    },
    optional={"recipient": st.sampled_from(["a@b.example", None])},
)
lines = st.one_of(
    canonical_like.map(lambda v: json.dumps(v, separators=(",", ":")).encode()),
    st.binary(max_size=60),
    st.text(max_size=60).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    event_like.map(lambda v: json.dumps(v).encode()),
    event_like.map(lambda v: json.dumps(v, separators=(",", ":")).encode()),
).filter(lambda raw: b"\n" not in raw)


@FUZZ
@given(line=lines, position=st.integers(0, len(GOOD)), block=st.sampled_from([64, 1 << 22]))
def test_any_line_is_counted_or_named_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, line: bytes, position: int, block: int
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = write_jsonl(folder / "e.jsonl", GOOD)
    rows = path.read_bytes().splitlines(keepends=True)
    rows.insert(position, line + b"\n")
    path.write_bytes(b"".join(rows))
    saved = kpi_jsonl.BLOCK
    kpi_jsonl.BLOCK = block
    try:
        tally = tally_jsonl(path, "acme", WINDOW)
    except EventError as exc:
        message = str(exc)
        assert message.startswith(f"line {position + 1}: ")
        assert "\n" not in message
        assert "a@b.example" not in message
    else:
        assert tally.in_window("sent") >= len(GOOD)
    finally:
        kpi_jsonl.BLOCK = saved


offsets = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=1)), RUN.tzinfo])
instants = st.integers(-3 * 86400, 86400).map(lambda s: RUN + dt.timedelta(seconds=s / 7))
events = st.builds(
    Event,
    event=st.sampled_from(EVENT_TYPES),
    at=st.tuples(instants, offsets).map(lambda p: p[0].astimezone(p[1])),
    tenant=st.sampled_from(["acme", "beta"]),
    notice_id=st.text(min_size=1, max_size=6),
    recipient=st.none() | st.text(max_size=6),
)


@FUZZ
@given(items=st.lists(events, max_size=60), block=st.sampled_from([128, 1 << 22]))
def test_fast_and_general_reader_count_the_same(
    tmp_path_factory: pytest.TempPathFactory, items: list[Event], block: int
) -> None:
    folder = tmp_path_factory.mktemp("agree")
    saved = kpi_jsonl.BLOCK
    kpi_jsonl.BLOCK = block
    try:
        fast = tally_jsonl(write_jsonl(folder / "a.jsonl", items), "acme", WINDOW)
        slow = tally_jsonl(write_jsonl(folder / "b.jsonl", items, canonical=False), "acme", WINDOW)
    finally:
        kpi_jsonl.BLOCK = saved
    assert fast == slow
    expected = sum(
        1
        for e in items
        if e.tenant == "acme" and WINDOW.bucket(e.at) == INSIDE and e.event == "sent"
    )
    assert fast.in_window("sent") == expected
