"""Markdown and terminal text rendered from a Decision or a RolloutLog: pure, no I/O.

Everything shown comes from the model handed in; nothing else (no address exists there, and no
other source is read), so a report can never leak more than the decision file itself.
"""

from __future__ import annotations

from pytest_canary.models import QuotaState, RolloutLog

_NONE = "—"


def _cell(text: object) -> str:
    """One Markdown table cell: pipes escaped, line breaks flattened, never empty."""
    flat = " ".join(str(text).replace("\\", "\\\\").replace("|", "\\|").split())
    return flat or _NONE


def _line(text: object) -> str:
    """One Markdown list item or paragraph line: line breaks flattened."""
    return " ".join(str(text).split()) or _NONE


def _switch(on: bool | None) -> str:
    if on is None:
        return _NONE
    return "on" if on else "off"


def _quota(quota: int | None) -> str:
    return _NONE if quota is None else f"{quota} %"


def rollout_markdown(log: RolloutLog) -> str:
    """The Markdown beside ``<date>_rollout_log.json``: what changed, before → after, why."""
    before: QuotaState | None = log.before
    after: QuotaState | None = log.after
    changed = "yes" if log.changed else "no"
    lines = [
        f"## {log.tenant} — rollout {log.outcome.upper()}",
        "",
        f"**{log.outcome}**: changed {changed}; decision `{log.decision}` "
        f"for {log.date.isoformat()}",
        "",
        "| | before | after |",
        "| --- | --- | --- |",
        "| quota | "
        f"{_quota(before.quota if before else None)} | "
        f"{_quota(after.quota if after else None)} |",
        "| kill switch | "
        f"{_switch(before.kill_switch if before else None)} | "
        f"{_switch(after.kill_switch if after else None)} |",
        f"| serial | {before.serial if before else _NONE} | {after.serial if after else _NONE} |",
        f"| review | {_review(before)} | {_review(after)} |",
        "",
        "### Reasons",
        "",
    ]
    lines += [f"- {_line(reason)}" for reason in log.reasons] or ["- none"]
    lines += [
        "",
        f"- trace id: `{log.trace_id}`",
        f"- decision id: `{log.decision_id}`",
        f"- at: {log.at.isoformat()}",
        "",
    ]
    return "\n".join(lines)


def _review(state: QuotaState | None) -> str:
    if state is None or state.review is None:
        return _NONE
    review = state.review
    return _cell(f"by {review.by} at {review.at.isoformat()}")
