"""The ``canary`` command is built from its registry: every command one module, none dropped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_canary import cli


def test_every_registered_command_is_in_the_help() -> None:
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert list(subparsers.choices) == list(cli.COMMANDS)  # type: ignore[attr-defined]


def test_a_missing_command_module_is_an_error_not_a_missing_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(cli.COMMANDS, "ghost", "pytest_canary.cli.ghost")
    with pytest.raises(ModuleNotFoundError, match=r"pytest_canary\.cli\.ghost"):
        cli.build_parser()


def test_rollout_with_a_missing_gates_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "pytest_canary.cli", "rollout", "--tenant", "acme",
         "--root", str(tmp_path), "--gates", str(tmp_path / "nope.toml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr
        == f"canary rollout: error: --gates {tmp_path / 'nope.toml'}: no such file or folder\n"
    )


def test_canary_help_imports_no_pydantic() -> None:
    code = (
        "import sys; from pytest_canary import cli; cli.build_parser();"
        " print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pytest')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
