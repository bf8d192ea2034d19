"""What every gate kind shares: the parameters' shape, the inputs of an evaluation, the registry entry.

A gate kind is data (its parameters, read from the gate file once) and one pure function that
turns a gate's inputs into a verdict. The inputs are plain numbers taken from the KPI file, so the
rollout can recompute any kind's verdict from the recorded inputs and thresholds alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

from pytest_canary.core.records import CohortFigure, GateResult
from pytest_canary.core.stats import Counts

if TYPE_CHECKING:
    from pytest_canary.core.gates import GateSpec, Metric

TENANT = "tenant"
"""The key of the tenant-wide counts in :attr:`GateInputs.counts`, beside the cohorts'."""


class KindParams(Protocol):
    """A gate kind's own parameters: frozen, comparable, and part of the ``decision_id``."""

    @property
    def kind(self) -> str: ...

    def identity(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class GateInputs:
    """Everything a gate kind judges: pure data, no file, no clock."""

    plain: GateResult
    """The gate's verdict as a plain threshold gate on the tenant-wide figure."""
    counts: Mapping[str, Counts | str]
    """The metric as counts: ``tenant``, ``canary``, ``control``; a string says why there are none."""
    backout_factor: float


@dataclass(frozen=True)
class GateKind:
    """One registered gate kind: which gate-file keys select and configure it, and its judge."""

    name: str
    selector: tuple[str, str]
    """The gate-file key and value that choose this kind, e.g. ``("compare", "control")``."""
    keys: frozenset[str]
    """The keys only this kind reads (besides its selector)."""
    own_bound: bool
    """True when the kind sets the gate's threshold itself, so ``max``/``min`` are refused."""
    parse: Callable[[Mapping[str, Any], Metric, str], KindParams]
    evaluate: Callable[[GateSpec, Any, GateInputs], GateResult]
    needs_cohorts: bool = False
    """True when the kind judges the KPI file's cohorts, so ``canary kpi`` must split by cohort
    (one hash per event, which halves its speed) for a tenant with such a gate."""


def rate_counts(values: Mapping[str, Any], metric: Metric) -> Counts | str:
    """The metric of one set of KPI values as ``events`` of ``trials``, or why it cannot be.

    ``a / b`` is ``a`` of ``b``. A rate field such as ``error_rate`` is the share of the send
    attempts (``notices_sent + errors``, or ``notices_sent`` when ``errors`` is not given); its
    events are the rate times the attempts, rounded, so the counts always agree with the rate.
    """
    if metric.denominator is not None:
        top, bottom = values.get(metric.numerator), values.get(metric.denominator)
        if not _count(top) or not _count(bottom):
            return f"{metric} needs whole counts {metric.numerator} and {metric.denominator}"
        if top > bottom:
            return f"{metric.numerator} {top:g} > {metric.denominator} {bottom:g}"
        return Counts(int(top), int(bottom))
    rate, sent, errors = (values.get(name) for name in (metric.numerator, "notices_sent", "errors"))
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
        return f"{metric.numerator} is not a rate in [0, 1]"
    if not _count(sent):
        return f"{metric.numerator} needs the count notices_sent"
    trials = int(sent) + (int(errors) if _count(errors) else 0)
    return Counts(round(rate * trials), trials)


def _count(value: Any) -> TypeGuard[int | float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value >= 0
        and float(value).is_integer()
    )


def figure(counts: Counts) -> CohortFigure:
    return CohortFigure(events=counts.events, trials=counts.trials, rate=counts.rate)


def percent(value: float) -> str:
    """``1.8 %``: three significant digits, for a rate or a bound in a message."""
    return f"{value * 100:.3g} %"


def counted(counts: Counts) -> str:
    """``1 of 10: 10 %``."""
    return f"{counts.events:,} of {counts.trials:,}: {percent(counts.rate)}"
