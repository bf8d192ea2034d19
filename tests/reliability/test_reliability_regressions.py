"""One regression test per defect the reliability campaigns found (docs/reliability.md lists them).

Each drives the real console script against real files, the way the campaign found the defect,
and asserts what a user sees: the exit code, one line of error, the state left alone.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from _reliability import (
    KPI_DATE,
    canary_script,
    clean_env,
    crashed,
    decision_doc,
    dump,
    good_kpis,
    make_tenant,
    snapshot,
    state_doc,
)

DATE = KPI_DATE.isoformat()


def _canary(cwd: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [canary_script(), *argv],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert not crashed(proc.stdout, proc.stderr), proc.stdout + proc.stderr
    return proc


def _root(tmp_path: Path, **kwargs: object) -> Path:
    root = tmp_path / "root"
    make_tenant(root, "acme", state=state_doc(quota=25), **kwargs)  # type: ignore[arg-type]
    return root


def _decision(root: Path, **changes: object) -> Path:
    doc = decision_doc()
    for key, value in changes.items():
        doc[key] = value
    path = root / "acme" / "canary" / f"{DATE}_decision.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(dump(doc))
    return path


def test_a_state_file_that_is_a_link_loop_is_a_usage_error(tmp_path: Path) -> None:
    root = _root(tmp_path)
    state = root / "acme" / "operate" / "operate_state.json"
    state.unlink()
    state.symlink_to("operate_state.json")
    proc = _canary(tmp_path, "cycle", "--tenant", "acme", "--root", "root", "--date", DATE)
    assert proc.returncode == 2
    assert "is a link loop" in proc.stderr


def test_an_operate_path_that_cannot_hold_the_lock_is_refused(tmp_path: Path) -> None:
    """Regression: filelock's OSError (read-only folder, or a file in the way) was a traceback."""
    root = tmp_path / "root"
    make_tenant(root, "acme")
    (root / "acme" / "operate").write_text("not a folder\n")
    _decision(root)
    proc = _canary(tmp_path, "rollout", "--tenant", "acme", "--root", "root")
    assert proc.returncode == 4
    assert proc.stderr.startswith("canary rollout: refused: acme: cannot take the state lock")
    assert proc.stderr.count("\n") == 1
    assert (root / "acme" / "operate").read_text() == "not a folder\n"


@pytest.mark.parametrize("field", ["tenant", "date"])
def test_a_mismatched_tenant_or_date_is_not_echoed(tmp_path: Path, field: str) -> None:
    root = _root(tmp_path, kpis={**good_kpis(), field: "anna.schmidt@example.org"})
    proc = _canary(tmp_path, "decide", "--tenant", "acme", "--root", "root", "--date", DATE)
    assert proc.returncode == 1
    assert f"field {field} is a str of another form (not shown)" in proc.stdout
    written = b"".join(p.read_bytes() for p in (root / "acme" / "canary").iterdir())
    assert b"@example.org" not in written + proc.stdout.encode() + proc.stderr.encode()


def test_a_duplicate_key_is_named_only_when_it_is_a_field_name(tmp_path: Path) -> None:
    body = json.dumps(good_kpis())[:-1]
    kpi = f'{body}, "x@example.org": 1, "x@example.org": 2, "dlq_depth": 3}}'
    root = _root(tmp_path)
    (root / "acme" / f"{DATE}.json").write_text(kpi)
    proc = _canary(tmp_path, "validate", f"root/acme/{DATE}.json")
    assert proc.returncode == 1
    assert "duplicate key (a key that is not a field name)" in proc.stdout
    assert "@" not in proc.stdout
    (root / "acme" / f"{DATE}.json").write_text(f'{body}, "dlq_depth": 3}}')
    proc = _canary(tmp_path, "validate", f"root/acme/{DATE}.json")
    assert "duplicate key 'dlq_depth'" in proc.stdout


@pytest.mark.parametrize("added_at", [1764133800, "1764133800"])
def test_a_hard_bounce_stamped_with_a_number_fails_closed(tmp_path: Path, added_at: object) -> None:
    root = _root(tmp_path)
    (root / "acme" / "ops").mkdir()
    blocklist = {"entries": [{"reason": "hard_bounce", "added_at": added_at}]}
    (root / "acme" / "ops" / "blocklist.json").write_bytes(dump(blocklist))
    proc = _canary(tmp_path, "cycle", "--tenant", "acme", "--root", "root", "--date", DATE)
    assert proc.returncode == 1
    assert "hard_bounce without a readable added_at" in proc.stdout


