"""The decision: pure functions, data in, ``Decision`` out. No pytest, no I/O, no clock.

The order of the rules is the contract (docs/contract.md, Deciding): any backout gate backs out (the safe direction
wins even over invalid input); then invalid input, a held gate or an unreviewed kill switch holds;
only then does the quota go up one step.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from pytest_canary.core import kinds
from pytest_canary.core.gates import VOLUME_GATE, GateSet, GateSpec
from pytest_canary.core.jsonfile import canonical_json
from pytest_canary.core.models import (
    COHORTS,
    BaseState,
    Decision,
    DecisionBase,
    GateResult,
    GateStatus,
    HistoryEntry,
    InputRecord,
    Review,
    Target,
    Threshold,
)
from pytest_canary.core.readings import BlocklistReading, KpiReading, StateReading
from pytest_canary.core.stats import Counts

Stat = Counts | str

SEVERITY_ORDER: dict[GateStatus, int] = {
    "backout": 0,
    "error": 1,
    "hold": 2,
    "skipped": 3,
    "pass": 4,
}
VERDICT_WORD: dict[GateStatus, str] = {
    "pass": "PASS",
    "hold": "HOLD",
    "error": "HOLD",
    "backout": "BACKOUT",
    "skipped": "SKIPPED",
}


@dataclass(frozen=True)
class Case:
    """Everything one tenant's decision is made from."""

    tenant: str
    date: dt.date
    kpis: KpiReading
    blocklist: BlocklistReading
    state: StateReading
    gates: GateSet
    trace_id: str
    created_at: dt.datetime

    @property
    def inputs_valid(self) -> bool:
        return self.kpis.valid and self.blocklist.valid and self.state.valid


@dataclass(frozen=True)
class Base:
    """The state a decision is judged against (docs/contract.md: one step per KPI date)."""

    quota: int
    kill_switch: bool
    serial: int
    review: Review | None
    replayed_from: HistoryEntry | None = None


def base_of(case: Case) -> Base:
    first = case.gates.steps[0]
    state = case.state.state
    if state is None:
        return Base(first, False, 0, None)
    rollouts = [entry for entry in state.history if entry.event == "ROLLOUT"]
    last = rollouts[-1] if rollouts else None
    if last is not None and last.kpi_date == case.date and last.is_go:
        # This date's GO was applied already: judge against the state before it, so that the
        # same evidence yields the same decision (and id) instead of a second step up.
        before: BaseState = last.base
        return Base(before.quota, before.kill_switch, last.serial - 1, before.review, last)
    return Base(state.quota, state.kill_switch, state.serial, state.review)


def hard_bounces(case: Case) -> float | None:
    """The reconciled hard-bounce count: the larger of the KPI's and the blocklist's."""
    kpi = (
        case.kpis.values.get("hard_bounces")
        if "hard_bounces" not in case.kpis.field_errors
        else None
    )
    summary = case.blocklist.summary
    listed = summary.hard_bounces_on_date if summary is not None else None
    if kpi is None:
        return None
    return max(kpi, listed) if listed is not None else kpi


def _field(case: Case, name: str) -> tuple[float | None, str | None]:
    """A KPI field's value, or why it has none."""
    if case.kpis.file_error is not None:
        return None, case.kpis.file_error
    if name in case.kpis.field_errors:
        return None, f"{case.kpis.path}: field {name}: {case.kpis.field_errors[name]}"
    if name == "hard_bounces":
        return hard_bounces(case), None
    if name in case.kpis.unusable:
        return None, f"{case.kpis.path}: field {name}: {case.kpis.unusable[name]}"
    if name not in case.kpis.values:
        return None, f"{case.kpis.path}: field {name} missing"
    return case.kpis.values[name], None


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if not float(value).is_integer() else f"{int(value)}"


