"""Markdown of what the evidence gates weighed: canary against control, and rate intervals."""

from __future__ import annotations

from collections.abc import Iterable

from pytest_canary.core.records import CohortFigure, Evidence, GateResult


def _rate(value: float) -> str:
    return f"{value * 100:.3g} %"


def _points(value: float) -> str:
    return f"{value * 100:+.2g} pts"


def _row(cohort: str, figure: CohortFigure) -> str:
    return f"| {cohort} | {figure.events:,} | {figure.trials:,} | {_rate(figure.rate)} |"


def _relative(name: str, evidence: Evidence) -> list[str]:
    lines = [f"#### {name}: canary vs control", ""]
    lines += ["| cohort | events | of | rate |", "| --- | --- | --- | --- |"]
    for cohort, figure in (("canary", evidence.canary), ("control", evidence.control)):
        if figure is not None:
            lines.append(_row(cohort, figure))
    if evidence.interval is not None:
        low, high = evidence.interval
        lines += [
            "",
            f"{evidence.interval_of}: {evidence.confidence:.0%} bounds {_points(low)} to "
            f"{_points(high)}; {evidence.verdict}",
        ]
    return [*lines, ""]


def _wilson(name: str, evidence: Evidence) -> str:
    observed, interval = evidence.observed, evidence.interval
    if observed is None or interval is None:
        return f"- {name}: no counts"
    return (
        f"- {name}: {observed.events:,} of {observed.trials:,} ({_rate(observed.rate)}), "
        f"{evidence.confidence:.0%} interval {_rate(interval[0])}–{_rate(interval[1])}"
    )


def _code(name: str) -> str:
    """A gate name (a TOML key: any text) as a one-line code span that cannot format anything."""
    return "`" + " ".join(name.split()).replace("`", "'") + "`"


def evidence_markdown(gates: Iterable[GateResult]) -> list[str]:
    """The ``### Evidence`` section's lines; none when no gate weighed evidence."""
    relative, wilson = [], []
    for gate in gates:
        if gate.evidence is None:
            continue
        if gate.evidence.kind == "relative":
            relative += _relative(_code(gate.name), gate.evidence)
        else:
            wilson.append(_wilson(_code(gate.name), gate.evidence))
    if not relative and not wilson:
        return []
    lines = ["", "### Evidence", "", *relative, *wilson]
    return lines[:-1] if lines[-1] == "" else lines
