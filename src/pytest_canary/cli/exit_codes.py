"""The ``canary`` command's exit codes, named once; docs/contract.md lists them per command.

One number may carry a different name per command: ``1`` is a HOLD for ``decide``, a warning for
``status``, an invalid file for ``validate`` and bad input for ``kpi``.
"""

from __future__ import annotations

OK = 0
HOLD = 1
ATTENTION = 1
"""A warning, an invalid file, a broken audit chain, a failed check under ``--strict``."""
BAD_INPUT = 1
"""``kpi``: unreadable or invalid events, or a KPI file that could not be written."""
USAGE = 2
BACKOUT = 3
REFUSED = 4
INTERRUPTED = 130
