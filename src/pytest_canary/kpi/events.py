"""The dispatch event model every KPI source shares: event types, the run's window, the tally.

One event is one thing that happened to one notice: it was ``sent`` or ``failed``, it bounced
(``hard_bounce``, ``soft_bounce``), or it entered or left the dead-letter queue (``dlq_in``,
``dlq_out``) or the retry queue (``retry_in``, ``retry_out``). A source only counts events; what
the counts mean is decided here and in :mod:`pytest_canary.kpi.engine` (see docs/kpi-engine.md).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
RUN_TIME = dt.time(7, 30)
"""The daily run: the KPI file of date D holds the 24 hours before D 07:30 Europe/Berlin."""
WINDOW_LENGTH = dt.timedelta(hours=24)

WINDOW_EVENTS = ("sent", "failed", "hard_bounce", "soft_bounce")
"""Counted when they happened in the 24 hours before the run."""
GAUGE_EVENTS = ("dlq_in", "dlq_out", "retry_in", "retry_out")
"""Counted over all time before the run: a queue's depth is its ins minus its outs."""
EVENT_TYPES = WINDOW_EVENTS + GAUGE_EVENTS
EVENT_LIST = ", ".join(EVENT_TYPES)

_TS_RE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)?")

BEFORE, INSIDE, AFTER = 0, 1, 2
"""Where an event's time lies: before the window, inside it, at or after the run time."""


class EventError(Exception):
    """Malformed input or an unreadable source; ``str()`` is one line naming the line or row.

    It never quotes what a field holds (an address may be anywhere in an event): it names the
    line or row, the field, and what was expected; :func:`described` says what was there.
    """


def described(value: object) -> str:
    """What ``value`` is, without its content: ``a string of 23 characters``, ``a list``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, str | bytes):
        return (
            f"a {'string' if isinstance(value, str) else 'byte string'} of {len(value)} characters"
        )
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }.get(type(value), f"a {type(value).__name__}")


@dataclass(frozen=True)
class Window:
    """The half-open interval ``[start, end)`` in UTC; ``end`` is the run time."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def for_run_date(cls, day: dt.date) -> Window:
        """The 24 hours (of real time, also on 23- and 25-hour days) before ``day`` 07:30 Berlin."""
        run = dt.datetime.combine(day, RUN_TIME, tzinfo=BERLIN).astimezone(dt.UTC)
        return cls(start=run - WINDOW_LENGTH, end=run)

    def bucket(self, instant: dt.datetime) -> int:
        """``BEFORE``, ``INSIDE`` or ``AFTER`` for an aware ``instant``."""
        if instant >= self.end:
            return AFTER
        return INSIDE if instant >= self.start else BEFORE


@dataclass
class Tally:
    """One tenant's event counts per (event type, bucket), and how many events were read in all."""

    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    events_read: int = 0
    by_cohort: dict[str, Tally] | None = None
    """The same counts per cohort (``canary``, ``control``), when the source split them."""

    def add(self, event: str, bucket: int, n: int = 1) -> None:
        self.counts[(event, bucket)] += n

    def split(self) -> dict[str, Tally]:
        """The per-cohort tallies, created on first use."""
        if self.by_cohort is None:
            self.by_cohort = {"canary": Tally(), "control": Tally()}
        return self.by_cohort

    def in_window(self, event: str) -> int:
        return self.counts[(event, INSIDE)]

    def before_run(self, event: str) -> int:
        return self.counts[(event, BEFORE)] + self.counts[(event, INSIDE)]


def parse_ts(text: str) -> dt.datetime:
    """An ISO-8601 time with a time of day; no offset means Europe/Berlin (the earlier of two).

    Raises ``ValueError`` with a message fit for a one-line error.
    """
    expected = "expected an ISO-8601 time like 2024-03-31T07:30:00+02:00"
    if not _TS_RE.fullmatch(text):
        raise ValueError(f"{described(text)}, {expected}")
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"no such day or time of day, {expected}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=BERLIN)
    return value


def check_event(event: object) -> str:
    """``event`` when it is a known event type, else ``ValueError``."""
    if not isinstance(event, str) or event not in EVENT_TYPES:
        raise ValueError(f"{described(event)}, expected one of {EVENT_LIST}")
    return event
