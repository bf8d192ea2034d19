"""One canary run inside pytest: gates become items, reports become decisions.

Registered by :mod:`pytest_canary.plugin` only when ``--canary-tenant`` is given. Under xdist every
worker collects and runs items; only the controller decides, writes and rolls out, from the
reports it receives and the list of gates each worker expected to run.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_canary.core import engine
from pytest_canary.core.engine import Case
from pytest_canary.core.errors import CanaryUsageError, RolloutRefused
from pytest_canary.core.jsonfile import canonical_json, sha256_hex
from pytest_canary.core.models import Decision, GateResult, RolloutLog
from pytest_canary.core.tenants import validate_tenant_id
from pytest_canary.plugin.items import GateItem, build_items
from pytest_canary.plugin.ledger import (
    MESSAGE_KEY,
    STATUS_KEY,
    Expected,
    Ledger,
    custom_status,
    expected_of,
)
from pytest_canary.render import github, report, trend
from pytest_canary.store.decisions import record_decision
from pytest_canary.store.gates import GateConfig, gate_files
from pytest_canary.store.layout import TenantPaths, list_tenants
from pytest_canary.store.lock import LOCK_TIMEOUT
from pytest_canary.store.readers import (
    kpi_history,
    kpis_from_object,
    read_blocklist,
    read_kpis,
    read_state,
)
from pytest_canary.store.settings import now_berlin, parse_date, resolve_root, trace_id

_VALID_SEVERITIES = ("hold", "backout")


class CanaryRun:
    """The active plugin of one canary run."""

    PLUGIN_NAME = "canary-run"

    def __init__(
        self,
        config: pytest.Config,
        *,
        root: Path,
        tenants: list[str],
        date: dt.date,
        trace: str,
        gates: GateConfig,
        gates_id: str,
        gates_path: Path,
    ) -> None:
        self.config = config
        self.root = root
        self.tenants = tenants
        self.date = date
        self.trace_id = trace
        self.gates = gates
        self.gates_id = gates_id
        self.gates_path = gates_path
        self.started = now_berlin()
        self.rollout = bool(config.getoption("canary_rollout"))
        self.dry_run = bool(config.getoption("canary_dry_run"))
        self.is_worker = hasattr(config, "workerinput")
        self.ledger = Ledger()
        self.decisions: list[Decision] = []
        self.rollouts: dict[str, RolloutLog] = {}
        self.problems: list[str] = []
        self._paths = {tenant: TenantPaths.open(root, tenant) for tenant in tenants}
        for paths in self._paths.values():  # the KPI file too: a link out of the root is refused
            paths.check(paths.kpi(date))
        self._cases: dict[str, Case] = {}
        self._results: dict[str, dict[str, GateResult]] = {}

    @classmethod
    def start(cls, config: pytest.Config) -> CanaryRun:
        _refuse_path_taken_for_rootdir(config)
        environ = os.environ
        cwd = config.invocation_params.dir
        rootdir = config.rootpath
        worker: dict[str, Any] = getattr(config, "workerinput", {})
        root = resolve_root(
            config.getoption("canary_root"), environ, config.getini("canary_root"), cwd, rootdir
        )
        date = parse_date(worker.get("canary_date") or config.getoption("canary_date"))
        trace = worker.get("canary_trace_id") or trace_id(environ)
        tenants = _select_tenants(config.getoption("canary_tenant"), root)
        gates_option = config.getoption("canary_gates")
        if gates_option:
            gates_path = cwd / gates_option
            if not gates_path.exists():
                raise CanaryUsageError(f"--canary-gates {gates_option}: no such file or folder")
        else:
            gates_path = rootdir / "gates"
        files = gate_files(gates_path) if gates_path.exists() else []
        if gates_option and gates_path.is_dir() and not any(gates_path.iterdir()):
            # Named on purpose but empty: a typo or a failed checkout, not "the built-in gates".
            raise CanaryUsageError(f"--canary-gates {gates_option}: an empty folder, no gates")
        display = {path: _relative(path, rootdir) for path in files}
        gate_config = GateConfig.load(files, display)
        for tenant in tenants:  # a bad CANARY_THRESHOLD_* is a usage error now, not mid-collection
            gate_config.for_tenant(tenant, environ)
        if len(files) == 1:
            gates_id, node_path = display[files[0]], files[0]
        elif files:
            gates_id, node_path = _relative(gates_path, rootdir), gates_path
        else:
            gates_id, node_path = "pytest_canary/mahnwesen.toml", rootdir
        if config.args_source != pytest.Config.ArgsSource.ARGS:
            # A tenant and no paths: collect the gates only, not the project's other tests.
            config.args = [str(gates_path if gates_path.is_dir() else _builtin_dir())]
        return cls(
            config,
            root=root,
            tenants=tenants,
            date=date,
            trace=trace,
            gates=gate_config,
            gates_id=gates_id,
            gates_path=node_path,
        )

    # --- per-tenant evaluation, once per process --------------------------------------------

    def case(self, tenant: str) -> Case:
        cached = self._cases.get(tenant)
        if cached is not None:
            return cached
        paths = self._paths[tenant]
        gates = self.gates.for_tenant(tenant, os.environ)
        hooked = self.config.hook.pytest_canary_load_kpis(
            tenant=tenant, date=self.date, config=self.config
        )
        if hooked is not None:
            where = f"pytest_canary_load_kpis({tenant}, {self.date})"
            raw_sha = sha256_hex(canonical_json(hooked)) if _jsonable(hooked) else None
            kpis = kpis_from_object(hooked, where, tenant, self.date, raw_sha)
        else:
            kpis = read_kpis(paths.kpi(self.date), tenant, self.date)
        case = Case(
            tenant=tenant,
            date=self.date,
            kpis=kpis,
            blocklist=read_blocklist(paths.blocklist, self.date),
            state=read_state(paths.state, tenant, gates.steps),
            gates=gates,
            trace_id=self.trace_id,
            created_at=self.started,
        )
        self._cases[tenant] = case
        return case

    def result(self, tenant: str, gate: str) -> GateResult:
        results = self._results.get(tenant)
        if results is None:
            results = {r.name: r for r in engine.evaluate_gates(self.case(tenant))}
            self._results[tenant] = results
        return results[gate]

    def _shadow(self, tenant: str, gate: str) -> bool:
        """Whether a built-in item is a shadow gate, from the gate set: no input is read."""
        spec = self.gates.for_tenant(tenant, os.environ).get(gate)
        return spec is not None and spec.shadow  # inputs and kill_switch are never shadows

    def _gate_names(self, tenant: str) -> list[str]:
        specs = self.gates.for_tenant(tenant, os.environ).gates
        return ["inputs", "kill_switch", *(spec.name for spec in specs)]

    # --- hooks, in lifecycle order --------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Give every xdist worker the controller's date and trace id: one run, one date."""
        node.workerinput["canary_date"] = self.date.isoformat()
        node.workerinput["canary_trace_id"] = self.trace_id

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run each ``canary_gate`` function once per selected tenant."""
        marker = metafunc.definition.get_closest_marker("canary_gate")
        if marker is None:
            return
        severity = marker.kwargs.get("severity", "hold")
        if severity not in _VALID_SEVERITIES:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid}: canary_gate severity={severity!r};"
                " use 'hold' or 'backout'"
            )
        if "canary_tenant" not in metafunc.fixturenames:
            metafunc.fixturenames.append("canary_tenant")
        metafunc.parametrize("canary_tenant", self.tenants, ids=self.tenants, indirect=True)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, items: list[pytest.Item]
    ) -> Generator[None]:
        """Add the built-in gate items, and remember every gate before any deselection."""
        builtins = build_items(
            session, self.gates_id, self.gates_path, self.tenants, self._gate_names, self.result
        )
        items[:0] = builtins
        # Announce the injected items like any collected ones, so "collected N items" counts them.
        session.ihook.pytest_collectreport(
            report=pytest.CollectReport(self.gates_id, "passed", None, list(builtins))
        )
        for item in items:
            expected = expected_of(item, self._shadow)
            if expected is not None:
                self.ledger.expect(item.nodeid, expected)
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Turn a custom gate's outcome into a verdict: assertion = its severity, else error."""
        report = yield
        if isinstance(item, GateItem):  # first: the marker lookup walks the node chain
            return report
        marker = item.get_closest_marker("canary_gate")
        if marker is None:
            return report
        if report.when == "call" or (report.when == "setup" and not report.passed):
            status = custom_status(report, call, marker.kwargs.get("severity", "hold"))
            line = ""
            if report.failed:
                word = "BACKOUT" if status == "backout" else "HOLD"
                first = str(call.excinfo.value).strip().splitlines() if call.excinfo else []
                callspec = getattr(item, "callspec", None)
                tenant = callspec.params.get("canary_tenant", "?") if callspec else "?"
                name = getattr(item, "originalname", item.name)
                line = f"{word}: {name} [{tenant}] ({status}): {first[0] if first else 'failed'}"
                if marker.kwargs.get("shadow", False):
                    report.outcome = "skipped"
                    report.wasxfail = f"SHADOW (not counted) {line}"
                else:
                    report.longrepr = f"{line}\n\n{report.longrepr}"
            report.user_properties.append((STATUS_KEY, status))
            report.user_properties.append((MESSAGE_KEY, line))
        return report

    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> None:
        """A custom gate cannot judge invalid KPIs: fail it in the call phase, as an error."""
        if pyfuncitem.get_closest_marker("canary_gate") is None:
            return
        tenant = pyfuncitem.callspec.params.get("canary_tenant")
        kpis = self.case(str(tenant)).kpis
        if kpis.model is None:
            raise RuntimeError(f"KPI input invalid, gate cannot judge: {kpis.problems()[0]}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect each gate's verdict, from this process or from an xdist worker."""
        if not self.is_worker:
            self.ledger.record(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Learn from a finished worker which gates it expected to run."""
        expected = getattr(node, "workeroutput", {}).get("canary_expected", {})
        for nodeid, values in expected.items():
            self.ledger.expect(nodeid, Expected(*values))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Decide every tenant once, on the controller; write, roll out, set the exit status."""
        if self.is_worker:
            workeroutput: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
            workeroutput["canary_expected"] = {
                nodeid: exp.as_list() for nodeid, exp in self.ledger.expected.items()
            }
            return
        if len(self.tenants) > report.TERMINAL_FULL_LIMIT and self.config.option.tbstyle == "auto":
            # pytest builds its failures section in O(failures x items), minutes at 10,000
            # tenants, and a gate's section only repeats its one line, which the short summary
            # and JUnit (its reports are made by now) carry anyway: a large run leaves it out.
            self.config.option.tbstyle = "no"
        if exitstatus not in (
            pytest.ExitCode.OK,
            pytest.ExitCode.TESTS_FAILED,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            return  # interrupted, internal or usage error: no decision from a broken run
        if self.config.option.collectonly:
            return  # listing the gates judges nothing: no decision, no file
        for tenant in self.tenants:
            self._finish_tenant(tenant)
            # Decided: its inputs and verdicts are not read again, and 10,000 tenants' worth of
            # them would otherwise stay in memory until the run ends.
            self._cases.pop(tenant, None)
            self._results.pop(tenant, None)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()  # after the progress dots: a workflow command starts a line
        github.emit_from_env(self.decisions, self.rollouts, os.environ, _print_line)
        all_go = all(d.is_go for d in self.decisions) and not self.problems
        session.exitstatus = (
            pytest.ExitCode.OK
            if all_go and not self._other_failures()
            else pytest.ExitCode.TESTS_FAILED
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """List each tenant's decision, quota before → after and reasons."""
        if self.is_worker or not self.decisions:
            return
        terminalreporter.section("canary")
        for line in report.terminal_lines(self.decisions, self.rollouts):
            terminalreporter.write_line(line)
        for line in self.problems:
            terminalreporter.write_line(line, red=True)

    # --- helpers ------------------------------------------------------------------------------

    def _finish_tenant(self, tenant: str) -> None:
        case = self.case(tenant)
        custom, missing = self.ledger.custom_results(tenant)
        missing.extend(self._disagreements(tenant))
        decision = engine.decide(case, custom, missing)
        self.decisions.append(decision)
        paths = self._paths[tenant]
        if not self.dry_run:
            try:
                earlier = kpi_history(paths, decision.date, trend.TREND_DAYS)
                chart = trend.decision_trend(decision, earlier)
                markdown = report.decision_markdown(decision, trend=chart)
                record_decision(paths, decision, markdown)
            except (OSError, RolloutRefused, CanaryUsageError) as exc:
                self.problems.append(f"{tenant}: decision not written: {exc}")
                return
        self.config.hook.pytest_canary_decision(decision=decision, config=self.config)
        if self.rollout and not self.dry_run:
            from pytest_canary.ops.rollout import DEFAULT_MAX_AGE, apply_decision

            try:
                log = apply_decision(
                    paths,
                    decision,
                    steps=list(case.gates.steps),
                    now=now_berlin(),
                    max_age=DEFAULT_MAX_AGE,
                    lock_timeout=LOCK_TIMEOUT,
                )
            except (RolloutRefused, CanaryUsageError, OSError) as exc:
                self.problems.append(f"{tenant}: rollout refused: {exc}")
                return
            self.rollouts[tenant] = log
            self.config.hook.pytest_canary_rollout(result=log, config=self.config)

    def _disagreements(self, tenant: str) -> list[str]:
        """Built-in gates whose reported verdict differs from the controller's (an input changed)."""
        names = []
        for nodeid, exp in self.ledger.of_tenant(tenant):
            if exp.kind == "custom" or nodeid not in self.ledger.statuses:
                continue
            if self.ledger.statuses[nodeid][0] != self.result(tenant, exp.gate).status:
                names.append(exp.gate)
        return names

    def _other_failures(self) -> bool:
        """Whether a test that is not a gate failed (the ledger records every failed report)."""
        return any(
            status == "error" and nodeid not in self.ledger.expected
            for nodeid, (status, _) in self.ledger.statuses.items()
        )


def _print_line(line: str) -> None:
    sys.stdout.write(line + "\n")


def _jsonable(value: Any) -> bool:
    try:
        canonical_json(value)
    except (TypeError, ValueError):
        return False
    return True


def _relative(path: Path, rootdir: Path) -> str:
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _refuse_path_taken_for_rootdir(config: pytest.Config) -> None:
    """Refuse a run whose rootdir pytest took from a ``--canary-root PATH`` written as two words.

    pytest picks its rootdir and ini file before plugin options are known, so the value of
    ``--canary-root /elsewhere`` looks like a test path: the project's ini file, its ``gates/``
    and its cache would silently be chosen from there. ``--canary-root=/elsewhere`` is read right.
    Without that path the rootdir would be the working directory or hold the ini file above it.
    """
    args = list(config.invocation_params.args)
    if any(a.startswith(("--rootdir", "-c", "--config-file", "--inifile")) for a in args):
        return  # chosen explicitly: nothing was guessed from our paths
    cwd = config.invocation_params.dir.resolve()
    inipath = config.inipath
    if inipath is None:
        guessed = config.rootpath.resolve() != cwd
    else:
        folder = inipath.resolve().parent
        guessed = folder != cwd and folder not in cwd.parents
    if not guessed:
        return
    for flag in ("--canary-root", "--canary-gates"):
        if flag in args and args.index(flag) + 1 < len(args):
            value = args[args.index(flag) + 1]
            if (cwd / value).exists():
                raise CanaryUsageError(
                    f"{flag} {value}: pytest took this path for a test path when it chose its"
                    f" rootdir ({config.rootpath}); write {flag}={value}"
                )


def _builtin_dir() -> Path:
    return Path(__file__).parent.parent / "data"


def _select_tenants(given: list[str], root: Path) -> list[str]:
    if "all" in given:
        tenants = list_tenants(root)
        if not tenants:
            raise CanaryUsageError(f"--canary-tenant all: no tenant folders under {root}")
        return tenants
    return list(dict.fromkeys(validate_tenant_id(t) for t in given))
