"""The trend in a decision's Markdown: the last 14 days of each gate's value against its threshold.

:func:`trend_chart` is pure: dated values in, Mermaid ``xychart-beta`` charts out (GitHub renders
them), one chart per gate, the values as bars and the threshold as a line. :func:`decision_trend`
charts one decision: the KPI fields of up to 13 earlier days
(:func:`pytest_canary.store.readers.kpi_history` reads them), then the decision's own gate values,
so the last bar is what was judged.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from pytest_canary.core.gates import Metric
from pytest_canary.core.records import Decision

TREND_DAYS = 14
"""Days in the chart, the decision's own date included."""

_UNSAFE = re.compile(r"[^\w .%/+-]")


def trend_chart(
    history: list[tuple[dt.date, dict[str, float]]], thresholds: dict[str, float]
) -> str | None:
    """Mermaid charts of each thresholded series over the dates of ``history``, or ``None``.

    ``history`` holds (date, {series: value}) in any order; ``thresholds`` maps a series to its
    threshold. A series gets a chart when it has a threshold and values on at least two dates (one
    point is no trend); dates where a series has no value are left out of its chart.
    """
    charts = []
    days = sorted(history, key=lambda item: item[0])
    for name, threshold in thresholds.items():
        if not _finite(threshold):
            continue
        points = [(day, values[name]) for day, values in days if _finite(values.get(name))]
        if len(points) < 2:
            continue
        charts.append(_chart(name, points, threshold))
    if not charts:
        return None
    return "\n\n".join(charts)


def _finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


def _number(value: float) -> str:
    return f"{value:.6g}"


def _chart(name: str, points: list[tuple[dt.date, float]], threshold: float) -> str:
    label = _UNSAFE.sub("", name)  # a name from a gate file must not end the quote or fence
    top = max(threshold, *(value for _, value in points)) * 1.1 or 1.0
    dates = ", ".join(f'"{day.strftime("%m-%d")}"' for day, _ in points)
    first, last = points[0][0].isoformat(), points[-1][0].isoformat()
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "{label}: bars = value, line = threshold {_number(threshold)}'
            f' ({first} to {last})"',
            f"    x-axis [{dates}]",
            f'    y-axis "{label}" 0 --> {_number(top)}',
            f"    bar [{', '.join(_number(value) for _, value in points)}]",
            f"    line [{', '.join(_number(threshold) for _ in points)}]",
            "```",
        ]
    )


def gate_value(metric: str, values: dict[str, float]) -> float | None:
    """A gate's value from KPI fields, as the engine reads its metric (parsed, never run)."""
    return Metric.parse(metric, "trend").evaluate(values)


def decision_trend(
    decision: Decision, earlier: list[tuple[dt.date, dict[str, float]]]
) -> str | None:
    """The trend charts for ``decision``'s Markdown from the KPI fields of ``earlier`` days (oldest
    first, at most ``TREND_DAYS - 1``), or ``None`` when there are none."""
    gates = [g for g in decision.gates if g.kind == "threshold" and g.threshold is not None]
    if not gates or not earlier:
        return None
    history: list[tuple[dt.date, dict[str, float]]] = []
    for day, values in earlier:
        row = {g.name: v for g in gates if (v := gate_value(g.metric, values)) is not None}
        history.append((day, row))
    history.append((decision.date, {g.name: g.value for g in gates if g.value is not None}))
    thresholds = {g.name: g.threshold for g in gates if g.threshold is not None}
    return trend_chart(history, thresholds)
