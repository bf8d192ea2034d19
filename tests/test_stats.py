"""The interval estimates the evidence gates rest on, against published values and scipy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_canary.core.stats import (
    Counts,
    scaled_difference_bounds,
    wilson,
    z_one_sided,
    z_two_sided,
)

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99, 0.999])
def test_normal_quantiles_equal_scipy(confidence: float) -> None:
    assert z_one_sided(confidence) == pytest.approx(scipy_stats.norm.ppf(confidence), abs=1e-9)
    two_sided = scipy_stats.norm.ppf(1 - (1 - confidence) / 2)
    assert z_two_sided(confidence) == pytest.approx(two_sided, abs=1e-9)


@given(
    trials=st.integers(min_value=1, max_value=200_000),
    share=st.floats(min_value=0, max_value=1),
    confidence=st.sampled_from([0.9, 0.95, 0.99]),
)
def test_wilson_interval_equals_scipy(trials: int, share: float, confidence: float) -> None:
    events = round(share * trials)
    expected = scipy_stats.binomtest(events, trials).proportion_ci(confidence, method="wilson")

    low, high = wilson(Counts(events, trials), z_two_sided(confidence))

    assert low == pytest.approx(expected.low, abs=1e-9)
    assert high == pytest.approx(expected.high, abs=1e-9)
    assert 0 <= low <= events / trials <= high <= 1


def test_wilson_interval_of_one_in_ten_is_the_textbook_one() -> None:
    low, high = wilson(Counts(1, 10), z_two_sided(0.95))

    assert (round(low, 4), round(high, 4)) == (0.0179, 0.4042)


def test_wilson_interval_without_trials_is_everything() -> None:
    assert wilson(Counts(0, 0), 1.96) == (0.0, 1.0)


# Newcombe (1998), "Interval estimation for the difference between independent proportions",
# Statistics in Medicine 17, Table II, method 10 (score interval, Wilson-based), 95 %.
NEWCOMBE_METHOD_10 = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_METHOD_10)
def test_difference_bounds_equal_newcombes_table(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    x1, n1, x0, n0 = counts
    low, high = scaled_difference_bounds(Counts(x1, n1), Counts(x0, n0), 1.0, z_two_sided(0.95))

    assert (round(low, 4), round(high, 4)) == expected


@given(
    x1=st.integers(0, 500),
    x0=st.integers(0, 500),
    extra1=st.integers(0, 5000),
    extra0=st.integers(0, 5000),
    ratio=st.floats(min_value=1, max_value=5),
)
def test_scaled_difference_bounds_hold_the_estimate(
    x1: int, x0: int, extra1: int, extra0: int, ratio: float
) -> None:
    canary, control = Counts(x1, x1 + extra1 + 1), Counts(x0, x0 + extra0 + 1)

    low, high = scaled_difference_bounds(canary, control, ratio, z_one_sided(0.95))

    estimate = canary.rate - ratio * control.rate
    assert low <= estimate + 1e-12 and estimate - 1e-12 <= high
    assert -ratio - 1e-9 <= low and high <= 1 + 1e-9
