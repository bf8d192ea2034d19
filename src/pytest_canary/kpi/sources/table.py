"""What the database sources share: the events table, its event names in SQL, the cohort check,
the tally of their grouped counts and the redaction of passwords in what is shown."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_canary.kpi.cohorts import COHORT_NAMES, QuotaTimeline
from pytest_canary.kpi.events import EVENT_TYPES, EventError, Tally, described

Group = tuple[str, Any, Mapping[int, "int | None"], int]
"""One row of a database's ``GROUP BY``: event, cohort, counts per bucket, rows read."""

TABLE = "dispatch_events"
EVENT_SQL = ", ".join(f"'{name}'" for name in EVENT_TYPES)
NO_TABLE = f"no table {TABLE} (the schema is in docs/kpi-engine.md)"
CHANGED_WHILE_READ = "a row changed while it was read; run again"
"""When the query for the first bad row finds none: another writer changed the table."""
_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@|((?:^|[?&\s])password=)[^&\s]*")


def redact(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@`` replaced by ``***``."""
    return _PASSWORD.sub(lambda m: f"{m[1]}***@" if m[1] else f"{m[2]}***", text)


def check_cohorts(shown: str, rows: list[Any], timeline: QuotaTimeline | None) -> None:
    """An optional ``cohort`` column holds ``canary``, ``control`` or NULL, nothing else."""
    if timeline is None:
        return
    for row in rows:
        if row[-1] not in COHORT_NAMES:
            raise EventError(
                f"{shown}: column cohort: {described(row[-1])}, expected canary, control or NULL"
            )


def any_bad(rows: list[Any], flagged: int) -> bool:
    """Whether a grouped row has an unknown event, or a count of bad rows at ``flagged``; then
    the source asks for the first such row, to name it."""
    return any(row[0] not in EVENT_TYPES or row[flagged] for row in rows)


def tally_groups(groups: Iterable[Group], *, split: bool) -> Tally:
    """The tally of a database's grouped counts; with ``split`` each group's cohort's too (its
    cohort was checked by :func:`check_cohorts`). A bucket no row fell in is NULL in SQL: 0."""
    tally = Tally()
    for event, cohort, counts, read in groups:
        for counted in (tally, *([tally.split()[cohort]] if split else [])):
            for bucket, count in counts.items():
                counted.add(event, bucket, count or 0)
        tally.events_read += read
    return tally
