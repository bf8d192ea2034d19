"""Recording what a rollout or an operator's control did: its log (JSON and Markdown), then its
audit line. Both are written after the state, the commit point, so a run killed in between leaves
a state whose newest entry the next writer can see is unrecorded."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_canary.core import jsonfile
from pytest_canary.core.models import QuotaState
from pytest_canary.core.records import ControlLog, RolloutLog
from pytest_canary.store.atomic import sweep_temps, write_atomic
from pytest_canary.store.audit import append_audit
from pytest_canary.store.files import read_raw
from pytest_canary.store.layout import TenantPaths

ActionLog = RolloutLog | ControlLog


def brief(state: QuotaState | None) -> dict[str, Any] | None:
    """A snapshot as an audit line gives it: quota, kill switch and serial."""
    if state is None:
        return None
    return {"quota": state.quota, "kill_switch": state.kill_switch, "serial": state.serial}


def record_action(
    paths: TenantPaths,
    log: ActionLog,
    markdown: Callable[[], str],
    fields: Mapping[str, Any],
) -> None:
    """Write ``log`` and its Markdown atomically, then append its audit line (``ROLLOUT``, or the
    control's ``KILL``, ``PAUSE``, ``RESUME``).

    The line has the log's date, trace id, outcome, before, after and first reason, and
    ``fields`` besides. A log that changed nothing does not replace one recording an applied
    change: the day's rollout (or control) that did the change stays what its files show.
    Raises ``OSError`` when a file or the line cannot be written; the caller says what that left.
    """
    event: str
    if isinstance(log, ControlLog):
        json_path = paths.control_json(log.date, log.action)
        md_path = paths.control_md(log.date, log.action)
        event, label = log.action, "controllog"
    else:
        json_path, md_path = paths.rollout_json(log.date), paths.rollout_md(log.date)
        event, label = "ROLLOUT", "rolloutlog"
    if log.changed or not _records_applied(json_path, type(log)):
        for target in (json_path, md_path):
            sweep_temps(target)
        write_atomic(json_path, jsonfile.model_bytes(log), label=label)
        write_atomic(md_path, markdown().encode(), label=f"{label}-md")
    line: dict[str, Any] = {
        "date": log.date.isoformat(),
        "trace_id": log.trace_id,
        "changed": log.changed,
        "outcome": log.outcome,
        "before": brief(log.before),
        "after": brief(log.after),
        "reason": log.reasons[0],
        **fields,
    }
    append_audit(paths, event, line, log.at)


def _records_applied(path: Path, model: type[ActionLog]) -> bool:
    """Whether the log at ``path`` records an applied change (which "unchanged" never replaces)."""
    try:
        existing = model.model_validate_json(read_raw(path))
    except (OSError, ValueError):
        return False  # missing or unreadable: it is replaced
    return existing.outcome == "applied"
