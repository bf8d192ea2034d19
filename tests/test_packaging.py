"""Packaging: the built-in gates match the repo's, and the wheel carries them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from pytest_canary.store.gates import builtin_gate_text

REPO = Path(__file__).resolve().parents[1]
REPO_GATES = REPO / "gates" / "mahnwesen.toml"
PACKAGE_GATES = REPO / "src" / "pytest_canary" / "data" / "mahnwesen.toml"


def test_repo_gate_file_and_built_in_copy_are_byte_identical() -> None:
    assert REPO_GATES.read_bytes() == PACKAGE_GATES.read_bytes()


def test_installed_package_reads_the_same_built_in_gates() -> None:
    assert builtin_gate_text() == REPO_GATES.read_text("utf-8")


def test_pytest11_entry_point_canary_loads_the_plugin() -> None:
    (entry,) = [e for e in metadata.entry_points(group="pytest11") if e.name == "canary"]

    assert entry.value == "pytest_canary.plugin"
    assert entry.dist is not None and entry.dist.name == "pytest-canary"
    module = entry.load()
    assert module.__name__ == "pytest_canary.plugin"


def test_console_script_canary_is_installed() -> None:
    (entry,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "canary"]
    script = shutil.which("canary") or str(Path(sys.executable).with_name("canary"))

    assert entry.value == "pytest_canary.cli:main"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "decide" in result.stdout


def test_p_canary_works_with_plugin_autoload_disabled(tmp_path: Path) -> None:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "canary", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "--canary-tenant" in result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    build = subprocess.run(
        [*command, "-q", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (path,) = out.glob("pytest_canary-*.whl")
    return zipfile.ZipFile(path)


def _dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    (member,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(member).decode()


def test_wheel_carries_the_built_in_gates_and_the_type_marker(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()

    assert wheel.read("pytest_canary/data/mahnwesen.toml") == REPO_GATES.read_bytes()
    assert "pytest_canary/py.typed" in names
    assert "pytest_canary/plugin/__init__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "demo/", "gates/"))]


def test_wheel_declares_the_plugin_and_the_console_script(wheel: zipfile.ZipFile) -> None:
    entry_points = _dist_info(wheel, "entry_points.txt")

    pytest11 = entry_points.split("[pytest11]")[1].split("[")[0]
    scripts = entry_points.split("[console_scripts]")[1].split("[")[0]
    assert "canary = pytest_canary.plugin" in pytest11
    assert "canary = pytest_canary.cli:main" in scripts


def test_wheel_metadata_names_the_distribution_and_python(wheel: zipfile.ZipFile) -> None:
    meta = _dist_info(wheel, "METADATA")

    assert "Name: pytest-canary" in meta
    assert "Requires-Python: >=3.11" in meta
    for requirement in ("pytest", "pluggy", "pydantic", "filelock"):
        assert any(line.startswith(f"Requires-Dist: {requirement}>=") for line in meta.splitlines())
