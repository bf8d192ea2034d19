"""Which cohort an event belongs to: the canary (dispatched by the new code) or control.

An event may say so itself (``cohort``: ``"canary"`` or ``"control"``). When it does not, the
cohort is what the dispatcher decided: :func:`~pytest_canary.dispatch.should_dispatch` for the
notice, with the quota and kill switch in force at the event's time, read from the state's
history (each entry's ``at`` starts its ``to_quota`` and ``kill_switch``). Before the first entry
the first entry's ``base`` was in force; without a state file, the initial state (the first step,
kill switch off), as the dispatcher assumes too (docs/dispatch-api.md).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_canary.dispatch import dispatch_bucket
from pytest_canary.kpi.events import described

if TYPE_CHECKING:
    from pytest_canary.core.models import OperateState

CANARY, CONTROL = "canary", "control"
COHORT_NAMES = (CANARY, CONTROL)
INITIAL_QUOTA = 10
"""The first step of the built-in gates: where a tenant without a state file stands."""


_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class QuotaTimeline:
    """One tenant's effective quota over time: ``quotas[i]`` from ``starts[i]`` on (``quotas[0]``
    also before ``starts[0]``); a kill switch that is on makes the quota 0."""

    tenant: str
    starts: tuple[dt.datetime, ...]
    quotas: tuple[int, ...]

    @classmethod
    def initial(cls, tenant: str) -> QuotaTimeline:
        return cls(tenant, (_EPOCH,), (INITIAL_QUOTA,))

    @classmethod
    def from_state(cls, state: OperateState) -> QuotaTimeline:
        if not state.history:
            return cls(state.tenant, (_EPOCH,), (_effective(state.quota, state.kill_switch),))
        first = state.history[0].base
        starts, quotas = [_EPOCH], [_effective(first.quota, first.kill_switch)]
        for entry in state.history:
            starts.append(entry.at.astimezone(dt.UTC))
            quotas.append(_effective(entry.to_quota, entry.kill_switch))
        return cls(state.tenant, tuple(starts), tuple(quotas))

    def quota_at(self, instant: dt.datetime) -> int:
        """The quota in force at the start of ``instant``'s minute (the JSONL fast reader and
        the databases see events to the minute, so every source assigns alike)."""
        minute = instant.replace(second=0, microsecond=0)
        return self.quotas[max(0, bisect.bisect_right(self.starts, minute) - 1)]

    def cohort(self, notice_id: str, instant: dt.datetime) -> str:
        """The cohort the dispatcher put ``notice_id`` in at ``instant``.

        The same answer as :func:`~pytest_canary.dispatch.should_dispatch` with the state in
        force then (a test holds the two equal), without building a state per event.
        """
        quota = self.quota_at(instant)
        return CANARY if quota and dispatch_bucket(self.tenant, notice_id) < quota else CONTROL

    def segments(self) -> list[tuple[dt.datetime, int]]:
        """(start, effective quota) of every segment, oldest first."""
        return list(zip(self.starts, self.quotas, strict=True))


def _effective(quota: int, kill_switch: bool) -> int:
    return 0 if kill_switch else quota


def check_cohort(value: object) -> str | None:
    """An event's own ``cohort``: ``None`` (absent), ``"canary"`` or ``"control"``; else
    ``ValueError``."""
    if value is None or (isinstance(value, str) and value in COHORT_NAMES):
        return value
    raise ValueError(f"{described(value)}, expected canary, control or null")


# --- the same rule in SQL, for the database sources --------------------------------------------
# Every value put into these expressions is an int of a validated state (a quota, a time in ms):
# no text from a file or a row is ever spliced into SQL.


def _quota_case(timeline: QuotaTimeline, minute: str, start: Callable[[dt.datetime], str]) -> str:
    """``CASE`` giving the quota in force at the start of the row's ``minute``."""
    segments = timeline.segments()
    whens = " ".join(
        f"WHEN {minute} >= {start(at)} THEN {quota}" for at, quota in reversed(segments[1:])
    )
    return f"(CASE {whens} ELSE {segments[0][1]} END)" if whens else str(segments[0][1])


def sqlite_cohort(timeline: QuotaTimeline, has_column: bool) -> str:
    """The row's cohort in SQLite; needs the function ``canary_bucket(notice_id)``."""
    quota = _quota_case(timeline, "((ts / 60000) * 60000)", lambda at: str(_ms(at)))
    derived = f"CASE WHEN canary_bucket(notice_id) < {quota} THEN 'canary' ELSE 'control' END"
    return f"COALESCE(cohort, {derived})" if has_column else derived


def postgres_cohort(timeline: QuotaTimeline, has_column: bool) -> str:
    """The row's cohort in PostgreSQL, from ``h`` = the row's sha256 (see :func:`postgres_hash`)."""
    quota = _quota_case(
        timeline, "date_trunc('minute', ts)", lambda at: f"'{at.isoformat()}'::timestamptz"
    )
    bucket = (
        "((get_byte(h, 0)::bigint * 16777216 + get_byte(h, 1) * 65536"
        " + get_byte(h, 2) * 256 + get_byte(h, 3)) %% 100)"  # psycopg reads one % as a placeholder
    )
    derived = f"CASE WHEN {bucket} < {quota} THEN 'canary' ELSE 'control' END"
    return f"COALESCE(cohort, {derived})" if has_column else derived


POSTGRES_HASH = (
    "sha256(convert_to(tenant, 'UTF8') || '\\x00'::bytea || convert_to(notice_id, 'UTF8')) AS h"
)
"""The dispatch bucket's hash, ``sha256(utf8(tenant + "\\0" + notice_id))``, as a column."""


def _ms(instant: dt.datetime) -> int:
    return round(instant.timestamp() * 1000)
