"""pytest-canary: decide staged rollouts from daily KPIs, as a pytest run.

This module stays light on purpose: pytest imports the plugin entry point on every run, and an
unrelated test run must not pay for pydantic. Public names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "should_dispatch"]

if TYPE_CHECKING:
    from pytest_canary.dispatch import should_dispatch


def __getattr__(name: str) -> Any:
    if name == "should_dispatch":
        from pytest_canary.dispatch import should_dispatch

        return should_dispatch
    raise AttributeError(name)
