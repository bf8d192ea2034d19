"""Shared fixtures: a clean environment for every test, and ``canary_root`` to build a root.

``canary_root`` writes real files the way an upstream job would (docs/contract.md), so a test drives the
plugin or the CLI against a root it can read back::

    def test_something(canary_root):
        canary_root.tenant("acme")                       # good KPIs for DATE, no state yet
        canary_root.tenant("beta", error_rate=0.031, state={"quota": 25})
        ...
        assert canary_root.decision("acme")["decision"] == "GO_25"
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import settings

from _plugin_fixtures import INNER_ADDOPTS, CanaryRoot

# How fast an example runs is no behaviour (speed targets live in benchmarks/): on a shared or
# busy machine a deadline only makes property tests flaky.
settings.register_profile("canary", parent=settings(), deadline=None)  # ci profile kept
settings.load_profile("canary")

# Read at import: the autouse fixture below clears CANARY_* before each test.
POSTGRES_DSN = os.environ.get("CANARY_TEST_POSTGRES_DSN", "")
IN_CI = bool(os.environ.get("CI"))
# Variables an outer environment (a CI job, a shell) could set that would change an inner run:
# GitHub's outputs, and CI / BUILD_NUMBER, with which pytest never cuts its short summary.
_OUTER = ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS", "CI", "BUILD_NUMBER")
INNER_COLUMNS = "200"
"""The terminal width of every inner run and command: a narrow outer one would cut their lines."""


@pytest.fixture(autouse=True)
def _clean_canary_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CANARY_*, CI or GitHub variable of the outer environment leaks into a test, and an
    inner pytest or ``canary`` sees the same terminal and options on a laptop, in a narrow pane
    and in CI."""
    for name in list(os.environ):
        if name.startswith("CANARY_") or name in _OUTER:
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", INNER_COLUMNS)
    monkeypatch.setenv("PYTEST_ADDOPTS", INNER_ADDOPTS)


@pytest.fixture
def canary_root(tmp_path: Path) -> CanaryRoot:
    """An empty canary root folder; add tenants with ``canary_root.tenant(...)``."""
    root = tmp_path / "canary-root"
    root.mkdir()
    return CanaryRoot(root)


@pytest.fixture
def postgres() -> Iterator[str]:
    """A fresh schema on the test server; the URL puts it first on the search path."""
    if not POSTGRES_DSN:
        message = "no PostgreSQL server: set CANARY_TEST_POSTGRES_DSN (.ci/run does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    import psycopg

    schema = f"kpi_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in POSTGRES_DSN else "?"
    try:
        yield f"{POSTGRES_DSN}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
