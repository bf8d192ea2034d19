"""Markdown and terminal text rendered from a Decision or a RolloutLog: pure, no I/O.

Everything shown comes from the model handed in and nothing else (no address exists there), so a
report never says more than the decision file itself. Text in a model may come from a file someone
edited: in Markdown it goes through ``md``/``md_code``, on the terminal through ``one_line``.
Tenants are always listed worst first (BACKOUT, HOLD, GO, then by tenant id): the first screen,
or the part of a step summary GitHub keeps, is the part someone has to act on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from pytest_canary.core.gates import is_rate_metric
from pytest_canary.core.models import QuotaState
from pytest_canary.core.records import Decision, GateResult, RolloutLog
from pytest_canary.render.cells import NONE, before_after, cell, on_off, percent, signed
from pytest_canary.render.evidence import evidence_markdown
from pytest_canary.render.text import md, md_code, one_line

TERMINAL_FULL_LIMIT = 50
"""Up to this many tenants the terminal summary shows one line each."""
TERMINAL_CAP = 50
"""Above the limit, at most this many lines of tenants that need attention."""
_MESSAGE_CAP = 300

_OPS = {"<=": "≤", ">=": "≥", "==": "="}
_VIOLATED = {"<=": ">", ">=": "<", "==": "!="}
_ACTIONS = {
    "HOLD": "change nothing",
    "BACKOUT": "kill switch on, quota back to the first step",
}


# --- small formatting helpers ----------------------------------------------------------------


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _number(value: float) -> str:
    """A count as an int, anything else in its shortest exact-enough form."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}"


def _is_rate(gate: GateResult) -> bool:
    return is_rate_metric(gate.metric)


def _value(value: float | None, *, rate: bool) -> str:
    """``3.1 % (0.031)`` for a rate, ``12`` for a count, ``—`` for no value."""
    if value is None:
        return NONE
    if rate:
        return f"{value * 100:.3g} % ({value:g})"
    return _number(value)


def _severity(decision: str) -> int:
    return {"BACKOUT": 0, "HOLD": 1}.get(decision, 2)


def _worst_first(decisions: Iterable[Decision]) -> list[Decision]:
    return sorted(decisions, key=lambda d: (_severity(d.decision), d.tenant, d.date))


def _action(decision: Decision) -> str:
    if decision.is_go:
        return "raise the quota one step, kill switch off"
    return _ACTIONS.get(decision.decision, decision.decision)


def _rollout_word(log: RolloutLog) -> str:
    """The rollout's outcome in plain text (a refusal with why): a Markdown caller escapes it."""
    if log.outcome == "refused":
        return "refused: " + ("; ".join(one_line(r) for r in log.reasons) or "no reason given")
    return log.outcome


# --- one decision -----------------------------------------------------------------------------


def _gate_row(gate: GateResult) -> str:
    rate = _is_rate(gate)
    name = f"{gate.label} ({gate.name})" if gate.label and gate.label != gate.name else gate.name
    verdict = gate.status.upper() if gate.status in ("hold", "backout", "error") else gate.status
    if gate.status == "skipped" and gate.evidence is not None:
        verdict += " (inconclusive)"  # the sample could not tell; the other gates decide
    shadow = " [shadow]" if gate.shadow else ""
    if gate.shadow:
        verdict += " (shadow, not counted)"
    threshold = NONE
    if gate.threshold is not None:
        threshold = f"{_OPS[gate.op]} {_value(gate.threshold, rate=rate)}"
    cells = [
        cell(name) + shadow,
        *map(cell, (_value(gate.value, rate=rate), threshold)),
        *map(cell, (_value(gate.backout_threshold, rate=rate), verdict, gate.source)),
    ]
    return "| " + " | ".join(cells) + " |"


def _state_lines(d: Decision) -> list[str]:
    """The decision's headline and the state it moves from and to."""
    base, target = d.base, d.target
    switch = f"{on_off(base.kill_switch)} → {on_off(target.kill_switch)}"
    if d.kill_switch_recommended:
        switch += " (recommended on)"
    lines = [
        f"## {d.tenant} — {d.decision}",
        "",
        f"**{d.decision}** for KPI date {d.date.isoformat()}: {_action(d)}.",
        "",
        f"- quota: {percent(base.quota)} → {percent(target.quota)}",
        f"- kill switch: {switch}",
    ]
    if base.review is not None:
        review = base.review
        lines.append(f"- review: by {md(review.by)} at {review.at.isoformat()}")
    if base.pause is not None:
        pause = base.pause
        lines.append(f"- paused: by {md(pause.by)} at {pause.at.isoformat()}: {md(pause.note)}")
    bake = d.promotion
    if bake is not None and (bake.min_green_days > 1 or bake.freeze_window):
        frozen = f"; freeze window {bake.freeze_window}" if bake.freeze_window else ""
        lines.append(f"- bake: green day {bake.green_days} of {bake.min_green_days}{frozen}")
    return [*lines, f"- state serial: {base.serial}"]


