"""How the playbook's scripts find an interpreter that has pytest-canary, from a plain checkout.

``python3 tools/operate/<script>.py`` must work as the playbook writes it. The package and its
dependencies live in the project's ``.venv`` (``make demo`` creates it), so a script run by any
other interpreter hands itself over to that one; without a ``.venv`` it says, in one line, how to
create it, instead of a traceback about a missing module.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_HANDED_OVER = "CANARY_PLAYBOOK_VENV"  # set on the hand-over, so it is tried once at most


def _venv_python() -> Path:
    if os.name == "nt":
        return REPO / ".venv" / "Scripts" / "python.exe"
    return REPO / ".venv" / "bin" / "python"


def _installed() -> bool:
    """pytest-canary is installed here: its entry points (``pytest -p canary``) are registered."""
    try:
        importlib.metadata.distribution("pytest-canary")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def run(command: str) -> int:
    """Run ``canary <command>`` with this script's arguments, in an interpreter that can."""
    script = Path(sys.argv[0]).name
    if _installed():
        sys.path.insert(0, str(REPO / "src"))  # this checkout's code, also when run from elsewhere
        from pytest_canary.cli import main

        return main([command, *sys.argv[1:]])
    venv = _venv_python()
    if venv.exists() and not os.environ.get(_HANDED_OVER):
        argv = [str(venv), str(Path(sys.argv[0]).resolve()), *sys.argv[1:]]
        env = {**os.environ, _HANDED_OVER: "1"}
        if os.name == "nt":  # Windows has no exec that keeps the console: wait for the child
            return subprocess.run(argv, env=env, check=False).returncode
        os.execve(argv[0], argv, env)
    print(
        f"{script}: pytest-canary is not installed for {sys.executable}; create the project's"
        " .venv with `make demo` (or `python3 -m venv .venv && .venv/bin/pip install -e .`)"
        " and run this again",
        file=sys.stderr,
    )
    return 2
