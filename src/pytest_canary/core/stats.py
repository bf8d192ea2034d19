"""Interval estimates for rates and for the difference of two rates, in pure Python.

The gates need two things: how sure one day's rate is (the Wilson score interval), and whether a
canary cohort's rate is worse than control's by more than a margin (Newcombe's hybrid score
interval, generalised to ``p1 - r * p0`` by the MOVER method of Zou and Donner). Both are built
from Wilson intervals, which keep close to their nominal coverage down to a handful of events and
never leave [0, 1]; that is why they are used instead of the normal approximation (which says
"0 of 3: certainly 0 %") or an exact test (which for a non-zero margin has no closed form).
The standard library's :class:`statistics.NormalDist` gives the normal quantile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()


def z_two_sided(confidence: float) -> float:
    """The normal quantile of a two-sided interval: 1.96 for 0.95."""
    return _NORMAL.inv_cdf(1 - (1 - confidence) / 2)


def z_one_sided(confidence: float) -> float:
    """The normal quantile of a one-sided bound: 1.645 for 0.95."""
    return _NORMAL.inv_cdf(confidence)


@dataclass(frozen=True)
class Counts:
    """``events`` of ``trials`` (errors of send attempts, bounces of notices sent)."""

    events: int
    trials: int

    @property
    def rate(self) -> float:
        return self.events / self.trials if self.trials else 0.0


def wilson(counts: Counts, z: float) -> tuple[float, float]:
    """The Wilson score interval of ``counts.events / counts.trials`` for the quantile ``z``.

    With no trials the interval is [0, 1]: nothing is known.
    """
    n, x = counts.trials, counts.events
    if n == 0:
        return 0.0, 1.0
    p = x / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At 0 or all events the bound is exactly 0 or 1; rounding must not put it a hair beside.
    low = 0.0 if x == 0 else max(0.0, centre - half)
    high = 1.0 if x == n else min(1.0, centre + half)
    return low, high


def scaled_difference_bounds(
    canary: Counts, control: Counts, ratio: float, z: float
) -> tuple[float, float]:
    """Bounds of ``p_canary - ratio * p_control`` (MOVER; Newcombe's method 10 for ratio 1).

    Each bound is one-sided at the confidence of ``z``: the lower bound is the one to compare with
    a margin when asking "is the canary worse?", the upper bound when asking "is it not worse?".
    """
    p1, p0 = canary.rate, control.rate
    l1, u1 = wilson(canary, z)
    l0, u0 = wilson(control, z)
    estimate = p1 - ratio * p0
    low = estimate - math.sqrt((p1 - l1) ** 2 + (ratio * (u0 - p0)) ** 2)
    high = estimate + math.sqrt((u1 - p1) ** 2 + (ratio * (p0 - l0)) ** 2)
    return low, high
