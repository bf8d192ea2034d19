"""The ``canary-validate`` pre-commit hook, as a consumer repository uses it, and our own config.

``pre-commit try-repo`` clones the hook repository, builds a virtualenv and pip-installs the
package into it, so that test needs the package index (it takes a minute or so); the other tests
here are offline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_canary.ops.validate import checker_for

REPO = Path(__file__).resolve().parents[1]
HOOKS = REPO / ".pre-commit-hooks.yaml"
CONFIG = REPO / ".pre-commit-config.yaml"
INSTALL_TIMEOUT = 900  # seconds: a virtualenv and a pip install from the package index
GOOD_KPIS = {"notices_sent": 10, "error_rate": 0.01, "hard_bounces": 0, "dlq_depth": 0}
GOOD_STATE = {
    "schema_version": 1,
    "tenant": "acme",
    "quota": 25,
    "kill_switch": False,
    "serial": 0,
    "last_decision_id": None,
    "updated_at": None,
    "review": None,
    "history": [],
}


def _pre_commit() -> str:
    found = Path(sys.executable).parent / "pre-commit"
    return str(found) if found.exists() else str(shutil.which("pre-commit"))


def _hook() -> dict[str, object]:
    hooks = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert [h["id"] for h in hooks] == ["canary-validate"]
    return dict(hooks[0])


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Consumer\n\temail = consumer@example.invalid\n")
    env.update(
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
    )
    return env


def _git(cwd: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# --- offline ----------------------------------------------------------------------------------


def test_manifest_and_config_are_valid_for_pre_commit(tmp_path: Path) -> None:
    for command, path in (("validate-manifest", HOOKS), ("validate-config", CONFIG)):
        done = subprocess.run(
            [_pre_commit(), command, str(path)],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_our_config_runs_ruff_mypy_import_contracts_and_canary_validate_locally() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert [r["repo"] for r in config["repos"]] == ["local"]
    hooks = {h["id"]: h for h in config["repos"][0]["hooks"]}
    assert set(hooks) == {"ruff-format", "ruff", "mypy", "import-linter", "canary-validate"}
    assert hooks["mypy"]["entry"] == ".venv/bin/mypy src"
    assert hooks["import-linter"]["entry"] == ".venv/bin/lint-imports"
    assert hooks["canary-validate"]["files"] == _hook()["files"]


@pytest.mark.parametrize(
    "path",
    [
        "artifacts/reports/mahnwesen/acme/2026-11-26.json",
        "root/acme/operate/operate_state.json",
        "root/acme/ops/blocklist.json",
        "root/acme/canary/2026-11-26_decision.json",
        "root/acme/canary/2026-11-26_rollout_log.json",
        "gates/mahnwesen.toml",
        "team/gates/extra.toml",
        "2026-11-26.json",
        "root/acme/canary/2026-11-26_decision.md",
        "root/acme/canary/audit.jsonl",
        "pyproject.toml",
        "config/mahnwesen.toml",
        "notes/2026-11-26.json.bak",
        "root/acme/26-11-2026.json",
        "README.md",
    ],
)
def test_the_hook_picks_exactly_the_files_canary_validate_checks(path: str) -> None:
    pattern = re.compile(str(_hook()["files"]))
    assert bool(pattern.search(path)) is (checker_for(Path(path)) is not None)


# --- try-repo, as a consumer ------------------------------------------------------------------


def _hook_repository(tmp_path: Path, env: dict[str, str]) -> Path:
    """This project as a hook repository: the package and the manifest, committed."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(REPO / name, hooks / name)
    shutil.copytree(
        REPO / "src", hooks / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    _git(hooks, env, "init", "--quiet", "-b", "main")
    _git(hooks, env, "add", "-A")
    _git(hooks, env, "commit", "--quiet", "-m", "hooks")
    return hooks


def _consumer(tmp_path: Path, env: dict[str, str]) -> Path:
    consumer = tmp_path / "consumer"
    root = consumer / "artifacts" / "reports" / "mahnwesen"
    _write(root / "acme" / "2026-11-26.json", json.dumps({**GOOD_KPIS, "retry_depth": 0}))
    _write(root / "acme" / "operate" / "operate_state.json", json.dumps(GOOD_STATE))
    _write(consumer / "gates" / "mahnwesen.toml", (REPO / "gates" / "mahnwesen.toml").read_text())
    _write(root / "beta" / "2026-11-26.json", json.dumps({**GOOD_KPIS, "error_rate": 3}))
    _write(root / "beta" / "canary" / "2026-11-26_decision.json", "{not json")
    _write(consumer / "README.md", "not a canary file\n")
    _git(consumer, env, "init", "--quiet", "-b", "main")
    _git(consumer, env, "add", "-A")
    return consumer


def _try_repo(
    consumer: Path, hooks: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_pre_commit(), "try-repo", str(hooks), "canary-validate", *args],
        cwd=consumer,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )


@pytest.mark.scale
def test_try_repo_passes_good_files_and_fails_bad_ones_naming_them(tmp_path: Path) -> None:
    env = _env(tmp_path)
    hooks = _hook_repository(tmp_path, env)
    consumer = _consumer(tmp_path, env)
    good = [
        "artifacts/reports/mahnwesen/acme/2026-11-26.json",
        "artifacts/reports/mahnwesen/acme/operate/operate_state.json",
        "gates/mahnwesen.toml",
    ]

    passed = _try_repo(consumer, hooks, env, "--files", *good)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"canary validate\.+Passed", passed.stdout)

    failed = _try_repo(consumer, hooks, env, "--all-files")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"canary validate\.+Failed", failed.stdout)
    problems = [line for line in failed.stdout.splitlines() if "artifacts/" in line]
    assert len(problems) == 2, failed.stdout
    assert any("beta/2026-11-26.json" in p and "error_rate" in p for p in problems)
    assert any("beta/canary/2026-11-26_decision.json" in p for p in problems)