def _input_lines(d: Decision) -> list[str]:
    """One line per input file the decision read: whether it was there and valid, and its hash."""
    if not d.inputs:
        return []
    lines = ["", "### Inputs", ""]
    for record in d.inputs:
        state = "valid" if record.valid else "INVALID"
        if not record.present:
            state = "missing"
        text = f"- {md(record.name)}: {state}, {md_code(record.path)}"
        if record.sha256:
            text += f" (sha256 {record.sha256[:12]}…)"
        if record.error:
            text += f": {md(record.error)}"
        lines.append(text)
    return lines


def _trend_lines(trend: str | None) -> list[str]:
    if not trend or not trend.strip():
        return []
    chart = trend.strip("\n")
    if not chart.lstrip().startswith(("```", "~~~")):
        chart = f"```mermaid\n{chart}\n```"
    return ["", "### Trend", "", chart]


def decision_markdown(decision: Decision, *, trend: str | None = None) -> str:
    """The Markdown beside ``<date>_decision.json``: the decision first, then why.

    ``trend`` is an optional Mermaid chart; it is fenced as ``mermaid`` unless it already starts
    with a code fence, and it goes last.
    """
    d = decision
    lines = [*_state_lines(d), "", "### Gates", ""]
    if d.gates:
        lines += [
            "| gate | value | threshold | backout above | verdict | source |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [_gate_row(g) for g in d.gates]
    else:
        lines.append("No gate ran.")
    lines += evidence_markdown(d.gates)
    lines += ["", "### Reasons", ""]
    lines += [f"- {md(r)}" for r in d.reasons] or ["- every gate passed"]
    lines += _input_lines(d)
    lines += [
        "",
        f"- trace id: `{d.trace_id}`",
        f"- decision id: `{d.decision_id}`",
        f"- created at: {d.created_at.isoformat()}",
    ]
    lines += _trend_lines(trend)
    return "\n".join(lines) + "\n"


# --- one rollout ------------------------------------------------------------------------------


def _state_rows(before: QuotaState | None, after: QuotaState | None) -> list[tuple[str, str, str]]:
    """The rows of the before → after table; a refused rollout has neither state: dashes."""

    def row(name: str, show: Callable[[QuotaState], str]) -> tuple[str, str, str]:
        old, new = (NONE if state is None else show(state) for state in (before, after))
        return name, old, new

    return [
        row("quota", lambda state: percent(state.quota)),
        row("kill switch", lambda state: on_off(state.kill_switch)),
        row("serial", lambda state: str(state.serial)),
        row("review", lambda state: signed(state.review)),
    ]


def rollout_markdown(log: RolloutLog) -> str:
    """The Markdown beside ``<date>_rollout_log.json``: what changed, before → after, why."""
    before, after = log.before, log.after
    changed = "yes" if log.changed else "no"
    lines = [
        f"## {log.tenant} — rollout {log.outcome.upper()}",
        "",
        f"**{log.outcome}**: changed {changed}; decision `{log.decision}` "
        f"for KPI date {log.date.isoformat()}",
        "",
        *before_after(_state_rows(before, after)),
        "",
        "### Reasons",
        "",
    ]
    lines += [f"- {md(r)}" for r in log.reasons] or ["- none"]
    lines += [
        "",
        f"- trace id: `{log.trace_id}`",
        f"- decision id: `{log.decision_id}`",
        f"- at: {log.at.isoformat()}",
    ]
    return "\n".join(lines) + "\n"


# --- many tenants -----------------------------------------------------------------------------


def summary_markdown(
    decisions: list[Decision], rollouts: Mapping[str, RolloutLog] | None = None
) -> str:
    """One table for many tenants, worst first, then the details of every tenant not GO.

    A refused rollout is also shown in detail, since it fails the run like a HOLD.
    """
    rollouts = rollouts or {}
    ordered = _worst_first(decisions)
    counts = Counter(d.decision for d in ordered)
    words = sorted(counts, key=lambda w: (_severity(w), w))
    lines = ["## Canary decisions", ""]
    if not ordered:
        return "\n".join([*lines, "No tenant was decided."]) + "\n"
    lines += [
        f"{len(ordered)} tenant(s): " + ", ".join(f"{counts[w]} {w}" for w in words),
        "",
    ]
    header = ["tenant", "decision", "quota", "first reason"]
    if rollouts:
        header.insert(3, "rollout")
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for d in ordered:
        cells = [
            d.tenant,
            d.decision,
            f"{percent(d.base.quota)} → {percent(d.target.quota)}",
            d.reasons[0] if d.reasons else NONE,
        ]
        if rollouts:
            log = rollouts.get(d.tenant)
            cells.insert(3, _cap(_rollout_word(log), 200) if log else NONE)
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    details = [decision_markdown(d) for d in ordered if not d.is_go]
    details += [
        rollout_markdown(log)
        for d in ordered
        if (log := rollouts.get(d.tenant)) is not None and log.outcome == "refused"
    ]
    if details:
        lines += ["", "---", ""]
    return "\n".join(lines) + "\n" + "\n".join(details)


def _change(decision: Decision) -> str:
    """``quota 10 → 25, kill switch on → off``: what the decision's target changes (or keeps)."""
    d = decision
    text = f"quota {d.base.quota} → {d.target.quota}"
    if d.base.kill_switch != d.target.kill_switch:
        text += f", kill switch {on_off(d.base.kill_switch)} → {on_off(d.target.kill_switch)}"
    elif d.target.kill_switch:
        text += ", kill switch on"
    return text


def _terminal_line(decision: Decision, log: RolloutLog | None) -> str:
    d = decision
    if log is not None:
        text = f"{d.tenant}: {d.decision} ({_change(d)}) [{_rollout_word(log)}]"
    elif (d.base.quota, d.base.kill_switch) == (d.target.quota, d.target.kill_switch):
        switch = ", kill switch on" if d.target.kill_switch else ""
        text = f"{d.tenant}: {d.decision} (no change: quota {d.base.quota}{switch})"
    else:  # decided, not rolled out: say it as what would happen
        text = f"{d.tenant}: {d.decision} (would set {_change(d)}; nothing applied until rollout or cycle)"
    if d.reasons and not d.is_go:
        text += ": " + "; ".join(one_line(r) for r in d.reasons)
    return text


def terminal_lines(
    decisions: list[Decision], rollouts: Mapping[str, RolloutLog] | None = None
) -> list[str]:
    """The lines of the pytest terminal summary section, worst first.

    Up to ``TERMINAL_FULL_LIMIT`` tenants: one line each. Above it: the counts per decision,
    then the tenants that need attention (not GO, or a refused rollout) up to ``TERMINAL_CAP``,
    then how many more there are.
    """
    rollouts = rollouts or {}
    ordered = _worst_first(decisions)
    if len(ordered) <= TERMINAL_FULL_LIMIT:
        return [_terminal_line(d, rollouts.get(d.tenant)) for d in ordered]
    counts = Counter(d.decision for d in ordered)
    words = sorted(counts, key=lambda w: (_severity(w), w))
    lines = [f"{len(ordered)} tenants: " + ", ".join(f"{counts[w]} {w}" for w in words)]
    attention = [
        d
        for d in ordered
        if not d.is_go or getattr(rollouts.get(d.tenant), "outcome", None) == "refused"
    ]
    lines += [_terminal_line(d, rollouts.get(d.tenant)) for d in attention[:TERMINAL_CAP]]
    hidden = len(attention) - TERMINAL_CAP
    if hidden > 0:
        lines.append(f"… {hidden} more (see decision files)")
    return lines


# --- one failed gate ------------------------------------------------------------------------


def failure_line(gate: GateResult) -> str:
    """The one line a failed gate item shows (and JUnit records).

    ``HOLD: error_rate 0.031 > 0.02 (Fehlerquote; threshold from env CANARY_THRESHOLD_ERROR_RATE)``:
    ``BACKOUT:`` for a backout, ``HOLD:`` for a hold or an error (both hold the rollout); a backout
    compares the value with its backout threshold. The gate's message follows after `` — `` when it
    adds something: always for an error, a custom gate, ``inputs`` and ``kill_switch``; not for a
    judged threshold gate, whose message only restates the comparison. A shadow gate says that it
    was not counted.
    """
    prefix = {"backout": "BACKOUT", "hold": "HOLD", "error": "HOLD"}.get(
        gate.status, gate.status.upper()
    )
    limit, op = gate.threshold, gate.op
    by_backout = gate.status == "backout" and gate.backout_threshold is not None
    if by_backout:
        limit, op = gate.backout_threshold, "<="
    compared = gate.kind == "threshold" and gate.value is not None and limit is not None
    head = f"{prefix}: {gate.name}"
    details: list[str] = []
    if gate.label and gate.label != gate.name:
        details.append(one_line(gate.label))
    if compared:
        assert gate.value is not None and limit is not None
        shown = _VIOLATED[op] if gate.status in ("hold", "backout") else op
        head += f" {_number(gate.value)} {shown} {_number(limit)}"
        if by_backout and gate.threshold is not None:
            details.append(f"backout threshold; hold above {_number(gate.threshold)}")
    elif gate.kind == "threshold":
        head += " has no value" if gate.value is None else f" {_number(gate.value)}"
        if limit is not None:
            details.append(f"threshold {op} {_number(limit)}")
    if gate.source:
        where = "threshold from " if gate.kind == "threshold" else "from "
        details.append(where + one_line(gate.source))
    if gate.shadow:
        details.append("shadow gate, not counted in the decision")
    line = head + (f" ({'; '.join(details)})" if details else "")
    if compared and gate.evidence is None:
        return line
    message = one_line(gate.message).removeprefix(f"{gate.name}: ")
    return line + (f" — {_cap(message, _MESSAGE_CAP)}" if message else "")
