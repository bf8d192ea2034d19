"""The two kinds of error a user can cause; both are shown as one line, never a traceback."""

from __future__ import annotations


class CanaryUsageError(Exception):
    """Bad option, variable, tenant id, path or gate file: pytest exits 4, the CLI 2."""


class RolloutRefused(Exception):
    """The rollout or review will not touch the state (corrupt, stale, foreign, locked): exit 4."""
