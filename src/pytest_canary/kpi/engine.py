"""A tenant's KPIs of a run date from the tally of its dispatch events.

The KPI file ``<root>/<tenant>/<date>.json`` holds what happened in the 24 hours before the run
(``date`` 07:30 Europe/Berlin) and the queue depths at the run time (docs/kpi-engine.md).
``canary kpi`` (:mod:`pytest_canary.cli.kpi`) reads the events and writes the file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pytest_canary.kpi.events import BERLIN, Tally, Window


def compute_kpis(
    tally: Tally, tenant: str, day: dt.date, generated_at: dt.datetime, source: str
) -> dict[str, Any]:
    """The KPI file's content; it always validates as :class:`~pytest_canary.core.models.Kpis`."""
    from pydantic import ValidationError

    from pytest_canary.core.models import Kpis

    window = Window.for_run_date(day)
    payload: dict[str, Any] = {
        "tenant": tenant,
        "date": day.isoformat(),
        **_figures(tally),
        "generated_at": generated_at.isoformat(),
        "window_start": window.start.astimezone(BERLIN).isoformat(),
        "window_end": window.end.astimezone(BERLIN).isoformat(),
        "source": source,
    }
    if tally.by_cohort is not None:
        payload["cohorts"] = {name: _figures(part) for name, part in tally.by_cohort.items()}
    try:
        Kpis.model_validate(payload)
    except ValidationError as exc:  # only a bug gets here: the counts are ours
        raise AssertionError(f"computed KPIs do not validate: {exc}") from exc
    return payload


def _figures(tally: Tally) -> dict[str, Any]:
    """The KPI fields of one tally: the tenant's, or one cohort's."""
    sent, failed = tally.in_window("sent"), tally.in_window("failed")
    attempts = sent + failed
    return {
        "notices_sent": sent,
        "errors": failed,
        "error_rate": failed / attempts if attempts else 0.0,
        "hard_bounces": tally.in_window("hard_bounce"),
        "soft_bounces": tally.in_window("soft_bounce"),
        "dlq_depth": _depth(tally, "dlq"),
        "retry_depth": _depth(tally, "retry"),
    }


def _depth(tally: Tally, queue: str) -> int:
    return max(0, tally.before_run(f"{queue}_in") - tally.before_run(f"{queue}_out"))


def warnings_for(tally: Tally, payload: dict[str, Any], tenant: str) -> list[str]:
    """What an operator should know about KPIs that were written anyway."""
    notes = []
    if not any(tally.counts.values()):
        notes.append(f"no events of tenant {tenant!r} in the source: is it the right source?")
    if payload["hard_bounces"] > payload["notices_sent"]:
        notes.append(
            f"hard_bounces {payload['hard_bounces']} > notices_sent {payload['notices_sent']}"
            " (bounces of notices sent before the window); the bounce gate will report an error"
        )
    for queue in ("dlq", "retry"):
        ins, outs = tally.before_run(f"{queue}_in"), tally.before_run(f"{queue}_out")
        if outs > ins:
            notes.append(
                f"{queue}: {outs} outs but only {ins} ins before the run; {queue}_depth set to 0"
            )
    return notes
