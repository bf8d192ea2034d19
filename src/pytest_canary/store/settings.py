"""Settings of one run, each resolved in one place with errors that name where a value came from.

The plugin and every ``canary`` command resolve the root, the gates and the run date here, the
same way. A path comes from the option, else its env variable, else its ini key, else its
default; a relative option or env value is taken from the working directory, a relative ini value
or default from the project folder (pytest's rootdir: the folder of the ini file pytest finds).

============  ==========================  ===============  ================  =============================
setting       option                      env              ini               default
============  ==========================  ===============  ================  =============================
root          ``--canary-root/--root``    ``CANARY_ROOT``  ``canary_root``   ``artifacts/reports/mahnwesen``
gates         ``--canary-gates/--gates``  ``CANARY_GATES`` ``canary_gates``  ``gates`` (built-in if absent)
============  ==========================  ===============  ================  =============================

A run date is a real day from :data:`EARLIEST` to today in Europe/Berlin: no command acts on the
future, and no date is so early that counting days back from it leaves the calendar.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.store.setting_names import (
    DEFAULT_GATES,
    DEFAULT_ROOT,
    EARLIEST,
    ENV_GATES,
    ENV_ROOT,
    ENV_TRACE,
    INI_GATES,
    INI_KEYS,
    INI_ROOT,
)

if TYPE_CHECKING:  # the plugin's entry point imports this module: pytest only where it is used
    import pytest

BERLIN = ZoneInfo("Europe/Berlin")
LOCK_TIMEOUT = 30.0
"""Seconds a writer waits for the tenant's state lock before it refuses (the lock lives in
``store.lock``; the default is here so the CLI's parser can name it without importing pydantic)."""
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRACE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Project:
    """Where relative settings are taken from, and what the project's ini file says."""

    cwd: Path
    rootdir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    ini: Mapping[str, str] = field(default_factory=dict)
    ini_name: str = "ini"

    @classmethod
    def of(cls, config: pytest.Config) -> Project:
        """The project of a pytest run: its working directory, rootdir and ini values."""
        ini = {key: str(value) for key in INI_KEYS if (value := config.getini(key))}
        name = config.inipath.name if config.inipath else "ini"
        return cls(config.invocation_params.dir, config.rootpath, os.environ, ini, name)

    @classmethod
    def discover(cls) -> Project:
        """The project of the working directory: rootdir and ini file as ``pytest`` finds them.

        pytest's own lookup, so that ``canary rollout`` and ``pytest -p canary`` run from the
        same folder agree on the root and the gates. Conftests are not imported: only ini values.
        """
        import pytest

        # Only the ini file matters here: no other plugin, no conftest, no required_plugins.
        argv = ["--disable-plugin-autoload", "-p", "canary", "-p", "no:cacheprovider"]
        argv += ["--noconftest", "-o", "required_plugins="]
        try:
            return cls.of(pytest.Config.fromdictargs({}, argv))
        except pytest.UsageError as exc:
            raise CanaryUsageError(f"reading the pytest configuration: {exc}") from None

    def _locate(self, option: str | None, flag: str, env: str, ini: str) -> tuple[Path, str]:
        """The path a setting names and where it was named (``""``: nowhere, the default)."""
        if option:
            return self.cwd / option, f"{flag} {_shown(option)}"
        if self.environ.get(env):
            return self.cwd / self.environ[env], f"env {env}={_shown(self.environ[env])}"
        if self.ini.get(ini):
            return self.rootdir / self.ini[
                ini
            ], f"ini {ini} = {_shown(self.ini[ini])} ({self.ini_name})"
        return self.rootdir, ""

    def root(self, option: str | None, flag: str = "--root") -> Path:
        """The canary root, which must be an existing folder; resolved (links followed)."""
        path, named = self._locate(option, flag, ENV_ROOT, INI_ROOT)
        if not named:
            path, named = path / DEFAULT_ROOT, "the default root"
        if not path.is_dir():
            raise CanaryUsageError(
                f"{named}: {_shown(path)} is not a folder (the canary root holds one per tenant)"
            )
        return path.resolve()

    def gates(self, option: str | None, flag: str = "--gates") -> Path | None:
        """The gate file or folder, ``None`` for the built-in gates (no ``gates/`` folder).

        A path that was named (option, env or ini) must exist and, if a folder, hold something:
        a typo or a failed checkout is never taken for "the built-in gates".
        """
        path, named = self._locate(option, flag, ENV_GATES, INI_GATES)
        if not named:
            default = path / DEFAULT_GATES
            return default if default.is_dir() else None
        if not path.exists():
            where = "" if named.endswith(_shown(path)) else f" ({_shown(path)})"
            raise CanaryUsageError(f"{named}: no such file or folder{where}")
        if path.is_dir() and not any(path.iterdir()):
            raise CanaryUsageError(f"{named}: an empty folder, no gates")
        return path


def _shown(path: Path | str) -> str:
    """A path for a one-line message: as it is, or escaped when it holds a newline or the like."""
    text = str(path)
    return text if text.isprintable() else ascii(text)


def today_berlin(now: dt.datetime | None = None) -> dt.date:
    """Today in Europe/Berlin (``now`` when given, else the clock)."""
    return (now or dt.datetime.now(BERLIN)).astimezone(BERLIN).date()


def parse_date(
    text: str | None, source: str = "--canary-date", today: dt.date | None = None
) -> dt.date:
    """A ``YYYY-MM-DD`` day from :data:`EARLIEST` to ``today`` (the clock's when not given);
    ``today`` itself when ``text`` is empty. Anything else is a usage error naming ``source``."""
    latest = today or today_berlin()
    if not text:
        return latest
    if not _DATE.fullmatch(text):
        raise CanaryUsageError(f"{source} {text!r}: expected a date as YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise CanaryUsageError(f"{source} {text!r}: no such day") from None
    if day > latest:
        raise CanaryUsageError(
            f"{source} {text}: after today ({latest} in Europe/Berlin); no command acts on the future"
        )
    if day < EARLIEST:
        raise CanaryUsageError(
            f"{source} {text}: before {EARLIEST}; expected a date from then to today"
        )
    return day


def trace_id(environ: Mapping[str, str]) -> str:
    """``CANARY_TRACE_ID`` when set (32 lowercase hex characters), else a fresh random one."""
    given = environ.get(ENV_TRACE)
    if given is None or given == "":
        return uuid.uuid4().hex
    if not _TRACE.fullmatch(given):  # fullmatch: "$" alone lets a trailing newline through
        raise CanaryUsageError(f"{ENV_TRACE}={given!r}: expected 32 lowercase hex characters")
    return given


def now_berlin() -> dt.datetime:
    return dt.datetime.now(BERLIN).replace(microsecond=0)
