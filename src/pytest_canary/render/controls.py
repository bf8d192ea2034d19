"""Markdown and terminal text of the operator's controls: a kill, pause or resume, the timeline.

Pure, like ``report.py``, and through its escaping: every text an operator typed (``--by``,
``--note``) is shown on one line and, in a table, with its pipes escaped.
"""

from __future__ import annotations

from pytest_canary.core.models import QuotaState
from pytest_canary.core.records import ControlLog
from pytest_canary.core.timeline import Timeline
from pytest_canary.render.report import _cell, _quota, _switch
from pytest_canary.render.text import inert, md, one_line

_NONE = "—"


def _pause(state: QuotaState) -> str:
    if state.pause is None:
        return "no"
    return _cell(f"by {state.pause.by} at {state.pause.at.isoformat()}")


def control_markdown(log: ControlLog) -> str:
    """The Markdown beside ``<date>_<action>_log.json``: who did what, before → after, why."""
    before, after = log.before, log.after
    rows = [
        ("quota", _quota(before.quota), _quota(after.quota)),
        ("kill switch", _switch(before.kill_switch), _switch(after.kill_switch)),
        ("paused", _pause(before), _pause(after)),
        ("serial", str(before.serial), str(after.serial)),
    ]
    lines = [
        f"## {log.tenant} — {log.action} by hand, {log.outcome.upper()}",
        "",
        f"**{log.outcome}**: changed {'yes' if log.changed else 'no'};"
        f" by {md(log.by)}: {md(log.note)}",
        "",
        "| | before | after |",
        "| --- | --- | --- |",
        *(f"| {name} | {old} | {new} |" for name, old, new in rows),
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
            f" {one_line(event.why) or _NONE}{trace}{unaudited}"
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
