"""What the database sources share: the events table, its event names in SQL, the cohort check
and the redaction of passwords in what is shown."""

from __future__ import annotations

import re
from typing import Any

from pytest_canary.kpi.cohorts import COHORT_NAMES, QuotaTimeline
from pytest_canary.kpi.events import EVENT_TYPES, EventError, described

TABLE = "dispatch_events"
EVENT_SQL = ", ".join(f"'{name}'" for name in EVENT_TYPES)
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
