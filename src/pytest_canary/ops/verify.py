"""Before a decision file is applied: is it true to itself, to its inputs and to the rules now?

A decision file may be stale, edited by hand or forged. The rollout applies one only when it
follows from its own gates and base (:mod:`pytest_canary.core.consistency`) and, for a GO, when
every input it names still has the sha256 it names and deciding again from those inputs, with the
gates configured now, gives the same gates and the same ``decision_id``. Custom gates (pytest
functions) are taken as recorded: they cannot run outside pytest. A BACKOUT that is consistent is
applied even when its inputs changed since: backing out is the safe direction.
"""

from __future__ import annotations

from pytest_canary.core import engine
from pytest_canary.core.consistency import decision_problem
from pytest_canary.core.errors import RolloutRefused
from pytest_canary.core.gates import GateSet
from pytest_canary.core.records import Decision
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.readers import read_case


def verify_decision(paths: TenantPaths, decision: Decision, gates: GateSet) -> None:
    """Raise :class:`RolloutRefused` naming the first failed check; return when all pass."""
    problem = decision_problem(decision, gates.steps)
    if problem is None and decision.is_go:
        problem = _recomputed_problem(paths, decision, gates)
    if problem is not None:
        raise RolloutRefused(
            f"{paths.tenant}: the {decision.decision} decision of {decision.date} is not true to"
            f" itself or its inputs: {problem}; decide again; nothing was written"
        )


def _recomputed_problem(paths: TenantPaths, decision: Decision, gates: GateSet) -> str | None:
    case = read_case(
        paths, decision.date, gates, trace_id=decision.trace_id, created_at=decision.created_at
    )
    now = {"kpis": case.kpis.sha256, "blocklist": case.blocklist.sha256, "state": case.state.sha256}
    for record in decision.inputs:
        if record.name in now and now[record.name] != record.sha256:
            gone = "is gone" if now[record.name] is None else "changed"
            return f"its {record.name} input {record.path} {gone} since it was decided"
    custom = [gate for gate in decision.gates if gate.kind == "custom"]
    again = engine.decide(case, extra=custom)
    recorded = {gate.name: gate for gate in decision.gates}
    for gate in again.gates:
        was = recorded.get(gate.name)
        if was is None:
            return f"it does not record the gate {gate.name}"
        if (was.value, was.status) != (gate.value, gate.status):
            return (
                f"its gate {gate.name} says {was.status} ({was.value}), deciding again gives"
                f" {gate.status} ({gate.value})"
            )
    if again.decision != decision.decision:
        return f"deciding again from its inputs gives {again.decision}"
    if again.decision_id != decision.decision_id:
        return "its decision_id is not the hash of what it was decided from"
    return None
