"""A decision's Markdown: rendered from the decision, and mended when a crash left it behind.

``record_decision`` replaces the JSON, then the Markdown, each atomically; a kill between the two
renames leaves the new JSON beside the old Markdown. The JSON is what a rollout applies, so the
Markdown is rendered again from it by the next rollout of that decision.
"""

from __future__ import annotations

from pytest_canary.core.records import Decision
from pytest_canary.render import report, trend
from pytest_canary.store.atomic import sweep_temps, write_atomic
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.readers import kpi_history


def render(paths: TenantPaths, decision: Decision) -> str:
    """The Markdown written beside the decision: the decision, its gates and its 14-day trend."""
    earlier = kpi_history(paths, decision.date, trend.TREND_DAYS)
    return report.decision_markdown(decision, trend=trend.decision_trend(decision, earlier))


def mend(paths: TenantPaths, decision: Decision) -> bool:
    """Render ``<date>_decision.md`` again when it does not show ``decision``'s id; hold the lock.

    Only for the decision recorded under the root for its date (a ``--decision-file`` elsewhere
    has no Markdown of ours). Returns whether it was written.
    """
    md_path = paths.check(paths.decision_md(decision.date))
    try:
        if f"`{decision.decision_id}`" in md_path.read_text("utf-8"):
            return False
        recorded = Decision.model_validate_json(
            paths.check(paths.decision_json(decision.date)).read_bytes()
        )
    except (OSError, UnicodeDecodeError, ValueError):
        return False  # no Markdown or no recorded JSON: nothing a crash left behind
    if recorded.decision_id != decision.decision_id:
        return False
    sweep_temps(md_path)
    write_atomic(md_path, render(paths, decision).encode(), label="decision-md", durable=False)
    return True
