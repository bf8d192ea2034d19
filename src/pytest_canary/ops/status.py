"""Where each tenant stands: quota, kill switch, pending review, last decision, last GO, KPI age.

Reads only. Every file is judged on its own: a corrupt state or decision file is shown as
corrupt (one line naming the file), never as a traceback, and the other columns still show.
A tenant whose newest KPI file is more than a day older than today (Europe/Berlin) gets a
warning: the KPI engine has stopped delivering, and every decision since has held for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_canary.core import jsonfile
from pytest_canary.core.errors import UnreadableDecision
from pytest_canary.core.schedule import WEEKDAYS, Promotion
from pytest_canary.ops.rollout import load_decision
from pytest_canary.render.cells import on_off, percent
from pytest_canary.store.layout import DECISION_FILE, KPI_FILE, TenantPaths, dated_files
from pytest_canary.store.readers import load_state
from pytest_canary.store.settings import BERLIN

STALE_AFTER_DAYS = 1
"""A newest KPI file older than this many days (before today) is a warning."""


@dataclass
class TenantStatus:
    tenant: str
    quota: int | None = None
    kill_switch: bool | None = None
    pending_review: bool | None = None
    state: str = "ok"  # ok | missing (initial state) | corrupt
    state_error: str | None = None
    last_decision: str | None = None
    last_decision_date: str | None = None
    decision_error: str | None = None
    last_go_date: str | None = None
    days_since_go: int | None = None
    newest_kpi_date: str | None = None
    kpi_age_days: int | None = None
    paused_by: str | None = None
    killed_by: str | None = None  # the kill switch is on by a kill by hand (not a BACKOUT)
    frozen: str | None = None  # why no GO is applied today: a freeze window, not a promote day
    baking: str | None = None  # "k of N" green days, from the newest decision
    warnings: list[str] = field(default_factory=list)

    @property
    def controls(self) -> list[str]:
        """The operator's controls in force, each as one short phrase."""
        shown = [f"PAUSED by {self.paused_by}"] if self.paused_by else []
        if self.killed_by:
            shown.append(f"KILLED by {self.killed_by}")
        if self.frozen:
            shown.append(f"FROZEN ({self.frozen})")
        if self.baking:
            shown.append(f"BAKING {self.baking}")
        return shown

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "controls": self.controls}


def newest_kpi_date(paths: TenantPaths) -> dt.date | None:
    return max(dated_files(paths.dir, KPI_FILE), default=None)


def tenant_status(
    paths: TenantPaths, today: dt.date, steps: Sequence[int], rules: Promotion | None = None
) -> TenantStatus:
    """One tenant's status; ``steps[0]`` is the quota of a tenant without a state file."""
    status = TenantStatus(paths.tenant)
    rules = rules or Promotion()
    window = rules.window_of(today)
    if window is not None:
        status.frozen = f"freeze window {window}"
    elif today.weekday() not in rules.promote_days:
        status.frozen = f"{WEEKDAYS[today.weekday()]} is not a promote day"
    try:
        state = load_state(paths, steps)
    except jsonfile.InvalidInput as exc:
        state = None
        status.state, status.state_error = "corrupt", str(exc)
        status.warnings.append(f"state file corrupt: {exc}")
    if state is None and status.state != "corrupt":
        status.state = "missing"
        status.quota, status.kill_switch, status.pending_review = steps[0], False, False
    elif state is not None:
        status.quota, status.kill_switch = state.quota, state.kill_switch
        status.pending_review = state.kill_switch and state.review is None
        status.paused_by = state.pause.by if state.pause else None
        switched = [h for h in state.history if h.kill_switch and not h.base.kill_switch]
        if state.kill_switch and switched and switched[-1].event == "KILL":
            status.killed_by = switched[-1].by
        gos = [entry for entry in state.history if entry.is_go]
        if gos:
            went = gos[-1].at.astimezone(BERLIN).date()
            status.last_go_date = went.isoformat()
            status.days_since_go = (today - went).days
    decisions = dated_files(paths.canary_dir, DECISION_FILE)
    if decisions:  # none yet is not a problem; an unreadable newest one is
        try:
            decision = load_decision(paths.decision_json(max(decisions)))
        except UnreadableDecision as exc:
            status.decision_error = exc.problem
            status.warnings.append(f"decision file corrupt: {status.decision_error}")
        else:
            status.last_decision = decision.decision
            status.last_decision_date = decision.date.isoformat()
            bake = decision.promotion
            if bake is not None and bake.green_days < bake.min_green_days:
                status.baking = f"{bake.green_days} of {bake.min_green_days}"
    newest = newest_kpi_date(paths)
    if newest is None:
        status.warnings.append(f"no KPI file at all in {paths.dir}: is the KPI engine running?")
    else:
        status.newest_kpi_date = newest.isoformat()
        status.kpi_age_days = (today - newest).days
        if status.kpi_age_days > STALE_AFTER_DAYS:
            status.warnings.append(
                f"newest KPI file {newest.isoformat()}.json is {status.kpi_age_days} days old"
                f" (today is {today.isoformat()} in Europe/Berlin): a silent upstream failure?"
            )
    return status


def _cell(value: object, empty: str = "-") -> str:
    return empty if value is None else str(value)


def _age(date: str | None, days: int | None, form: str) -> str:
    """A dated cell with its age; a date after ``--today`` (a look back) has no age yet."""
    if days is None or days < 0:
        return f"{date} (after --today)"
    return form.format(days=days, date=date)


def table(statuses: list[TenantStatus]) -> list[str]:
    """The terminal table, one row per tenant, then one line per warning."""
    header = (
        "tenant",
        "quota",
        "kill switch",
        "review",
        "last decision",
        "last GO",
        "newest KPI",
        "controls",
    )
    rows = []
    for s in statuses:
        if s.state == "corrupt":
            quota, switch, review = "CORRUPT", "?", "?"
        else:
            quota = percent(s.quota) + (" (new)" if s.state == "missing" else "")
            switch = on_off(s.kill_switch)
            review = "PENDING" if s.pending_review else ("recorded" if s.kill_switch else "-")
        if s.decision_error is not None:
            last = "CORRUPT"
        elif s.last_decision is not None:
            last = f"{s.last_decision} {s.last_decision_date}"
        else:
            last = "none"
        go = (
            "never"
            if s.days_since_go is None
            else _age(s.last_go_date, s.days_since_go, "{days} d ago ({date})")
        )
        if s.state == "corrupt":
            go = "?"
        kpi = (
            "none"
            if s.newest_kpi_date is None
            else _age(s.newest_kpi_date, s.kpi_age_days, "{date} ({days} d)")
        )
        rows.append((s.tenant, quota, switch, review, last, go, kpi, ", ".join(s.controls) or "-"))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    for s in statuses:
        lines += [f"WARNING {s.tenant}: {w}" for w in s.warnings]
    return lines
