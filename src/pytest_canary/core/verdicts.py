"""Each gate's verdict for one tenant: the ``inputs`` and ``kill_switch`` items, every threshold
gate (judged again by its kind when it has one) and the gates that never ran. Pure functions.
"""

from __future__ import annotations

from typing import Any

from pytest_canary.core import kinds
from pytest_canary.core.case import Case, Stat, base_of, hard_bounces
from pytest_canary.core.gates import VOLUME_GATE, GateSpec
from pytest_canary.core.models import COHORTS, GateStatus
from pytest_canary.core.promotion import promotion_of, stale_problem
from pytest_canary.core.records import GateResult

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


def fmt_number(value: float | None) -> str:
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
            spec, factor, "error", None, f"{spec.name}: not judged: no usable KPI file (see inputs)"
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
                f"{spec.name}: contradiction: hard_bounces {fmt_number(numerator)}"
                f" > notices_sent {fmt_number(denominator)}",
            )
        value = numerator / denominator
    shown = f"{spec.name} {fmt_number(value)}"
    if spec.op == "<=":
        if value <= spec.threshold:
            return _result(spec, factor, "pass", value, f"{shown} <= {fmt_number(spec.threshold)}")
        backout = spec.backout_threshold(factor)
        if backout is not None and value > backout:
            return _result(
                spec, factor, "backout", value, f"{shown} > {fmt_number(backout)} (backout)"
            )
        return _result(spec, factor, "hold", value, f"{shown} > {fmt_number(spec.threshold)}")
    if value >= spec.threshold:
        return _result(spec, factor, "pass", value, f"{shown} >= {fmt_number(spec.threshold)}")
    return _result(spec, factor, "hold", value, f"{shown} < {fmt_number(spec.threshold)}")


def input_problems(case: Case) -> list[str]:
    problems = case.kpis.problems()
    model = case.kpis.model
    generated = model.generated_at if model is not None else None
    stale = stale_problem(generated, case.gates.promotion, case.date, case.created_at)
    if stale is not None:
        problems.append(f"{case.kpis.path}: {stale}")
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
    """The built-in items of one tenant: ``inputs``, ``kill_switch``, ``promotion``, thresholds."""
    inputs = inputs_gate(case)
    thresholds = [evaluate_gate(case, s) for s in case.gates.gates]
    gate, _ = promotion_of(case, [inputs, *thresholds])
    return [inputs, kill_switch_gate(case), gate, *thresholds]


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