def test_a_kpi_file_linking_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = _root(tmp_path)
    outside = tmp_path / "elsewhere.json"
    outside.write_bytes(dump(good_kpis()))
    (root / "acme" / f"{DATE}.json").unlink()
    (root / "acme" / f"{DATE}.json").symlink_to(outside)
    before = snapshot(root / "acme" / "operate" / "operate_state.json")
    proc = _canary(tmp_path, "cycle", "--tenant", "acme", "--root", "root", "--date", DATE)
    assert proc.returncode == 2
    assert "outside the canary root" in proc.stderr
    assert snapshot(root / "acme" / "operate" / "operate_state.json") == before


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("[tenants.ACME.gates.error_rate]\nmax = 0.03\n", "not a tenant id"),
        ('[tenants."../x".gates.error_rate]\nmax = 0.03\n', "not a tenant id"),
    ],
)
def test_a_bad_gate_file_is_a_usage_error(tmp_path: Path, toml: str, message: str) -> None:
    _root(tmp_path)
    (tmp_path / "gates").mkdir()
    (tmp_path / "gates" / "mahnwesen.toml").write_text(toml)
    proc = _canary(tmp_path, "decide", "--tenant", "acme", "--root", "root", "--date", DATE)
    assert proc.returncode == 2
    assert message in proc.stdout + proc.stderr
    proc = _canary(tmp_path, "validate", "gates/mahnwesen.toml")
    assert proc.returncode == 1
    assert message in proc.stdout


def test_an_empty_gates_folder_is_a_usage_error(tmp_path: Path) -> None:
    _root(tmp_path)
    (tmp_path / "mine.toml").mkdir()
    argv = ["cycle", "--tenant", "acme", "--root", "root", "--date", DATE, "--gates", "mine.toml"]
    proc = _canary(tmp_path, *argv)
    assert proc.returncode == 2
    assert "--gates mine.toml: an empty folder, no gates" in proc.stderr  # the option it was given


def test_a_trace_id_with_a_trailing_newline_is_a_usage_error(tmp_path: Path) -> None:
    _root(tmp_path)
    argv = ["decide", "--tenant", "acme", "--root", "root", "--date", DATE]
    proc = _canary(tmp_path, *argv, CANARY_TRACE_ID="0" * 32 + "\n")
    assert proc.returncode == 2
    assert "CANARY_TRACE_ID" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "option", [["--max-age", "nan"], ["--max-age", "inf"], ["--max-age", "1e308"],
               ["--lock-timeout", "nan"], ["--lock-timeout", "-1"], ["--lock-timeout", "inf"]],
)  # fmt: skip
def test_rollout_options_out_of_range_are_usage_errors(tmp_path: Path, option: list[str]) -> None:
    root = _root(tmp_path)
    _decision(root)
    before = snapshot(root / "acme" / "operate" / "operate_state.json")
    proc = _canary(tmp_path, "rollout", "--tenant", "acme", "--root", "root", *option)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"canary rollout: error: {option[0]} ")
    assert snapshot(root / "acme" / "operate" / "operate_state.json") == before


def test_a_cycle_whose_decision_cannot_be_written_exits_4(tmp_path: Path) -> None:
    _root(tmp_path)
    argv = ["cycle", "--tenant", "acme", "--root", "root", "--date", DATE]
    proc = _canary(tmp_path, *argv, CANARY_FAULT_POINT="decision:enospc")
    assert proc.returncode == 4
    assert "acme: decision not written" in proc.stdout


@pytest.mark.parametrize(
    "changes",
    [
        {"base": {"quota": "25", "kill_switch": False, "serial": 0, "review": None}},
        {"target": {"quota": "50", "kill_switch": False}},
        {"kill_switch_recommended": "no"},
        {"created_at": 1764138600},
    ],
)
def test_a_decision_file_with_coerced_values_is_refused(
    tmp_path: Path, changes: dict[str, object]
) -> None:
    root = _root(tmp_path)
    _decision(root, **changes)
    before = snapshot(root / "acme" / "operate" / "operate_state.json")
    proc = _canary(tmp_path, "rollout", "--tenant", "acme", "--root", "root")
    assert proc.returncode == 4
    assert "nothing was written" in proc.stderr
    assert snapshot(root / "acme" / "operate" / "operate_state.json") == before


@pytest.mark.parametrize(
    ("verdict", "target", "kill"),
    [("GO_100", 100, False), ("GO_50", 100, False), ("GO_50", 50, True), ("GO_10", 10, False)],
)
def test_an_inconsistent_go_is_refused(
    tmp_path: Path, verdict: str, target: int, kill: bool
) -> None:
    root = _root(tmp_path)
    _decision(root, decision=verdict, target={"quota": target, "kill_switch": kill})
    before = snapshot(root / "acme" / "operate" / "operate_state.json")
    proc = _canary(tmp_path, "rollout", "--tenant", "acme", "--root", "root")
    assert proc.returncode == 4
    assert f"acme: inconsistent {verdict} decision" in proc.stderr
    assert "one step up from quota 25 is GO_50" in proc.stderr
    assert snapshot(root / "acme" / "operate" / "operate_state.json") == before


def test_a_state_with_a_number_for_a_time_is_corrupt(tmp_path: Path) -> None:
    root = _root(tmp_path)
    state = root / "acme" / "operate" / "operate_state.json"
    state.write_bytes(dump(state_doc(quota=25, updated_at=5)))
    before = snapshot(state)
    proc = _canary(tmp_path, "cycle", "--tenant", "acme", "--root", "root", "--date", DATE)
    assert proc.returncode == 4  # decided HOLD, and the rollout refuses the corrupt state
    assert "operate_state.json: field updated_at" in proc.stdout
    assert "the state file is left for review" in proc.stdout
    assert snapshot(state) == before
