"""``evidence = "wilson"``: a rate gate backs out only on a significant breach of its backout.

With 3 notices one error is a 33 % error rate; as a plain gate that is a BACKOUT on one event. A
Wilson gate backs out only when the Wilson interval's lower bound lies above the backout
threshold; a breach that is not significant holds instead, with the interval in the reason. It
never makes a GO more likely: passing still needs the observed rate within the threshold, and a
hold stays a hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.kinds.base import TENANT, GateInputs, GateKind, counted, figure, percent
from pytest_canary.core.records import Evidence, GateResult
from pytest_canary.core.stats import Counts, wilson, z_two_sided

if TYPE_CHECKING:
    from pytest_canary.core.gates import GateSpec, Metric

DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class WilsonParams:
    confidence: float = DEFAULT_CONFIDENCE
    kind: str = "wilson"

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "confidence": self.confidence}


def valid_confidence(values: Mapping[str, Any], where: str) -> float:
    """The gate's ``confidence``: a fraction in [0.5, 0.9999] (0.95 when not given)."""
    confidence = values.get("confidence", DEFAULT_CONFIDENCE)
    if not 0.5 <= confidence <= 0.9999:
        raise CanaryUsageError(
            f"{where}: confidence must be a fraction in [0.5, 0.9999] (0.95 is 95 %), "
            f"got {confidence:g}"
        )
    return float(confidence)


def parse(values: Mapping[str, Any], metric: Metric, where: str) -> WilsonParams:
    if not metric.is_rate:
        raise CanaryUsageError(
            f'{where}: evidence = "wilson" needs a rate metric (a / b, or error_rate), not {metric}'
        )
    if "min" in values:
        raise CanaryUsageError(f'{where}: evidence = "wilson" is for a max gate, not a min')
    return WilsonParams(valid_confidence(values, where))


def evaluate(spec: GateSpec, params: WilsonParams, inputs: GateInputs) -> GateResult:
    """The plain verdict, with a backout that the interval does not carry turned into a hold."""
    plain, counts = inputs.plain, inputs.counts.get(TENANT)
    if not isinstance(counts, Counts):
        return plain
    low, high = wilson(counts, z_two_sided(params.confidence))
    shown = f"{counted(counts)}, {params.confidence:.0%} interval {percent(low)}–{percent(high)}"
    evidence = Evidence(
        kind="wilson",
        confidence=params.confidence,
        observed=figure(counts),
        interval=(low, high),
        interval_of=str(spec.metric),
    )
    if plain.status != "backout":
        # The verdict stands; the reason (and a failing item's line) gains the interval.
        message = f"{plain.message}; {shown}" if plain.value is not None else plain.message
        return plain.model_copy(update={"message": message, "evidence": evidence})
    backout = plain.backout_threshold
    assert backout is not None  # a backout verdict always has its threshold
    if low > backout:
        message = f"{plain.message}; {shown}: the breach is significant"
        return plain.model_copy(update={"message": message, "evidence": evidence})
    message = (
        f"{spec.name}: above the backout {percent(backout)}, but {shown};"
        " too little evidence to back out"
    )
    return plain.model_copy(update={"status": "hold", "message": message, "evidence": evidence})


KIND = GateKind(
    name="wilson",
    selector=("evidence", "wilson"),
    keys=frozenset({"confidence"}),
    own_bound=False,
    parse=parse,
    evaluate=evaluate,
)
