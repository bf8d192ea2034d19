"""How a state's values read in Markdown and terminal text: a quota, a kill switch, who and
when, a table cell, and the before → after table of a rollout or an operator's control."""

from __future__ import annotations

from collections.abc import Iterable

from pytest_canary.core.models import Review
from pytest_canary.render.text import md

NONE = "—"
"""What an empty cell or a missing value shows."""


def cell(text: object) -> str:
    """One Markdown table cell: escaped outside text (pipes included), never empty."""
    return md(text) or NONE


def percent(quota: int | None) -> str:
    """``25 %``; the dash for no quota (a refused rollout has no state)."""
    return NONE if quota is None else f"{quota} %"


def on_off(on: bool | None) -> str:
    """A kill switch: ``on``, ``off``, or the dash for no state."""
    if on is None:
        return NONE
    return "on" if on else "off"


def signed(record: Review | None, absent: str = NONE) -> str:
    """A review or a pause as a cell: ``by <who> at <time>``, else ``absent``."""
    if record is None:
        return absent
    return cell(f"by {record.by} at {record.at.isoformat()}")


def before_after(rows: Iterable[tuple[str, str, str]]) -> list[str]:
    """The Markdown table of a state before and after: one row per (name, before, after)."""
    return [
        "| | before | after |",
        "| --- | --- | --- |",
        *(f"| {name} | {old} | {new} |" for name, old, new in rows),
    ]
