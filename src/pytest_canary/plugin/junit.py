"""The canary run in pytest's own JUnit XML (``--junitxml``): cases grouped by tenant, and each
tenant's decision a property of the test suite that a dashboard can filter on.

pytest names a case's class after its node id (``gates.mahnwesen.toml.acme``), which viewers that
split class names on dots show as four nested levels. A canary case's class is ``canary.<tenant>``
instead, whatever gate file or custom gate module it comes from. pytest has no public hook for a
case's attributes, so this module is the one place that reaches into its junitxml plugin.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from _pytest.junitxml import xml_key

from pytest_canary.core.records import Decision

TENANT_KEY = "canary_tenant"
"""The user property that names a gate item's tenant (also a ``<property>`` of its case)."""


def classname(tenant: str) -> str:
    return f"canary.{tenant}"


def decision_property(tenant: str) -> str:
    return f"canary.{tenant}.decision"


def group_by_tenant(config: pytest.Config, report: pytest.TestReport) -> None:
    """Give a gate's case the class of its tenant, before pytest's writer records the report."""
    xml = config.stash.get(xml_key, None)
    tenant = dict(report.user_properties).get(TENANT_KEY)
    if xml is not None and tenant is not None:
        xml.node_reporter(report).add_attribute("classname", classname(str(tenant)))


def record_decisions(config: pytest.Config, decisions: Iterable[Decision]) -> None:
    """``<property name="canary.acme.decision" value="HOLD"/>`` per tenant in the suite."""
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    for decision in decisions:
        xml.add_global_property(decision_property(decision.tenant), decision.decision)
