"""The pytest entry point ``canary``: options, hookspecs and the switch that activates a run.

Installed, this module is imported by every pytest run, so it imports nothing heavy: the real work
loads only when ``--canary-tenant`` is given. Then the run's plugins are registered and kept in
``config.stash``: :class:`~pytest_canary.plugin.collection.CanaryCollection` on every process,
:class:`~pytest_canary.plugin.collection.CanaryWorker` on an xdist worker and
:class:`~pytest_canary.plugin.controller.CanaryController` on the controller only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_canary.store.setting_names import HELP_DATE, HELP_GATES, HELP_ROOT, INI_GATES, INI_ROOT

if TYPE_CHECKING:
    from pytest_canary.core.case import Case
    from pytest_canary.core.models import BlocklistSummary, Kpis, OperateState
    from pytest_canary.plugin.collection import CanaryCollection, CanaryWorker
    from pytest_canary.plugin.controller import CanaryController

HELP_TENANT = "decide this tenant (repeatable); 'all' selects every tenant folder under the root"
HELP_ROLLOUT = "apply each decision after deciding (the full daily cycle)"
HELP_DRY_RUN = "decide and report, but write nothing under the root"
_SECONDARY = ("canary_date", "canary_root", "canary_gates", "canary_rollout", "canary_dry_run")
COLLECTION_KEY: pytest.StashKey[CanaryCollection] = pytest.StashKey()
CONTROLLER_KEY: pytest.StashKey[CanaryController] = pytest.StashKey()
_WORKER_KEY: pytest.StashKey[CanaryWorker] = pytest.StashKey()
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
    """Declare the ``--canary-*`` options and the ``canary_root`` and ``canary_gates`` ini keys."""
    group = parser.getgroup("canary", "canary rollout gates")
    group.addoption(
        "--canary-tenant", action="append", default=[], metavar="TENANT", help=HELP_TENANT
    )
    group.addoption("--canary-date", default=None, metavar="YYYY-MM-DD", help=HELP_DATE)
    group.addoption("--canary-root", default=None, metavar="PATH", help=HELP_ROOT)
    group.addoption("--canary-gates", default=None, metavar="PATH", help=HELP_GATES)
    group.addoption("--canary-rollout", action="store_true", default=False, help=HELP_ROLLOUT)
    group.addoption("--canary-dry-run", action="store_true", default=False, help=HELP_DRY_RUN)
    parser.addini(INI_ROOT, HELP_ROOT, default=None)
    parser.addini(INI_GATES, HELP_GATES, default=None)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Stay inert unless a tenant is selected; then register the run's plugins."""
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
    from pytest_canary.plugin.cases import Cases
    from pytest_canary.plugin.collection import CanaryCollection, CanaryWorker
    from pytest_canary.plugin.controller import CanaryController
    from pytest_canary.plugin.ledger import Ledger
    from pytest_canary.plugin.options import RunOptions

    try:
        options = RunOptions.from_config(config)
        cases = Cases(config, options)
    except CanaryUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    ledger = Ledger()
    collection = CanaryCollection(options, cases, ledger)
    config.stash[COLLECTION_KEY] = collection
    config.pluginmanager.register(collection)
    if hasattr(config, "workerinput"):
        worker = CanaryWorker(config, ledger)
        config.stash[_WORKER_KEY] = worker
        config.pluginmanager.register(worker)
    else:
        controller = CanaryController(config, options, cases, ledger)
        config.stash[CONTROLLER_KEY] = controller
        config.pluginmanager.register(controller)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Unregister the run's plugins, as pytest's own junitxml does with its writer."""
    _unregister(config, CONTROLLER_KEY)
    _unregister(config, _WORKER_KEY)
    _unregister(config, COLLECTION_KEY)


def _unregister(config: pytest.Config, key: pytest.StashKey[Any]) -> None:
    plugin = config.stash.get(key, None)
    if plugin is not None:
        del config.stash[key]
        config.pluginmanager.unregister(plugin)


@pytest.fixture
def canary_tenant(request: pytest.FixtureRequest) -> str:
    """The tenant a custom gate judges; custom gates run once per selected tenant."""
    param = getattr(request, "param", None)
    if param is None:
        pytest.skip("canary gates run only with --canary-tenant")
    return str(param)


def _case(request: pytest.FixtureRequest, tenant: str) -> Case:
    return request.config.stash[COLLECTION_KEY].cases.case(tenant)


@pytest.fixture
def canary_kpis(request: pytest.FixtureRequest, canary_tenant: str) -> Kpis | None:
    """The tenant's validated KPIs (``pytest_canary.core.models.Kpis``), ``None`` when invalid."""
    return _case(request, canary_tenant).kpis.model


@pytest.fixture
def canary_state(request: pytest.FixtureRequest, canary_tenant: str) -> OperateState | None:
    """The tenant's operate state (``OperateState``), ``None`` when missing or corrupt."""
    return _case(request, canary_tenant).state.state


@pytest.fixture
def canary_thresholds(request: pytest.FixtureRequest, canary_tenant: str) -> dict[str, float]:
    """The tenant's effective thresholds, ``{gate: value}``."""
    gates = _case(request, canary_tenant).gates
    return {spec.name: spec.threshold for spec in gates.gates}


@pytest.fixture
def canary_blocklist(request: pytest.FixtureRequest, canary_tenant: str) -> BlocklistSummary | None:
    """A summary of the tenant's blocklist (``BlocklistSummary``: counts, never addresses)."""
    return _case(request, canary_tenant).blocklist.summary
