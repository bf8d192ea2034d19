"""When a GO may raise the quota, as data: the ``[canary]`` keys ``freeze``, ``promote_days``,
``min_green_days`` and ``stale_after_hours`` of a gate file, each value with its source.

Validated here, from the values the gate file's reader parsed; the engine only reads the result. A tenant table
``[tenants.<id>.canary]`` replaces a key for one tenant (a ``freeze`` list is replaced, not
extended: the tenant's list is the whole list).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pytest_canary.core.errors import CanaryUsageError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_STALE_HOURS = 30.0
MAX_GREEN_DAYS = 366
_BUILTIN = "built-in"


@dataclass(frozen=True)
class FreezeWindow:
    """Days (both ends included) on which no GO raises the quota."""

    start: dt.date
    end: dt.date
    source: str

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end

    def __str__(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}..{self.end}"


@dataclass(frozen=True)
class Promotion:
    """The promotion rules of one tenant; the defaults are the rules without a gate file."""

    freeze: tuple[FreezeWindow, ...] = ()
    promote_days: tuple[int, ...] = tuple(range(7))
    promote_days_source: str = _BUILTIN
    min_green_days: int = 1
    min_green_days_source: str = _BUILTIN
    stale_after_hours: float = DEFAULT_STALE_HOURS
    stale_source: str = _BUILTIN

    def merge(self, values: Mapping[str, Any], source: str) -> Promotion:
        """These rules with the keys of one ``[canary]`` table (from ``source``) over them."""
        merged = self
        if "freeze" in values:
            windows = tuple(_window(item, source) for item in values["freeze"])
            merged = replace(merged, freeze=windows)
        if "promote_days" in values:
            days = _weekdays(values["promote_days"], source)
            merged = replace(merged, promote_days=days, promote_days_source=source)
        if "min_green_days" in values:
            count = values["min_green_days"]
            if not 1 <= count <= MAX_GREEN_DAYS:
                raise CanaryUsageError(
                    f"{source}: canary.min_green_days must be a whole number of days in"
                    f" 1..{MAX_GREEN_DAYS}, got {count}"
                )
            merged = replace(merged, min_green_days=count, min_green_days_source=source)
        if "stale_after_hours" in values:
            hours = values["stale_after_hours"]
            if not (math.isfinite(hours) and 0 < hours <= 24 * MAX_GREEN_DAYS):
                raise CanaryUsageError(
                    f"{source}: canary.stale_after_hours must be a number of hours in"
                    f" (0, {24 * MAX_GREEN_DAYS}], got {hours:g}"
                )
            merged = replace(merged, stale_after_hours=float(hours), stale_source=source)
        return merged

    def window_of(self, day: dt.date) -> FreezeWindow | None:
        return next((window for window in self.freeze if day in window), None)

    def day_names(self) -> str:
        return ", ".join(WEEKDAYS[day] for day in self.promote_days)

    def identity(self) -> dict[str, Any]:
        """What of these rules enters a decision's id (values, not sources)."""
        return {
            "freeze": [str(window) for window in self.freeze],
            "promote_days": [WEEKDAYS[day] for day in self.promote_days],
            "min_green_days": self.min_green_days,
            "stale_after_hours": self.stale_after_hours,
        }


def _day(text: str, source: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CanaryUsageError(
            f"{source}: canary.freeze: {text!r} is not a day; give YYYY-MM-DD or"
            " YYYY-MM-DD..YYYY-MM-DD"
        ) from None


def _window(item: str | dt.date, source: str) -> FreezeWindow:
    if isinstance(item, dt.date):  # a TOML date (a TOML date-time is refused by the table)
        return FreezeWindow(item, item, source)
    start_text, _, end_text = item.strip().partition("..")
    start = _day(start_text.strip(), source)
    end = _day(end_text.strip(), source) if end_text else start
    if end < start:
        raise CanaryUsageError(f"{source}: canary.freeze: {item!r} ends before it starts")
    return FreezeWindow(start, end, source)


def _weekdays(names: list[str], source: str) -> tuple[int, ...]:
    days = []
    for name in names:
        if name.lower() not in WEEKDAYS:
            raise CanaryUsageError(
                f"{source}: canary.promote_days: {name!r} is not a weekday; use {', '.join(WEEKDAYS)}"
            )
        days.append(WEEKDAYS.index(name.lower()))
    if not days:
        raise CanaryUsageError(
            f"{source}: canary.promote_days is empty: no GO could ever be applied;"
            " remove the key to allow every day"
        )
    return tuple(sorted(set(days)))
