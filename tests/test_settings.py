"""Root, gates and run date: one resolver for the plugin and every ``canary`` command.

Unit tests pin the clock (``today=`` or ``time_machine``); the command-line tests use dates far
enough from today that the day they run on does not matter.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _plugin_fixtures import DATE, CanaryRoot, canary_script, run
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.store.settings import EARLIEST, Project, parse_date, today_berlin

TODAY = dt.date(2026, 11, 30)
EXIT_USAGE = 2
# Far enough ahead that no time zone or midnight makes it today.
FUTURE = (dt.date.today() + dt.timedelta(days=3)).isoformat()


# --- dates ------------------------------------------------------------------------------------


@given(st.dates())
def test_a_real_day_up_to_today_is_taken_and_any_other_is_a_usage_error(day: dt.date) -> None:
    if EARLIEST <= day <= TODAY:
        assert parse_date(day.isoformat(), "--date", TODAY) == day
    else:
        with pytest.raises(CanaryUsageError, match=r"^--date ") as caught:
            parse_date(day.isoformat(), "--date", TODAY)
        assert "\n" not in str(caught.value)


@given(st.text(max_size=30))
def test_any_text_is_a_date_in_range_or_a_one_line_usage_error(text: str) -> None:
    try:
        day = parse_date(text, "--today", TODAY)
    except CanaryUsageError as exc:
        assert str(exc).startswith("--today ") and "\n" not in str(exc)
    else:
        assert EARLIEST <= day <= TODAY


def test_no_date_is_today_in_berlin_across_midnight() -> None:
    # 23:30 UTC on 30 November is already 1 December in Berlin.
    with time_machine.travel(dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC), tick=False):
        assert today_berlin() == dt.date(2026, 12, 1)
        assert parse_date(None, "--date") == dt.date(2026, 12, 1)
        assert parse_date("2026-12-01", "--date") == dt.date(2026, 12, 1)
        with pytest.raises(CanaryUsageError, match="after today"):
            parse_date("2026-12-02", "--date")


# --- root and gates ---------------------------------------------------------------------------


def _project(tmp_path: Path, environ: dict[str, str], ini: dict[str, str]) -> Project:
    cwd = tmp_path / "project" / "sub"
    cwd.mkdir(parents=True, exist_ok=True)
    return Project(cwd, tmp_path / "project", environ, ini, "pyproject.toml")


def test_root_comes_from_option_then_env_then_ini_then_default(tmp_path: Path) -> None:
    for folder in ("project/sub/opt", "project/sub/env", "project/ini", "project/sub"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / "project/artifacts/reports/mahnwesen").mkdir(parents=True)
    env, ini = {"CANARY_ROOT": "env"}, {"canary_root": "ini"}
    base = tmp_path / "project"
    assert _project(tmp_path, env, ini).root("opt") == base / "sub" / "opt"
    assert _project(tmp_path, env, ini).root(None) == base / "sub" / "env"
    assert _project(tmp_path, {}, ini).root(None) == base / "ini"
    assert _project(tmp_path, {}, {}).root(None) == base / "artifacts/reports/mahnwesen"


@pytest.mark.parametrize(
    ("option", "environ", "ini", "named"),
    [
        ("typo", {}, {}, "--gates typo"),
        (None, {"CANARY_GATES": "typo"}, {}, "env CANARY_GATES=typo"),
        (None, {}, {"canary_gates": "typo"}, "ini canary_gates = typo (pyproject.toml)"),
    ],
)
def test_a_named_gates_path_that_is_not_there_is_a_usage_error_naming_its_source(
    tmp_path: Path, option: str | None, environ: dict[str, str], ini: dict[str, str], named: str
) -> None:
    with pytest.raises(
        CanaryUsageError, match=rf"^{re.escape(named)}: no such file or folder \(/.*/typo\)$"
    ):
        _project(tmp_path, environ, ini).gates(option)


def test_the_default_gates_folder_is_the_projects_and_absent_means_built_in(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path, {}, {})
    assert project.gates(None) is None
    (tmp_path / "project" / "gates").mkdir()
    assert project.gates(None) == tmp_path / "project" / "gates"


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=20))
def test_any_root_or_gates_text_is_a_path_or_a_one_line_usage_error(
    tmp_path: Path, text: str
) -> None:
    project = _project(tmp_path, {}, {})
    for resolve in (project.root, project.gates):
        try:
            found = resolve(text)
        except CanaryUsageError as exc:
            assert "\n" not in str(exc).replace(repr(text), "") and str(exc).startswith("--")
        else:
            assert found is None or found.exists()


# --- the commands -----------------------------------------------------------------------------


def _canary(cwd: Path, *args: str) -> tuple[int, str]:
    done = run([canary_script(), *args], cwd=cwd, env=dict(os.environ))
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["decide", "--tenant", "acme", "--date", FUTURE],
        ["cycle", "--tenant", "acme", "--date", FUTURE],
        ["decide", "--tenant", "acme", "--date", "0001-01-05"],
        ["prune", "--tenant", "acme", "--today", FUTURE],
        ["prune", "--tenant", "acme", "--today", "0001-06-01"],
        ["status", "--tenant", "acme", "--today", FUTURE],
        ["kpi", "--tenant", "acme", "--date", "0001-01-01"],
        ["kpi", "--tenant", "acme", "--date", FUTURE],
        ["backtest", "--tenant", "acme", "--since", "0001-01-01"],
        ["backtest", "--tenant", "acme", "--since", DATE, "--until", FUTURE],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_a_date_after_today_or_before_2000_is_a_usage_error_everywhere(
    canary_root: CanaryRoot, argv: list[str]
) -> None:
    canary_root.tenant("acme")
    before = canary_root.snapshot()
    code, output = _canary(canary_root.path.parent, *argv, "--root", str(canary_root.path))
    assert code == EXIT_USAGE, output
    assert "after today" in output or "before 2000-01-01" in output, output
    assert canary_root.snapshot() == before


def test_pytest_refuses_a_canary_date_after_today(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    argv = ["-m", "pytest", "-p", "canary", "-p", "no:cacheprovider", "--canary-tenant=acme"]
    argv += [f"--canary-root={canary_root.path}", f"--canary-date={FUTURE}"]
    import sys

    done = run([sys.executable, *argv], cwd=canary_root.path.parent)
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    assert "after today" in done.stderr


@pytest.mark.parametrize("command", ["rollout", "status", "backtest", "decide", "cycle"])
def test_gates_typo_is_a_usage_error_in_every_command(
    canary_root: CanaryRoot, command: str
) -> None:
    canary_root.tenant("acme")
    extra = ["--since", DATE, "--until", DATE] if command == "backtest" else []
    extra += ["--date", DATE] if command in ("decide", "cycle") else []
    code, output = _canary(
        canary_root.path.parent,
        command,
        *["--tenant", "acme", "--root", str(canary_root.path), "--gates", "typo", *extra],
    )
    assert code == EXIT_USAGE, output
    assert "--gates typo: no such file or folder" in output


def test_every_command_finds_the_root_and_gates_from_the_ini_file(tmp_path: Path) -> None:
    """Run from a subfolder: pytest and the commands take ini values and gates/ from rootdir."""
    project = tmp_path / "project"
    root = CanaryRoot(project / "data" / "root")
    root.tenant("acme")
    (project / "pytest.ini").write_text("[pytest]\ncanary_root = data/root\n")
    (project / "gates").mkdir()
    (project / "gates" / "steps.toml").write_text("[canary]\nsteps = [5, 20, 100]\n")
    sub = project / "sub"
    sub.mkdir()
    code, output = _canary(sub, "cycle", "--tenant", "acme", "--date", DATE)
    assert code == 0, output
    assert root.state("acme") is not None and root.state("acme")["quota"] == 20  # type: ignore[index]
    code, output = _canary(sub, "status", "--tenant", "acme", "--today", DATE)
    assert "acme" in output and "20" in output, output


def test_rollout_never_applies_a_decision_dated_after_today(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", dlq_depth=37)
    code, output = _canary(
        canary_root.path.parent, "decide", "--tenant", "acme", "--root", str(canary_root.path),
        "--date", DATE,
    )  # fmt: skip
    assert code == 3, output
    future = canary_root.decision_file("acme", FUTURE)  # a typo'd year, or a copied file
    future.write_text(canary_root.decision_file("acme").read_text().replace("BACKOUT", "HOLD"))
    code, output = _canary(
        canary_root.path.parent, "rollout", "--tenant", "acme", "--root", str(canary_root.path)
    )
    assert code == 0, output
    assert "BACKOUT" in output
    state = canary_root.state("acme")
    assert state is not None and state["kill_switch"] is True


# --- validate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nonexistent.json", "no such file"),
        ("notes.json", "not a file canary validate knows"),
    ],
)
def test_validate_fails_on_a_named_file_it_cannot_check(
    tmp_path: Path, name: str, message: str
) -> None:
    if name == "notes.json":
        (tmp_path / name).write_text("{}")
    code, output = _canary(tmp_path, "validate", name)
    assert code == 1, output
    assert f"{name}: {message}" in output
    assert "1 invalid" in output