def _result(
    spec: GateSpec, factor: float, status: GateStatus, value: float | None, message: str
) -> GateResult:
    return GateResult(
        name=spec.name,
        label=spec.label,
        metric=str(spec.metric),
        value=value,
        op=spec.op,
        threshold=spec.threshold,
        backout_threshold=spec.backout_threshold(factor),
        status=status,
        message=message,
        source=spec.source,
        shadow=spec.shadow,
    )


def _low_volume(case: Case) -> bool:
    volume = case.gates.get(VOLUME_GATE)
    if volume is None:
        return False
    sent, _ = _field(case, str(volume.metric))
    return sent is not None and sent < volume.threshold


def evaluate_gate(case: Case, spec: GateSpec) -> GateResult:
    """One gate's verdict for one tenant: the plain threshold verdict, judged again by the
    gate's kind when it has one (core/kinds)."""
    plain = _threshold_gate(case, spec)
    if spec.kind is None:
        return plain
    inputs = kinds.GateInputs(plain, metric_counts(case, spec), case.gates.backout_factor)
    return kinds.KINDS[spec.kind.kind].evaluate(spec, spec.kind, inputs)


def metric_counts(case: Case, spec: GateSpec) -> dict[str, Stat]:
    """The gate's metric as counts, tenant-wide (bounces reconciled) and per cohort."""
    if case.kpis.file_error is not None:
        return {}
    values: dict[str, Any] = dict(case.kpis.values)
    values["hard_bounces"] = hard_bounces(case)
    counts: dict[str, Stat] = {kinds.TENANT: kinds.rate_counts(values, spec.metric)}
    cohorts = case.kpis.cohorts
    if cohorts is not None:
        for name in COHORTS:
            figures = getattr(cohorts, name).model_dump()
            counts[name] = kinds.rate_counts(figures, spec.metric)
    return counts


def _threshold_gate(case: Case, spec: GateSpec) -> GateResult:
    """One gate's verdict as a plain threshold gate on the tenant-wide figure."""
    factor = case.gates.backout_factor
    if case.kpis.file_error is not None:
        return _result(
            spec, factor, "error", None, f"{spec.name}: not judged: {case.kpis.file_error}"
        )
    if spec.needs_volume and _low_volume(case):
        return _result(
            spec, factor, "skipped", None, f"{spec.name}: skipped, volume below {VOLUME_GATE}"
        )
    values = []
    for name in spec.metric.fields:
        value, why = _field(case, name)
        if why is not None:
            return _result(spec, factor, "error", None, f"{spec.name}: cannot compute: {why}")
        values.append(value)
    numerator = values[0]
    assert numerator is not None
    if spec.metric.denominator is None:
        value = numerator
    else:
        denominator = values[1]
        assert denominator is not None
        if denominator == 0:
            return _result(
                spec,
                factor,
                "error",
                None,
                f"{spec.name}: cannot compute: {spec.metric.denominator} is 0",
            )
        if spec.metric.fields == ("hard_bounces", "notices_sent") and numerator > denominator:
            return _result(
                spec,
                factor,
                "error",
                None,
                f"{spec.name}: contradiction: hard_bounces {_fmt(numerator)} > notices_sent {_fmt(denominator)}",
            )
        value = numerator / denominator
    shown = f"{spec.name} {_fmt(value)}"
    if spec.op == "<=":
        if value <= spec.threshold:
            return _result(spec, factor, "pass", value, f"{shown} <= {_fmt(spec.threshold)}")
        backout = spec.backout_threshold(factor)
        if backout is not None and value > backout:
            return _result(spec, factor, "backout", value, f"{shown} > {_fmt(backout)} (backout)")
        return _result(spec, factor, "hold", value, f"{shown} > {_fmt(spec.threshold)}")
    if value >= spec.threshold:
        return _result(spec, factor, "pass", value, f"{shown} >= {_fmt(spec.threshold)}")
    return _result(spec, factor, "hold", value, f"{shown} < {_fmt(spec.threshold)}")


def input_problems(case: Case) -> list[str]:
    problems = case.kpis.problems()
    if case.blocklist.error is not None:
        problems.append(case.blocklist.error)
    if case.state.error is not None:
        problems.append(case.state.error)
    return problems


