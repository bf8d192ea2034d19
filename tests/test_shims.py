"""The playbook's commands, run as written from the repo root: the same exit codes as ``canary``.

``python tools/operate/canary_engine.py --tenant <id>`` is ``canary decide`` and
``python tools/operate/canary_rollout.py --tenant <id>`` is ``canary rollout``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _plugin_fixtures import DATE, REPO, CanaryRoot, canary_script, run

ENGINE = "tools/operate/canary_engine.py"
ROLLOUT = "tools/operate/canary_rollout.py"


def shim(script: str, root: CanaryRoot, *args: str) -> subprocess.CompletedProcess[str]:
    """``python <script> <args> --root <root>`` with the repo root as the working directory."""
    command = [sys.executable, script, *args, "--root", str(root.path)]
    return run(command, cwd=REPO, env=dict(os.environ))


@pytest.mark.parametrize(
    ("kpis", "code", "word"),
    [({}, 0, "GO_25"), ({"retry_depth": 61}, 1, "HOLD"), ({"dlq_depth": 37}, 3, "BACKOUT")],
)
def test_canary_engine_decides_with_the_exit_codes_of_decide(
    canary_root: CanaryRoot, kpis: dict[str, Any], code: int, word: str
) -> None:
    canary_root.tenant("acme", **kpis)
    done = shim(ENGINE, canary_root, "--tenant", "acme", "--date", DATE)
    assert done.returncode == code, done.stdout + done.stderr
    decision = canary_root.decision("acme")
    assert decision["decision"] == word
    # From the repo root, the repo's gates folder is the gate set.
    sources = {gate["source"] for gate in decision["gates"] if gate["name"] == "error_rate"}
    assert sources == {"gates/mahnwesen.toml"}


def test_canary_engine_gives_the_same_decision_id_as_canary_decide(
    canary_root: CanaryRoot,
) -> None:
    canary_root.tenant("acme", error_rate=0.031, state={"quota": 25})
    assert shim(ENGINE, canary_root, "--tenant", "acme", "--date", DATE).returncode == 1
    by_shim = canary_root.decision("acme")["decision_id"]
    command = [canary_script(), "decide", "--tenant", "acme", "--date", DATE]
    done = run([*command, "--root", str(canary_root.path)], cwd=REPO, env=dict(os.environ))
    assert done.returncode == 1
    assert canary_root.decision("acme")["decision_id"] == by_shim


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "Acme"], "invalid tenant id"),
        (["--tenant", "zeta"], "unknown tenant"),
        (["--tenant", "acme", "--date", "yesterday"], "YYYY-MM-DD"),
    ],
)
def test_canary_engine_usage_errors_exit_2(
    canary_root: CanaryRoot, args: list[str], message: str
) -> None:
    canary_root.tenant("acme")
    before = canary_root.snapshot()
    done = shim(ENGINE, canary_root, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert canary_root.snapshot() == before


def test_canary_rollout_applies_then_changes_nothing(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 50})
    assert shim(ENGINE, canary_root, "--tenant", "acme", "--date", DATE).returncode == 0
    first = shim(ROLLOUT, canary_root, "--tenant", "acme")
    assert first.returncode == 0
    state = canary_root.state("acme")
    assert state is not None and state["quota"] == 100
    state_bytes = canary_root.state_file("acme").read_bytes()
    again = shim(ROLLOUT, canary_root, "--tenant", "acme")
    assert again.returncode == 0
    assert canary_root.state_file("acme").read_bytes() == state_bytes


def test_canary_rollout_applies_a_named_decision_file(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", dlq_depth=37, state={"quota": 50})
    assert shim(ENGINE, canary_root, "--tenant", "acme", "--date", DATE).returncode == 3
    decision_file = str(canary_root.decision_file("acme"))
    done = shim(ROLLOUT, canary_root, "--tenant", "acme", "--decision-file", decision_file)
    assert done.returncode == 0
    state = canary_root.state("acme")
    assert state is not None and (state["quota"], state["kill_switch"]) == (10, True)


def test_canary_rollout_refusals_exit_4(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    canary_root.tenant("beta")
    assert shim(ENGINE, canary_root, "--tenant", "beta", "--date", DATE).returncode == 0
    before = canary_root.snapshot()
    foreign = str(canary_root.decision_file("beta"))
    done = shim(ROLLOUT, canary_root, "--tenant", "acme", "--decision-file", foreign)
    assert done.returncode == 4
    assert shim(ROLLOUT, canary_root, "--tenant", "acme").returncode == 4  # no decision yet
    assert canary_root.snapshot() == before


def test_canary_rollout_usage_errors_exit_2(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    assert shim(ROLLOUT, canary_root, "--tenant", "../acme").returncode == 2
    outside = shim(
        ROLLOUT, canary_root, "--tenant", "acme", "--decision-file", str(REPO / "README.md")
    )
    assert outside.returncode == 2
    assert "outside the canary root" in outside.stderr


@pytest.mark.parametrize(("script", "command"), [(ENGINE, "decide"), (ROLLOUT, "rollout")])
def test_the_shims_show_the_help_of_their_command(script: str, command: str) -> None:
    done = run([sys.executable, script, "--help"], cwd=REPO)
    assert done.returncode == 0
    assert f"example: canary {command}" in done.stdout


# ``python -S`` has no site-packages: a bare ``python3`` as a fresh machine has it.
@pytest.mark.skipif(not (REPO / ".venv").is_dir(), reason="needs the project's .venv")
def test_a_bare_python3_hands_the_playbook_over_to_the_project_venv(
    canary_root: CanaryRoot,
) -> None:
    canary_root.tenant("acme")
    command = [sys.executable, "-S", ENGINE, "--tenant", "acme", "--date", DATE]
    done = run([*command, "--root", str(canary_root.path)], cwd=REPO, env=dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr
    assert canary_root.decision("acme")["decision"] == "GO_25"


@pytest.mark.parametrize("script", [ENGINE, ROLLOUT, "tools/operate/kpi_engine.py"])
def test_without_a_venv_the_playbook_says_how_to_create_it(tmp_path: Path, script: str) -> None:
    """A checkout without ``.venv``, run by a bare ``python3``: one line, exit 2, no traceback."""
    shutil.copytree(REPO / "tools" / "operate", tmp_path / "tools" / "operate")
    done = run([sys.executable, "-S", script, "--tenant", "acme"], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "make demo" in line and "pip install -e ." in line
