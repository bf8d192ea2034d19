"""Options and their readers shared by several commands: root, tenants, dates, gates, lock wait."""

from __future__ import annotations

import argparse
import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.store import setting_names, settings
from pytest_canary.store.settings import LOCK_TIMEOUT

if TYPE_CHECKING:  # the commands import what they use: building the parser stays light
    from pytest_canary.store.gates import GateConfig
    from pytest_canary.store.layout import TenantPaths

ROOT_HELP = setting_names.HELP_ROOT
TODAY_HELP = setting_names.HELP_TODAY
DATE_HELP = setting_names.HELP_DATE


def add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", help=ROOT_HELP)


def add_gates(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gates", help=setting_names.HELP_GATES)


def add_lock_timeout(parser: argparse.ArgumentParser) -> None:
    """The seconds a writer waits for the state lock: hidden, tests shorten it."""
    parser.add_argument("--lock-timeout", type=float, default=LOCK_TIMEOUT, help=argparse.SUPPRESS)


def add_selection(parser: argparse.ArgumentParser, *, default_all: bool) -> None:
    """``--tenant`` or ``--all`` (required unless ``default_all``), and ``--root``."""
    group = parser.add_mutually_exclusive_group(required=not default_all)
    group.add_argument("--tenant", help="one tenant id ('all' is the same as --all)")
    group.add_argument("--all", action="store_true", help="every tenant folder under the root")
    add_root(parser)


def root(args: argparse.Namespace) -> Path:
    """``--root``, else env ``CANARY_ROOT``, else ini ``canary_root``, else the default."""
    return settings.Project.discover().root(args.root)


def tenants(root: Path, tenant: str | None, every: bool) -> list[TenantPaths]:
    """The selected tenants' folders: one id, or every tenant folder for ``all``."""
    from pytest_canary.core.tenants import validate_tenant_id
    from pytest_canary.store.layout import TenantPaths, list_tenants

    if every or tenant in (None, "all"):
        names = list_tenants(root)
        if not names:
            raise CanaryUsageError(f"no tenant folders under {root}")
    else:
        names = [validate_tenant_id(str(tenant))]
    return [TenantPaths.open(root, name) for name in names]


def today(text: str | None) -> dt.date:
    return settings.parse_date(text, "--today")


def gates(option: str | None) -> Path | None:
    """``--gates``, else env ``CANARY_GATES``, else ini ``canary_gates``, else ``gates/`` when
    it exists; ``None`` for the built-in gates. A named path that is not there is a usage error."""
    return settings.Project.discover().gates(option)


def gate_config(option: str | None) -> GateConfig:
    """The gates :func:`gates` names, loaded."""
    from pytest_canary.store.gates import GateConfig, gate_files

    return GateConfig.load(gate_files(gates(option)))


def check_lock_timeout(seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds >= 0):
        raise CanaryUsageError(f"--lock-timeout {seconds:g}: must be a number of seconds >= 0")
    return seconds
