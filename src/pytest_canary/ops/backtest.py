"""Decide past KPI dates again with other gates, and compare with the decisions recorded then.

Reads only: nothing is written under the root (no decision, no audit line, no state). Freeze
windows, promote days and the bake time of the gates tried apply as they would have: the bake
counts the days decided again, and the decisions recorded before the first date. Each past
date is judged against the base state its recorded decision was judged against (``base``), so a
day differs only because the gates differ; a date without a recorded decision is judged against
the current state and counted, not compared. The blocklist is today's file (entries added on
that date count, as they did then). Custom gates (pytest functions) are not run: their verdicts
recorded then are carried over, so a day a custom gate held stays held.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pytest_canary.core import engine
from pytest_canary.core.case import Case
from pytest_canary.core.errors import RolloutRefused
from pytest_canary.core.models import OperateState
from pytest_canary.core.readings import StateReading
from pytest_canary.core.records import Decision, GateResult
from pytest_canary.ops.rollout import load_decision
from pytest_canary.render.text import md
from pytest_canary.store.gates import GateConfig
from pytest_canary.store.layout import DECISION_FILE, KPI_FILE, TenantPaths, dated_files
from pytest_canary.store.readers import read_blocklist, read_kpis, read_recorded, read_state

CUSTOM_GATES_NOTE = (
    "Custom gates (pytest functions) are not run by the backtest: each day keeps the verdicts"
    " they recorded then."
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NO_TRACE = "0" * 32


@dataclass(frozen=True)
class DayResult:
    tenant: str
    date: dt.date
    recorded: str | None  # None: no decision recorded that day (or unreadable: see problem)
    now: str
    why: str
    problem: str | None = None

    @property
    def changed(self) -> bool:
        return self.recorded is not None and self.recorded != self.now


def _dates(folder: Path, pattern: re.Pattern[str], since: dt.date, until: dt.date) -> set[dt.date]:
    return {day for day in dated_files(folder, pattern) if since <= day <= until}


def _base_state(tenant: str, recorded: Decision) -> StateReading:
    base = recorded.base
    state = OperateState(
        tenant=tenant,
        quota=base.quota,
        kill_switch=base.kill_switch,
        serial=base.serial,
        review=base.review,
        pause=base.pause,
    )
    return StateReading(
        path=f"base of the decision recorded for {recorded.date}",
        present=True,
        sha256=None,
        state=state,
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}"


def explain(old: Decision, new: Decision) -> str:
    """The gates whose verdict changed, with value and threshold then and now."""
    before = {g.name: g for g in old.gates}
    parts = []
    for gate in new.gates:
        was = before.get(gate.name)
        if was is None:
            parts.append(f"{gate.name}: new gate, {gate.status}")
            continue
        if was.status == gate.status:
            continue
        text = f"{gate.name} {_fmt(gate.value)}: {was.status} → {gate.status}"
        if gate.threshold != was.threshold:
            text += f" ({gate.op} {_fmt(was.threshold)} → {_fmt(gate.threshold)})"
        parts.append(text)
    names = {g.name for g in new.gates}
    parts += [
        f"{name}: gate removed (was {before[name].status})" for name in before if name not in names
    ]
    return "; ".join(parts) or "same gate verdicts"


def backtest_tenant(
    paths: TenantPaths,
    config: GateConfig,
    since: dt.date,
    until: dt.date,
    environ: Mapping[str, str] = os.environ,
) -> list[DayResult]:
    """Every KPI (or decision) date of one tenant in ``[since, until]``, decided again."""
    tenant = paths.tenant
    gates = config.for_tenant(tenant, environ)
    days = _dates(paths.dir, KPI_FILE, since, until) | _dates(
        paths.canary_dir, DECISION_FILE, since, until
    )
    current_state: StateReading | None = None
    results = []
    # The bake time counts the days decided again here, and the recorded ones before the range.
    need = gates.promotion.min_green_days - 1
    decided = read_recorded(paths, since, need) if need else {}
    for day in sorted(days):
        recorded: Decision | None = None
        problem = None
        decision_path = paths.decision_json(day)
        if decision_path.is_file():
            try:
                recorded = load_decision(paths.check(decision_path))
            except RolloutRefused as exc:
                problem = str(exc).removesuffix("; nothing was written")
        if recorded is not None:
            state = _base_state(tenant, recorded)
            custom: list[GateResult] = [g for g in recorded.gates if g.kind == "custom"]
        else:
            if current_state is None:
                current_state = read_state(paths.state, tenant, gates.steps)
            state, custom = current_state, []
        case = Case(
            tenant=tenant,
            date=day,
            kpis=read_kpis(paths.kpi(day), tenant, day),
            blocklist=read_blocklist(paths.blocklist, day),
            state=state,
            gates=gates,
            trace_id=recorded.trace_id if recorded else _NO_TRACE,
            created_at=recorded.created_at if recorded else _EPOCH,
            recorded=decided,
        )
        again = engine.decide(case, custom)
        decided[day] = again
        if recorded is None:
            why = problem or "no decision recorded that day"
        elif recorded.decision == again.decision:
            why = "unchanged"
        else:
            why = explain(recorded, again)
        results.append(
            DayResult(
                tenant, day, recorded.decision if recorded else None, again.decision, why, problem
            )
        )
    return results


def markdown(results: list[DayResult], gates_label: str, since: dt.date, until: dt.date) -> str:
    """The report: a table of the days that would change, then the counts."""
    changed = [r for r in results if r.changed]
    unrecorded = [r for r in results if r.recorded is None]
    tenants = len({r.tenant for r in results})
    lines = [
        f"## Backtest of {md(gates_label)}, {since.isoformat()} to {until.isoformat()}",
        "",
        CUSTOM_GATES_NOTE,
        "",
    ]
    if changed:
        lines += [
            "| tenant | KPI date | recorded | with these gates | why |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r.tenant} | {r.date.isoformat()} | {r.recorded} | {r.now} | {md(r.why)} |"
            for r in changed
        ]
    else:
        lines.append("No recorded decision would change.")
    lines += [
        "",
        f"{len(results)} day(s) of {tenants} tenant(s) decided again: {len(changed)} would change,"
        f" {len(results) - len(changed) - len(unrecorded)} unchanged,"
        f" {len(unrecorded)} without a readable recorded decision (not compared).",
    ]
    lines += [
        f"- {r.tenant} {r.date.isoformat()}: {md(r.problem)}" for r in unrecorded if r.problem
    ]
    return "\n".join(lines) + "\n"
