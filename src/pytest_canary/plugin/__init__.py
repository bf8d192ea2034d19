"""The pytest entry point ``canary``: options, hookspecs and the switch that activates a run.

Installed, this module is imported by every pytest run, so it imports nothing heavy: the real work
lives in :mod:`pytest_canary.plugin.run` and loads only when ``--canary-tenant`` is given.
"""

from __future__ import annotations

from typing import Any

import pytest

HELP_TENANT = "decide this tenant (repeatable); 'all' selects every tenant folder under the root"
HELP_DATE = "KPI date as YYYY-MM-DD (default: today in Europe/Berlin)"
HELP_ROOT = "canary root (default: env CANARY_ROOT, ini canary_root, artifacts/reports/mahnwesen)"
HELP_GATES = (
    "gate file or folder of *.toml gate files (default: gates/ when present, else built-in)"
)
HELP_ROLLOUT = "apply each decision after deciding (the full daily cycle)"
HELP_DRY_RUN = "decide and report, but write nothing under the root"
_SECONDARY = ("canary_date", "canary_root", "canary_gates", "canary_rollout", "canary_dry_run")
_FLAGS = {
    "canary_date": "--canary-date",
    "canary_root": "--canary-root",
    "canary_gates": "--canary-gates",
    "canary_rollout": "--canary-rollout",
    "canary_dry_run": "--canary-dry-run",
}


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register the plugin's own hookspecs so that conftests can implement them."""
    from pytest_canary.plugin import hookspecs as hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the ``--canary-*`` options and the ``canary_root`` ini key."""
    group = parser.getgroup("canary", "canary rollout gates")
    group.addoption(
        "--canary-tenant", action="append", default=[], metavar="TENANT", help=HELP_TENANT
    )
    group.addoption("--canary-date", default=None, metavar="YYYY-MM-DD", help=HELP_DATE)
    group.addoption("--canary-root", default=None, metavar="PATH", help=HELP_ROOT)
    group.addoption("--canary-gates", default=None, metavar="PATH", help=HELP_GATES)
    group.addoption("--canary-rollout", action="store_true", default=False, help=HELP_ROLLOUT)
    group.addoption("--canary-dry-run", action="store_true", default=False, help=HELP_DRY_RUN)
    parser.addini("canary_root", HELP_ROOT, default=None)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Stay inert unless a tenant is selected; then hand the run to :class:`CanaryRun`."""
    config.addinivalue_line(
        "markers",
        'canary_gate(severity="hold", shadow=False): a custom canary gate, run once per tenant',
    )
    if not config.getoption("canary_tenant"):
        stray = [_FLAGS[name] for name in _SECONDARY if config.getoption(name)]
        if stray:
            raise pytest.UsageError(f"{stray[0]} needs --canary-tenant (no tenant selected)")
        return
    from pytest_canary.core.errors import CanaryUsageError
    from pytest_canary.plugin.run import CanaryRun

    try:
        run = CanaryRun.start(config)
    except CanaryUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(run, CanaryRun.PLUGIN_NAME)


@pytest.fixture
def canary_tenant(request: pytest.FixtureRequest) -> str:
    """The tenant a custom gate judges; custom gates run once per selected tenant."""
    param = getattr(request, "param", None)
    if param is None:
        pytest.skip("canary gates run only with --canary-tenant")
    return str(param)


def _run(request: pytest.FixtureRequest) -> Any:
    return request.config.pluginmanager.get_plugin("canary-run")


@pytest.fixture
def canary_kpis(request: pytest.FixtureRequest, canary_tenant: str) -> Any:
    """The tenant's validated KPIs (``pytest_canary.core.models.Kpis``), ``None`` when invalid."""
    return _run(request).case(canary_tenant).kpis.model


@pytest.fixture
def canary_state(request: pytest.FixtureRequest, canary_tenant: str) -> Any:
    """The tenant's operate state (``OperateState``), ``None`` when missing or corrupt."""
    return _run(request).case(canary_tenant).state.state


@pytest.fixture
def canary_thresholds(request: pytest.FixtureRequest, canary_tenant: str) -> dict[str, float]:
    """The tenant's effective thresholds, ``{gate: value}``."""
    gates = _run(request).case(canary_tenant).gates
    return {spec.name: spec.threshold for spec in gates.gates}


@pytest.fixture
def canary_blocklist(request: pytest.FixtureRequest, canary_tenant: str) -> Any:
    """A summary of the tenant's blocklist (``BlocklistSummary``: counts, never addresses)."""
    return _run(request).case(canary_tenant).blocklist.summary
