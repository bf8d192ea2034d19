"""Markdown and terminal text of the operator's controls: a kill, pause or resume, the timeline.

Pure, like ``report.py``, and through its escaping: every text an operator typed (``--by``,
``--note``) is shown on one line and, in a table, with its pipes escaped.
"""

from __future__ import annotations

from pytest_canary.core.records import ControlLog
from pytest_canary.core.timeline import Timeline
from pytest_canary.render.cells import NONE, before_after, on_off, percent, signed
from pytest_canary.render.text import inert, md, one_line


def control_markdown(log: ControlLog) -> str:
    """The Markdown beside ``<date>_<action>_log.json``: who did what, before → after, why."""
    before, after = log.before, log.after
    rows = [
        ("quota", percent(before.quota), percent(after.quota)),
        ("kill switch", on_off(before.kill_switch), on_off(after.kill_switch)),
        ("paused", signed(before.pause, "no"), signed(after.pause, "no")),
        ("serial", str(before.serial), str(after.serial)),
    ]
    lines = [
        f"## {log.tenant} — {log.action} by hand, {log.outcome.upper()}",
        "",
        f"**{log.outcome}**: changed {'yes' if log.changed else 'no'};"
        f" by {md(log.by)}: {md(log.note)}",
        "",
        *before_after(rows),
        "",
        "### Reasons",
        "",
        *(f"- {md(reason)}" for reason in log.reasons),
        "",
        f"- trace id: `{log.trace_id}`",
        f"- at: {log.at.isoformat()}",
    ]
    return "\n".join(lines) + "\n"


def history_lines(timeline: Timeline) -> list[str]:
    """``canary history``: one line per change, oldest first, then the consistency line."""
    lines = []
    for event in timeline.events:
        switch = "kill switch on" if event.kill_switch else "kill switch off"
        who = f" by {one_line(event.by)}" if event.by else ""
        trace = f" trace {event.trace_id}" if event.trace_id else ""
        unaudited = "" if event.audited else " [no audit line]"
        lines.append(
            f"{event.at}  serial {event.serial}  {event.event}{who}:"
            f" quota {event.from_quota} % → {event.to_quota} %, {switch};"
            f" {one_line(event.why) or NONE}{trace}{unaudited}"
        )
    if not timeline.events:
        lines.append(f"{timeline.tenant}: no change recorded yet")
    if timeline.consistent:
        count = len(timeline.events)
        lines.append(
            f"{timeline.tenant}: state consistent with its history ({count} entr"
            f"{'y' if count == 1 else 'ies'}, serials rising by one, the last one matches)"
        )
    else:
        lines.append(
            f"{timeline.tenant}: state NOT consistent with its history: "
            + "; ".join(one_line(problem) for problem in timeline.problems)
        )
    return [inert(line) for line in lines]
