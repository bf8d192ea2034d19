"""Hookspecs of pytest-canary, registered through ``pytest_addhooks``."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_canary.core.records import Decision, RolloutLog


@pytest.hookspec(firstresult=True)
def pytest_canary_load_kpis(tenant: str, date: dt.date, config: pytest.Config) -> Any:
    """Return one tenant's KPI object (a dict, as the KPI file would hold) from another source.

    The first non-``None`` result wins; ``None`` everywhere falls back to the KPI file. The result is
    validated exactly like the file.
    """


@pytest.hookspec
def pytest_canary_decision(decision: Decision, config: pytest.Config) -> None:
    """Called on the controller once per tenant, after its decision is made (and written)."""


@pytest.hookspec
def pytest_canary_rollout(result: RolloutLog, config: pytest.Config) -> None:
    """Called on the controller once per tenant after ``--canary-rollout`` applied its decision."""
