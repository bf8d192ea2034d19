"""The README's "Use it in your repository", followed as written in a new git repository.

The wheel is built from this checkout (the README's third way to install); its install line is
the only one changed, from the pinned release to that wheel. Everything else runs as printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _plugin_fixtures import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
PINNED = "pytest-canary==0.1.0"


def _steps() -> str:
    section = README.split("## Use it in your repository", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, flags=re.M | re.S)
    script = "".join(blocks)
    assert script.count(PINNED) == 1, "the install line to swap for the wheel"
    return script


@pytest.mark.scale
def test_the_readme_adoption_steps_work_in_a_new_repository(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    built = subprocess.run([*build, "-w", str(dist), str(REPO)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("pytest_canary-*.whl")

    repo = tmp_path / "my-service"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _steps().replace(PINNED, str(wheel))],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr

    tenant = repo / "artifacts" / "reports" / "mahnwesen" / "acme"
    decision = json.loads((tenant / "canary" / "2026-11-26_decision.json").read_text("utf-8"))
    state = json.loads((tenant / "operate" / "operate_state.json").read_text("utf-8"))
    assert decision["decision"] == "GO_25"
    assert (state["quota"], state["kill_switch"]) == (25, False)
    assert "canary validate: 1 file(s) checked, 0 invalid" in done.stdout
