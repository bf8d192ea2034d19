"""``make demo``, run from a copy of the repository's demo and gates: what a new user sees first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from _plugin_fixtures import REPO, run


def _demo(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    copy = tmp_path / "repo"
    for folder in ("demo", "gates"):
        shutil.copytree(REPO / folder, copy / folder)
    command = [sys.executable, str(copy / "demo" / "run_demo.py")]
    return run(command, cwd=copy, env={**os.environ, **env})  # run: never a traceback


def test_the_demo_shows_go_hold_backout_and_a_paused_tenant(tmp_path: Path) -> None:
    done = _demo(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    words = {row[0]: row[1] for row in rows if len(row) > 1}
    expected = {"acme": "GO_50", "beta": "HOLD", "gamma": "BACKOUT", "delta": "HOLD"}
    assert {tenant: words.get(tenant) for tenant in [*expected, "epsilon"]} == {
        **expected,
        "epsilon": "HOLD",
    }
    assert "(paused)" in done.stdout
    assert (tmp_path / "repo" / ".demo" / "junit.xml").exists()


def test_a_pytest_that_cannot_start_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    done = _demo(tmp_path, PYTEST_ADDOPTS="--no-such-option")

    assert done.returncode == 4, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr.splitlines()[-1] == (
        "demo: pytest exited 4 and decided nothing (its output is above)"
    )
