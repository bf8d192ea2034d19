"""KPI files with cohorts, and gate files of the evidence gate kinds."""

from __future__ import annotations

from typing import Any

RELATIVE_TOML = """
[gates.error_rate_vs_control]
metric = "error_rate"
compare = "control"
max_diff = 0.01
backout_diff = 0.05
label = "Fehlerquote vs. Kontrolle"
"""

WILSON_TOML = """
[gates.error_rate]
evidence = "wilson"
"""


def cohort(errors: int, sent: int, **extra: Any) -> dict[str, Any]:
    attempts = sent + errors
    return {
        "notices_sent": sent,
        "errors": errors,
        "error_rate": errors / attempts if attempts else 0.0,
        "hard_bounces": 0,
        "soft_bounces": 0,
        "dlq_depth": 0,
        "retry_depth": 0,
        **extra,
    }


def split_kpis(canary: tuple[int, int], control: tuple[int, int]) -> dict[str, Any]:
    """A KPI file whose totals are the sum of a canary and a control cohort (errors, sent)."""
    errors, sent = canary[0] + control[0], canary[1] + control[1]
    return {
        **cohort(errors, sent),
        "cohorts": {"canary": cohort(*canary), "control": cohort(*control)},
    }