def inputs_gate(case: Case) -> GateResult:
    problems = input_problems(case)
    return GateResult(
        name="inputs",
        label="Eingaben",
        kind="inputs",
        metric="kpis, blocklist, state",
        value=float(len(problems)),
        op="==",
        threshold=0.0,
        status="hold" if problems else "pass",
        message="; ".join(problems) if problems else "KPI file, blocklist and state are valid",
        source=case.kpis.path,
    )


def kill_switch_gate(case: Case) -> GateResult:
    base = base_of(case)
    blocked = base.kill_switch and base.review is None
    if not base.kill_switch:
        message = "kill switch off"
    elif blocked:
        message = "kill switch on and no review recorded since: run `canary review`"
    else:
        message = f"kill switch on, review recorded by {base.review.by if base.review else '?'}"
    return GateResult(
        name="kill_switch",
        label="Kill-Switch",
        kind="kill_switch",
        metric="kill_switch",
        value=1.0 if base.kill_switch else 0.0,
        op="==",
        threshold=0.0,
        status="hold" if blocked else "pass",
        message=message,
        source=case.state.path,
    )


def evaluate_gates(case: Case) -> list[GateResult]:
    """The built-in items of one tenant: ``inputs``, ``kill_switch`` and every threshold gate."""
    return [
        inputs_gate(case),
        kill_switch_gate(case),
        *(evaluate_gate(case, s) for s in case.gates.gates),
    ]


def not_run(name: str, kind: str = "custom") -> GateResult:
    """A gate that should have reported and did not (deselected, interrupted, crashed worker)."""
    return GateResult(
        name=name,
        label=name,
        kind="custom" if kind == "custom" else "threshold",
        metric=name,
        value=None,
        op="==",
        threshold=None,
        status="error",
        message=f"{name}: did not run, so it cannot pass",
        source="pytest",
    )


def _reasons(case: Case, base: Base, counted: Iterable[GateResult]) -> list[str]:
    reasons = []
    for gate in sorted(counted, key=lambda g: SEVERITY_ORDER[g.status]):
        if gate.status in ("backout", "hold", "error") and gate.kind != "inputs":
            reasons.append(f"{VERDICT_WORD[gate.status]}: {gate.message} ({gate.source})")
    reasons.extend(f"input invalid: {problem}" for problem in input_problems(case))
    if case.state.valid and not case.state.present:
        reasons.append(
            f"no state file yet ({case.state.path}): starting at {case.gates.steps[0]} %"
        )
    state = case.state.state
    if state is not None and not state.history:
        # Nothing to check it against: a state written by hand (or a migration) starts the record.
        switch = "on" if state.kill_switch else "off"
        reasons.append(
            f"{case.state.path} has no history yet: taken as written (quota {state.quota} %,"
            f" kill switch {switch}, serial {state.serial})"
        )
    kpi_count = case.kpis.values.get("hard_bounces")
    summary = case.blocklist.summary
    if summary is not None and kpi_count is not None and summary.hard_bounces_on_date > kpi_count:
        reasons.append(
            f"blocklist lists {summary.hard_bounces_on_date} hard bounces on {case.date}, "
            f"more than the KPI's {_fmt(kpi_count)}: the larger count is used"
        )
    if base.replayed_from is not None:
        reasons.append(
            f"{base.replayed_from.decision} for {case.date} was applied already (serial "
            f"{base.replayed_from.serial}): judged against the state before it"
        )
    return reasons


def _next_step(steps: tuple[int, ...], quota: int) -> int:
    higher = [step for step in steps if step > quota]
    return higher[0] if higher else steps[-1]


def _threshold_identity(case: Case, spec: GateSpec) -> list[Any]:
    identity: list[Any] = [
        spec.op,
        spec.threshold,
        spec.backout_threshold(case.gates.backout_factor),
    ]
    # A gate kind's parameters decide too; plain gates keep the identity they always had.
    return identity if spec.kind is None else [*identity, spec.kind.identity()]


