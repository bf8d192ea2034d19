"""A canary run's settings, resolved once from pytest's options, the environment and the ini file.

The same on every process: an xdist worker takes the controller's date and trace id from its
``workerinput``, so one run judges one day under one trace id.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.tenants import validate_tenant_id
from pytest_canary.store.gate_env import gate_variables
from pytest_canary.store.gates import GateConfig, gate_files
from pytest_canary.store.layout import list_tenants
from pytest_canary.store.settings import Project, parse_date, trace_id


@dataclass(frozen=True)
class RunOptions:
    """What one canary run judges, where, and what it may write."""

    root: Path
    tenants: list[str]
    date: dt.date
    trace_id: str
    gates: GateConfig
    gates_id: str
    """The node id of the gate set: a gate file, a folder of them, or the built-ins."""
    gates_path: Path
    rollout: bool
    dry_run: bool
    gate_env: dict[str, str]
    """The run's ``CANARY_THRESHOLD_*`` and ``CANARY_BACKOUT_FACTOR``, taken once."""

    @classmethod
    def from_config(cls, config: pytest.Config) -> RunOptions:
        """Resolve the options (option → env → ini); a bad one is a :class:`CanaryUsageError`."""
        _refuse_path_taken_for_rootdir(config)
        environ = os.environ
        rootdir = config.rootpath
        project = Project.of(config)
        worker: dict[str, Any] = getattr(config, "workerinput", {})
        root = project.root(config.getoption("canary_root"), "--canary-root")
        # A worker takes the controller's date as it is: fixed once per run, checked once.
        given = worker.get("canary_date")
        date = (
            dt.date.fromisoformat(given) if given else parse_date(config.getoption("canary_date"))
        )
        trace = worker.get("canary_trace_id") or trace_id(environ)
        tenants = _select_tenants(config.getoption("canary_tenant"), root)
        gates_path = project.gates(config.getoption("canary_gates"), "--canary-gates")
        files = gate_files(gates_path)
        display = {path: _relative(path, rootdir) for path in files}
        gate_config = GateConfig.load(files, display)
        gate_env = gate_variables(environ)
        for tenant in tenants:  # a bad CANARY_THRESHOLD_* is a usage error now, not mid-collection
            gate_config.for_tenant(tenant, gate_env)
        if len(files) == 1:
            gates_id, node_path = display[files[0]], files[0]
        elif files and gates_path is not None:
            gates_id, node_path = _relative(gates_path, rootdir), gates_path
        else:
            gates_id, node_path = "pytest_canary/mahnwesen.toml", rootdir
        if config.args_source != pytest.Config.ArgsSource.ARGS:
            # A tenant and no paths: collect the gates only, not the project's other tests.
            config.args = [
                str(gates_path if gates_path and gates_path.is_dir() else _builtin_dir())
            ]
        return cls(
            root=root,
            tenants=tenants,
            date=date,
            trace_id=trace,
            gates=gate_config,
            gates_id=gates_id,
            gates_path=node_path,
            rollout=bool(config.getoption("canary_rollout")),
            dry_run=bool(config.getoption("canary_dry_run")),
            gate_env=gate_env,
        )


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
