"""The names, defaults and help texts of the run's settings (resolved in :mod:`.settings`).

Apart from :mod:`.settings` because the inactive plugin names them in every pytest run's
options: this module imports nothing (``settings`` loads the time zone database).
"""

from __future__ import annotations

import datetime as dt

DEFAULT_ROOT = "artifacts/reports/mahnwesen"
DEFAULT_GATES = "gates"
ENV_ROOT = "CANARY_ROOT"
ENV_GATES = "CANARY_GATES"
ENV_TRACE = "CANARY_TRACE_ID"
INI_ROOT = "canary_root"
INI_GATES = "canary_gates"
INI_KEYS = (INI_ROOT, INI_GATES)
EARLIEST = dt.date(2000, 1, 1)
"""The earliest run date: older KPIs predate any rollout, and older dates are typos."""

HELP_ROOT = f"canary root (default: env {ENV_ROOT}, else ini {INI_ROOT}, else {DEFAULT_ROOT})"
HELP_GATES = (
    f"gate file or folder of *.toml gate files (default: env {ENV_GATES}, else ini {INI_GATES},"
    f" else {DEFAULT_GATES}/ when present, else the built-in gates)"
)
HELP_DATE = f"KPI date YYYY-MM-DD, from {EARLIEST} to today (default: today in Europe/Berlin)"
HELP_TODAY = (
    "the day to judge ages against, YYYY-MM-DD, not after today (default: today in Europe/Berlin)"
)