def decision_id(case: Case, base: Base, gates: list[GateResult]) -> str:
    # The KPI contents when valid, else the raw file's sha256 (docs/contract.md, Deciding).
    kpis: Any = case.kpis.contents if case.kpis.valid else {"sha256": case.kpis.sha256}
    identity = {
        "tenant": case.tenant,
        "date": case.date.isoformat(),
        "kpis": kpis,
        "blocklist": {"hard_bounces": hard_bounces(case), "valid": case.blocklist.valid},
        "base": {
            "quota": base.quota,
            "kill_switch": base.kill_switch,
            "review": base.review.model_dump(mode="json") if base.review else None,
        },
        "thresholds": {spec.name: _threshold_identity(case, spec) for spec in case.gates.gates},
        "gates": {gate.name: [gate.status, gate.shadow] for gate in gates},
    }
    return hashlib.sha256(canonical_json(identity)).hexdigest()


def _input_records(case: Case) -> list[InputRecord]:
    return [
        InputRecord(
            name="kpis",
            path=case.kpis.path,
            sha256=case.kpis.sha256,
            valid=case.kpis.valid,
            present=case.kpis.present,
            error=case.kpis.problems()[0] if not case.kpis.valid else None,
        ),
        InputRecord(
            name="blocklist",
            path=case.blocklist.path,
            sha256=case.blocklist.sha256,
            valid=case.blocklist.valid,
            present=case.blocklist.present,
            error=case.blocklist.error,
        ),
        InputRecord(
            name="state",
            path=case.state.path,
            sha256=case.state.sha256,
            valid=case.state.valid,
            present=case.state.present,
            error=case.state.error,
        ),
    ]


def decide(
    case: Case, extra: Collection[GateResult] = (), missing: Collection[str] = ()
) -> Decision:
    """Decide one tenant from its built-in gates, its custom gates (``extra``) and what never ran."""
    gates = [not_run(g.name, g.kind) if g.name in missing else g for g in evaluate_gates(case)]
    gates.extend(not_run(g.name) if g.name in missing else g for g in extra)
    names = {g.name for g in gates}
    gates.extend(not_run(name) for name in sorted(set(missing) - names))
    counted = [g for g in gates if not g.shadow]
    statuses = {g.status for g in counted}
    base = base_of(case)
    steps = case.gates.steps
    judged = any(g.status == "pass" and g.kind in ("threshold", "custom") for g in counted)
    if "backout" in statuses:
        verdict, target = "BACKOUT", Target(quota=steps[0], kill_switch=True)
    elif statuses & {"hold", "error"} or not case.inputs_valid or not judged:
        verdict, target = "HOLD", Target(quota=base.quota, kill_switch=base.kill_switch)
    else:
        step = _next_step(steps, base.quota)
        verdict, target = f"GO_{step}", Target(quota=step, kill_switch=False)
    reasons = _reasons(case, base, counted)
    only_no_evidence = not statuses & {"hold", "error"} and case.inputs_valid
    if verdict == "HOLD" and not judged and (only_no_evidence or not reasons):
        reasons.append("no gate was judged: a rollout never goes up on no evidence")
    return Decision(
        tenant=case.tenant,
        date=case.date,
        decision=verdict,
        decision_id=decision_id(case, base, gates),
        trace_id=case.trace_id,
        created_at=case.created_at,
        steps=list(steps),
        base=DecisionBase(
            quota=base.quota, kill_switch=base.kill_switch, serial=base.serial, review=base.review
        ),
        target=target,
        kill_switch_recommended=verdict == "BACKOUT",
        reasons=reasons,
        gates=gates,
        thresholds={
            spec.name: Threshold(
                value=spec.threshold,
                source=spec.source,
                backout=spec.backout_threshold(case.gates.backout_factor),
                backout_source=spec.backout_source
                or (case.gates.backout_factor_source if spec.op == "<=" else None),
            )
            for spec in case.gates.gates
        },
        inputs=_input_records(case),
    )
