"""Gates as data: a metric, one tenant's gate specs and its gate set. Pure: no file, no env.

:mod:`pytest_canary.store.gates` builds them from the built-in gates, gate files and env
overrides; the engine and the trend judge with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pytest_canary.core import kinds
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.models import RATE_FIELDS
from pytest_canary.core.schedule import Promotion

VOLUME_GATE = "min_volume"
_METRIC = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(?:/\s*([a-z_][a-z0-9_]*)\s*)?$")


@dataclass(frozen=True)
class Metric:
    """``field`` or ``numerator / denominator`` of two KPI fields; parsed, never evaluated."""

    numerator: str
    denominator: str | None = None

    @classmethod
    def parse(cls, text: str, where: str) -> Metric:
        match = _METRIC.match(text)
        if match is None:
            raise CanaryUsageError(
                f"{where}: metric {text!r} must be a KPI field or 'field / field'"
            )
        return cls(match.group(1), match.group(2))

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.numerator,) if self.denominator is None else (self.numerator, self.denominator)

    @property
    def is_rate(self) -> bool:
        """A ratio of two fields, or a KPI field that is a fraction in [0, 1]."""
        return self.denominator is not None or self.numerator in RATE_FIELDS

    def evaluate(self, values: Mapping[str, float]) -> float | None:
        """The metric's value from KPI fields; ``None`` when a field is missing or the
        denominator is 0. The engine words why; the trend only leaves the day out."""
        found = [values.get(name) for name in self.fields]
        if found[0] is None:
            return None
        if self.denominator is None:
            return found[0]
        denominator = found[1]
        return found[0] / denominator if denominator else None

    def __str__(self) -> str:
        return (
            self.numerator if self.denominator is None else f"{self.numerator} / {self.denominator}"
        )


@dataclass(frozen=True)
class GateSpec:
    """One threshold gate as it applies to one tenant."""

    name: str
    metric: Metric
    op: Literal["<=", ">="]
    threshold: float
    source: str
    label: str
    backout: float | None = None
    backout_source: str | None = None
    needs_volume: bool = False
    shadow: bool = False
    kind: kinds.KindParams | None = None
    """The parameters of a gate kind other than the plain threshold (core/kinds)."""

    def backout_threshold(self, factor: float) -> float | None:
        """Above this a violated ``<=`` gate backs out; ``>=`` gates never do."""
        if self.op != "<=":
            return None
        return self.backout if self.backout is not None else self.threshold * factor


@dataclass(frozen=True)
class GateSet:
    """The effective gates of one tenant, with the rollout's steps and backout factor."""

    steps: tuple[int, ...]
    backout_factor: float
    backout_factor_source: str
    gates: tuple[GateSpec, ...]
    files: tuple[str, ...] = ()
    promotion: Promotion = field(default_factory=Promotion)

    def get(self, name: str) -> GateSpec | None:
        return next((gate for gate in self.gates if gate.name == name), None)

    @property
    def needs_cohorts(self) -> bool:
        """Whether a gate judges the KPI file's cohorts (its kind says so)."""
        return any(
            gate.kind is not None and kinds.KINDS[gate.kind.kind].needs_cohorts
            for gate in self.gates
        )


def is_rate_metric(text: str) -> bool:
    """Whether a recorded metric (a decision's ``metric``) is a rate, by :attr:`Metric.is_rate`."""
    try:
        return Metric.parse(text, "metric").is_rate
    except CanaryUsageError:
        return False  # "custom" and the like: not a metric of KPI fields
