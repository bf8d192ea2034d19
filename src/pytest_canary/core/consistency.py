"""Is a decision true to itself? The checks a rollout makes on a decision file before applying it.

Pure: the decision and the configured steps in, the first failed check out (or ``None``). What
needs the inputs again (their sha256, the gates recomputed from them) is in
:mod:`pytest_canary.ops.verify`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_canary.core.records import Decision


def decision_problem(decision: Decision, steps: Sequence[int]) -> str | None:
    """The first way ``decision`` does not follow from its own gates, base and steps."""
    if list(decision.steps) != list(steps):
        return f"its steps {decision.steps} are not the configured steps {list(steps)}"
    counted = [gate for gate in decision.gates if not gate.shadow]
    backing_out = [gate.name for gate in counted if gate.status == "backout"]
    word = decision.decision
    if word == "BACKOUT":
        if not backing_out:
            return "it says BACKOUT, but none of its gates backs out"
        if (decision.target.quota, decision.target.kill_switch) != (steps[0], True):
            return (
                f"a BACKOUT must target quota {steps[0]} with the kill switch on, not quota"
                f" {decision.target.quota}"
            )
        return None
    if backing_out:
        return f"it says {word}, but its gate {backing_out[0]} backs out"
    if not decision.is_go:
        return None
    held = next((gate for gate in counted if gate.status in ("hold", "error")), None)
    if held is not None:
        return f"it says {word}, but its gate {held.name} is {held.status}"
    if not any(gate.status == "pass" and gate.kind in ("threshold", "custom") for gate in counted):
        return f"it says {word}, but none of its gates passed"
    invalid = next((record.name for record in decision.inputs if not record.valid), None)
    if invalid is not None:
        return f"it says {word}, but its {invalid} input was invalid"
    if decision.base.kill_switch and decision.base.review is None:
        return f"it says {word}, but the kill switch was on with no review recorded"
    return None
