"""``compare = "control"``: the canary cohort's rate against the control cohort's.

The canary is *too much worse* when its rate is above control's by more than the allowed margin:
``max_diff`` (a difference of rates) and ``max_ratio`` (a multiple of control's rate); with both,
the larger allowance wins, so a ratio on a control rate near zero does not hold on one error. The
verdict weighs the evidence with one-sided bounds at the gate's ``confidence`` of
``p_canary - r * p_control`` (see :mod:`pytest_canary.core.stats`):

- BACKOUT when the canary is too much worse than the backout margin, with that confidence;
- HOLD when it is too much worse than the allowed margin, with that confidence;
- PASS when the data show that it is within the allowed margin, with that confidence;
- SKIPPED (inconclusive) when they show neither: the sample is too small to tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.kinds.base import GateInputs, GateKind, counted, figure, percent
from pytest_canary.core.kinds.wilson import DEFAULT_CONFIDENCE, valid_confidence
from pytest_canary.core.models import COHORTS, GateStatus
from pytest_canary.core.records import Evidence, GateResult
from pytest_canary.core.stats import Counts, scaled_difference_bounds, z_one_sided

if TYPE_CHECKING:
    from pytest_canary.core.gates import GateSpec, Metric


@dataclass(frozen=True)
class RelativeParams:
    """The margins besides ``max_diff`` and ``backout_diff``, which are the gate's threshold and
    backout (so env overrides and the decision's thresholds treat them like any other)."""

    max_ratio: float = 1.0
    backout_ratio: float | None = None
    confidence: float = DEFAULT_CONFIDENCE
    kind: str = "relative"

    def identity(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "max_ratio": self.max_ratio,
            "backout_ratio": self.backout_ratio,
            "confidence": self.confidence,
        }

    def ratios(self, factor: float) -> tuple[float, float]:
        """The allowed and the backout ratio; without ``backout_ratio``, ``factor`` x the allowed."""
        if self.backout_ratio is not None:
            return self.max_ratio, self.backout_ratio
        return self.max_ratio, self.max_ratio * factor if self.max_ratio > 1 else 1.0


def parse(values: Mapping[str, Any], metric: Metric, where: str) -> RelativeParams:
    if not metric.is_rate:
        raise CanaryUsageError(
            f'{where}: compare = "control" needs a rate metric (a / b, or error_rate), not {metric}'
        )
    for bound in ("max", "min", "backout"):
        if bound in values:
            raise CanaryUsageError(
                f'{where}: a gate with compare = "control" takes max_diff / max_ratio and '
                f"backout_diff / backout_ratio, not {bound}"
            )
    diff, ratio = values.get("max_diff", 0.0), values.get("max_ratio", 1.0)
    if not 0 <= diff <= 1:
        raise CanaryUsageError(f"{where}: max_diff must be a fraction in [0, 1], got {diff:g}")
    if ratio < 1:
        raise CanaryUsageError(f"{where}: max_ratio must be >= 1, got {ratio:g}")
    if diff == 0 and ratio == 1:
        raise CanaryUsageError(
            f"{where}: give max_diff > 0 or max_ratio > 1: with no margin at all no sample "
            "can show that the canary is not worse"
        )
    backout_diff, backout_ratio = values.get("backout_diff"), values.get("backout_ratio")
    if backout_diff is not None and not diff <= backout_diff <= 1:
        raise CanaryUsageError(
            f"{where}: backout_diff must be in [max_diff {diff:g}, 1], got {backout_diff:g}"
        )
    if backout_ratio is not None and backout_ratio < ratio:
        raise CanaryUsageError(
            f"{where}: backout_ratio {backout_ratio:g} is below max_ratio {ratio:g}"
        )
    confidence = valid_confidence(values, where)
    return RelativeParams(float(ratio), backout_ratio, confidence)


def _worse(bounds: tuple[tuple[float, float], tuple[float, float]], diff: float) -> bool:
    """Too much worse with confidence: both lower bounds beyond their margins."""
    (diff_low, _), (ratio_low, _) = bounds
    return diff_low > diff and ratio_low > 0


def _within(bounds: tuple[tuple[float, float], tuple[float, float]], diff: float) -> bool:
    """Within the allowance with confidence: either upper bound inside its margin."""
    (_, diff_high), (_, ratio_high) = bounds
    return diff_high <= diff or ratio_high <= 0


def _bounds(
    canary: Counts, control: Counts, ratio: float, z: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    return (
        scaled_difference_bounds(canary, control, 1.0, z),
        scaled_difference_bounds(canary, control, ratio, z),
    )


def _verdict(
    canary: Counts, control: Counts, margins: tuple[float, float, float, float], z: float
) -> tuple[GateStatus, str]:
    diff, ratio, backout_diff, backout_ratio = margins
    if _worse(_bounds(canary, control, backout_ratio, z), backout_diff):
        return "backout", "worse than the backout margin"
    allowed = _bounds(canary, control, ratio, z)
    if _worse(allowed, diff):
        return "hold", "worse than the allowed margin"
    if _within(allowed, diff):
        return "pass", "not worse than the allowed margin"
    return "skipped", "inconclusive: too few notices to tell either way"


def evaluate(spec: GateSpec, params: RelativeParams, inputs: GateInputs) -> GateResult:
    plain = inputs.plain
    if plain.status in ("skipped", "error"):  # no tenant-wide figure: no cohort is judged
        return plain.model_copy(update={"value": None, "threshold": None})
    canary, control = (inputs.counts.get(cohort) for cohort in COHORTS)
    for cohort, counts in zip(COHORTS, (canary, control), strict=True):
        if not isinstance(counts, Counts):
            why = counts or f"no {cohort} cohort in the KPI file"
            message = f"{spec.name}: cannot compare with control: {cohort}: {why}"
            return plain.model_copy(
                update={"status": "error", "value": None, "threshold": None, "message": message}
            )
    assert isinstance(canary, Counts) and isinstance(control, Counts)
    ratio, backout_ratio = params.ratios(inputs.backout_factor)
    diff = spec.threshold
    backout_diff = spec.backout_threshold(inputs.backout_factor) or diff
    z = z_one_sided(params.confidence)
    if canary.trials == 0 or control.trials == 0:
        status: GateStatus = "skipped"
        word = "inconclusive: a cohort has no notices"
    else:
        status, word = _verdict(canary, control, (diff, ratio, backout_diff, backout_ratio), z)
    low, high = scaled_difference_bounds(canary, control, 1.0, z)
    p0 = control.rate
    allowed = max(ratio * p0, p0 + diff)
    message = (
        f"{spec.name}: canary {counted(canary)} vs control {counted(control)}; canary − control "
        f"{_points(canary.rate - p0)}, {params.confidence:.0%} bounds {_points(low)} to "
        f"{_points(high)}; allowed up to {percent(allowed)}: {word}"
    )
    evidence = Evidence(
        kind="relative",
        confidence=params.confidence,
        canary=figure(canary),
        control=figure(control),
        interval=(low, high),
        interval_of="canary − control",
        verdict=word,
    )
    return plain.model_copy(
        update={
            "status": status,
            "value": canary.rate,
            "threshold": allowed,
            "backout_threshold": max(backout_ratio * p0, p0 + backout_diff),
            "message": message,
            "evidence": evidence,
        }
    )


def _points(value: float) -> str:
    """A difference of rates in percentage points: ``+2.4 pts``."""
    return f"{value * 100:+.2g} pts"


KIND = GateKind(
    name="relative",
    selector=("compare", "control"),
    keys=frozenset({"confidence", "max_diff", "max_ratio", "backout_diff", "backout_ratio"}),
    own_bound=True,
    parse=parse,
    evaluate=evaluate,
    needs_cohorts=True,
)
