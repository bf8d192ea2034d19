"""The decision: pure functions, data in, ``Decision`` out. No pytest, no I/O, no clock.

The order of the rules is the contract (docs/contract.md, Deciding): any backout gate backs out (the safe direction
wins even over invalid input); then invalid input, a held gate or an unreviewed kill switch holds;
only then does the quota go up one step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from typing import Any

from pytest_canary.core.case import Case, base_of, hard_bounces, replayed_go
from pytest_canary.core.gates import GateSpec
from pytest_canary.core.jsonfile import canonical_json
from pytest_canary.core.models import QuotaState
from pytest_canary.core.promotion import promotion_of
from pytest_canary.core.records import (
    Decision,
    GateResult,
    InputRecord,
    Target,
    Threshold,
)
from pytest_canary.core.verdicts import (
    SEVERITY_ORDER,
    VERDICT_WORD,
    evaluate_gates,
    fmt_number,
    input_problems,
    not_run,
)


def _reasons(case: Case, counted: Iterable[GateResult]) -> list[str]:
    reasons = []
    # Without a usable KPI file every threshold gate is an error for that one cause, which the
    # "input invalid" reason below says once.
    unjudged = case.kpis.file_error is not None
    for gate in sorted(counted, key=lambda g: SEVERITY_ORDER[g.status]):
        if gate.status in ("backout", "hold", "error") and gate.kind != "inputs":
            if unjudged and gate.kind == "threshold" and gate.value is None:
                continue
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
            f"more than the KPI's {fmt_number(kpi_count)}: the larger count is used"
        )
    replayed = replayed_go(case)
    if replayed is not None:
        reasons.append(
            f"{replayed.decision} for {case.date} was applied already (serial "
            f"{replayed.serial}): judged against the state before it"
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


def decision_id(case: Case, base: QuotaState, gates: list[GateResult]) -> str:
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
            "pause": base.pause.model_dump(mode="json") if base.pause else None,
        },
        "promotion": case.gates.promotion.identity(),
        "thresholds": {spec.name: _threshold_identity(case, spec) for spec in case.gates.gates},
        "gates": {gate.name: [gate.status, gate.shadow] for gate in gates},
        "green_days": [gate.value for gate in gates if gate.kind == "promotion"],
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
    reasons = _reasons(case, counted)
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
        base=base,
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
        promotion=promotion_of(case, [g for g in gates if g.kind in ("inputs", "threshold")])[1],
    )
