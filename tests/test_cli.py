"""The ``canary`` console script, run as an operator runs it: a subprocess on a real root.

Every exit code of docs/contract.md, and the same decision as ``pytest -p canary`` on the same inputs.
No command ever shows a traceback (``run`` checks every output).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _plugin_fixtures import DATE, TRACE, CanaryRoot, canary_script, run

EXIT_GO, EXIT_HOLD, EXIT_USAGE, EXIT_BACKOUT, EXIT_REFUSED = 0, 1, 2, 3, 4


def canary(
    root: CanaryRoot, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``canary <args>`` from the folder holding the root (so the built-in gates apply)."""
    return run([canary_script(), *args], cwd=cwd or root.path.parent, env=dict(os.environ))


def decide(
    root: CanaryRoot, *args: str, command: str = "decide"
) -> subprocess.CompletedProcess[str]:
    return canary(root, command, "--root", str(root.path), "--date", DATE, *args)


def without_time(decision: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in decision.items() if key != "created_at"}


# --- decide -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kpis", "code", "word"),
    [
        ({}, EXIT_GO, "GO_25"),
        ({"error_rate": 0.031}, EXIT_HOLD, "HOLD"),
        ({"notices_sent": 2, "hard_bounces": 0}, EXIT_HOLD, "HOLD"),
        ({"dlq_depth": 37}, EXIT_BACKOUT, "BACKOUT"),
        ({"error_rate": 0.2, "notices_sent": None}, EXIT_BACKOUT, "BACKOUT"),
    ],
)
def test_decide_exit_code_says_the_decision(
    canary_root: CanaryRoot, kpis: dict[str, Any], code: int, word: str
) -> None:
    canary_root.tenant("acme", **kpis)
    done = decide(canary_root, "--tenant", "acme")
    assert done.returncode == code, done.stdout + done.stderr
    assert canary_root.decision("acme")["decision"] == word
    assert f"acme: {word}" in done.stdout


def test_decide_holds_on_a_missing_or_corrupt_input(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", kpis="{not json")
    canary_root.tenant("beta", state="[1, 2")
    done = decide(canary_root, "--tenant", "acme", "--tenant", "beta")
    assert done.returncode == EXIT_HOLD
    assert canary_root.decision("acme")["decision"] == "HOLD"
    assert canary_root.decision("beta")["decision"] == "HOLD"
    assert canary_root.state_file("beta").read_text() == "[1, 2", "a corrupt state stays as is"


def test_decide_worst_tenant_sets_the_exit_code(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    canary_root.tenant("beta", error_rate=0.031)
    canary_root.tenant("gamma", dlq_depth=37)
    assert decide(canary_root, "--tenant", "all").returncode == EXIT_BACKOUT
    assert decide(canary_root, "--tenant", "acme", "--tenant", "beta").returncode == EXIT_HOLD


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--tenant", "Acme"], {}, "invalid tenant id 'Acme'"),
        (["--tenant", "zeta"], {}, "unknown tenant 'zeta'"),
        ([], {}, "--tenant is required"),
        (["--tenant", "acme", "--date", "2026-11-31"], {}, "no such day"),
        (["--tenant", "acme"], {"CANARY_TRACE_ID": "nothex"}, "CANARY_TRACE_ID"),
        (["--tenant", "acme"], {"CANARY_THRESHOLD_DLQ_DEPTH": "many"}, "DLQ_DEPTH"),
        (["--tenant", "acme", "--gates", "no-such-gates"], {}, "no-such-gates"),
    ],
)
def test_decide_usage_errors_exit_2_and_write_nothing(
    canary_root: CanaryRoot,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    canary_root.tenant("acme")
    before = canary_root.snapshot()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    done = decide(canary_root, *args)
    assert done.returncode == EXIT_USAGE, done.stdout + done.stderr
    assert message in done.stdout + done.stderr
    assert canary_root.snapshot() == before


def test_a_root_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    done = run(
        [canary_script(), "decide", "--tenant", "acme", "--root", str(tmp_path / "nowhere")],
        cwd=tmp_path,
    )
    assert done.returncode == EXIT_USAGE
    assert "is not a folder" in done.stderr
    assert not (tmp_path / "nowhere").exists()


def test_the_root_comes_from_canary_root_in_the_environment(
    canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary_root.tenant("acme")
    monkeypatch.setenv("CANARY_ROOT", str(canary_root.path))
    done = canary(canary_root, "decide", "--tenant", "acme", "--date", DATE)
    assert done.returncode == EXIT_GO
    assert canary_root.decision("acme")["decision"] == "GO_25"


def test_decide_dry_run_writes_nothing(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", dlq_depth=37)
    before = canary_root.snapshot()
    done = decide(canary_root, "--tenant", "acme", "--dry-run")
    assert done.returncode == EXIT_BACKOUT
    assert "acme: BACKOUT" in done.stdout
    assert canary_root.snapshot() == before


def test_decide_runs_custom_gates_from_the_gates_folder(canary_root: CanaryRoot) -> None:
    gates = canary_root.path.parent / "gates"
    gates.mkdir()
    shutil.copyfile(
        Path(__file__).parents[1] / "gates" / "mahnwesen.toml", gates / "mahnwesen.toml"
    )
    (gates / "test_custom.py").write_text(
        "import pytest\n\n\n@pytest.mark.canary_gate(severity='backout')\n"
        "def test_soft_bounces(canary_kpis):\n    assert canary_kpis.soft_bounces < 100\n"
    )
    canary_root.tenant("acme", soft_bounces=500)
    done = decide(canary_root, "--tenant", "acme")
    assert done.returncode == EXIT_BACKOUT
    gates_seen = {g["name"]: g["status"] for g in canary_root.decision("acme")["gates"]}
    assert gates_seen["test_soft_bounces"] == "backout"


# --- the same decision as the pytest run ------------------------------------------------------


def test_decide_and_the_pytest_plugin_make_the_same_decision(
    canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARY_TRACE_ID", TRACE)
    canary_root.tenant("acme", state={"quota": 25})
    canary_root.tenant(
        "beta",
        error_rate=0.031,
        blocklist=[{"reason": "hard_bounce", "added_at": f"{DATE}T06:00:00", "hash": "ab"}],
    )
    tenants = ["--tenant", "acme", "--tenant", "beta"]
    assert decide(canary_root, *tenants).returncode == EXIT_HOLD
    by_cli = {t: without_time(canary_root.decision(t)) for t in ("acme", "beta")}
    for tenant in ("acme", "beta"):
        shutil.rmtree(canary_root.path / tenant / "canary")

    command = [sys.executable, "-m", "pytest", "-p", "canary", "-p", "no:cacheprovider"]
    command += [f"--canary-root={canary_root.path}", f"--canary-date={DATE}"]
    command += ["--canary-tenant", "acme", "--canary-tenant", "beta"]
    done = run(command, cwd=canary_root.path.parent, env=dict(os.environ))
    assert done.returncode == 1
    for tenant in ("acme", "beta"):
        by_pytest = without_time(canary_root.decision(tenant))
        assert by_pytest["decision_id"] == by_cli[tenant]["decision_id"]
        assert by_pytest == by_cli[tenant]
    assert by_cli["acme"]["decision"] == "GO_50" and by_cli["beta"]["decision"] == "HOLD"


# --- cycle ------------------------------------------------------------------------------------


def test_cycle_applies_go_and_repeats_change_nothing(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    assert decide(canary_root, "--tenant", "acme", command="cycle").returncode == EXIT_GO
    state = canary_root.state("acme")
    assert state is not None and (state["quota"], state["serial"]) == (50, 1)
    state_bytes = canary_root.state_file("acme").read_bytes()
    assert decide(canary_root, "--tenant", "acme", command="cycle").returncode == EXIT_GO
    assert canary_root.state_file("acme").read_bytes() == state_bytes


def test_cycle_hold_exits_1_and_leaves_the_state(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", error_rate=0.031, state={"quota": 25})
    before = canary_root.state_file("acme").read_bytes()
    assert decide(canary_root, "--tenant", "acme", command="cycle").returncode == EXIT_HOLD
    assert canary_root.state_file("acme").read_bytes() == before
    assert (canary_root.path / "acme" / "canary" / f"{DATE}_rollout_log.json").exists()


def test_cycle_backout_exits_3_and_turns_the_kill_switch_on(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", dlq_depth=37, state={"quota": 50})
    assert decide(canary_root, "--tenant", "acme", command="cycle").returncode == EXIT_BACKOUT
    state = canary_root.state("acme")
    assert state is not None and (state["quota"], state["kill_switch"]) == (10, True)


def test_cycle_exits_4_when_the_rollout_is_refused(canary_root: CanaryRoot) -> None:
    # A severe violation backs out, but the state file is corrupt: the rollout refuses to touch it.
    canary_root.tenant("acme", dlq_depth=37, state='{"quota": 50,')
    done = decide(canary_root, "--tenant", "acme", command="cycle")
    assert done.returncode == EXIT_REFUSED
    assert "rollout refused" in done.stdout + done.stderr
    assert canary_root.decision("acme")["decision"] == "BACKOUT"
    assert canary_root.state_file("acme").read_text() == '{"quota": 50,'


# --- rollout ----------------------------------------------------------------------------------


def rollout(root: CanaryRoot, *args: str) -> subprocess.CompletedProcess[str]:
    return canary(root, "rollout", "--root", str(root.path), *args)


def test_rollout_applies_the_newest_decision_then_changes_nothing(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_GO
    first = rollout(canary_root, "--tenant", "acme")
    assert first.returncode == EXIT_GO
    assert "changed=true" in first.stdout
    state = canary_root.state("acme")
    assert state is not None and state["quota"] == 50
    assert state["last_decision_id"] == canary_root.decision("acme")["decision_id"]
    state_bytes = canary_root.state_file("acme").read_bytes()

    again = rollout(canary_root, "--tenant", "acme")
    assert again.returncode == EXIT_GO
    assert "changed=false" in again.stdout
    assert canary_root.state_file("acme").read_bytes() == state_bytes


def test_rollout_refuses_a_decision_of_another_tenant(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    canary_root.tenant("beta")
    assert decide(canary_root, "--tenant", "beta").returncode == EXIT_GO
    before = canary_root.snapshot()
    done = rollout(
        canary_root, "--tenant", "acme", "--decision-file", str(canary_root.decision_file("beta"))
    )
    assert done.returncode == EXIT_REFUSED
    assert "beta" in done.stderr
    assert canary_root.snapshot() == before


def test_rollout_refuses_while_the_state_is_corrupt(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_GO
    canary_root.tenant("acme", state="not json")
    before = canary_root.snapshot()
    done = rollout(canary_root, "--tenant", "acme")
    assert done.returncode == EXIT_REFUSED
    assert "operate_state.json" in done.stderr
    assert canary_root.snapshot() == before


def test_rollout_refuses_a_decision_older_than_max_age(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_GO
    path = canary_root.decision_file("acme")
    decision = json.loads(path.read_text())
    created = dt.datetime.fromisoformat(decision["created_at"])
    decision["created_at"] = (created - dt.timedelta(hours=30)).isoformat()
    path.write_text(json.dumps(decision))
    before = canary_root.snapshot()
    done = rollout(canary_root, "--tenant", "acme")
    assert done.returncode == EXIT_REFUSED
    assert canary_root.snapshot() == before
    # A longer --max-age accepts the same decision.
    assert rollout(canary_root, "--tenant", "acme", "--max-age", "48").returncode == EXIT_GO
    state = canary_root.state("acme")
    assert state is not None and state["quota"] == 25


def test_rollout_refuses_a_stale_go(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_GO
    canary_root.tenant("acme", state={"quota": 50, "serial": 3})  # changed after deciding
    before = canary_root.snapshot()
    done = rollout(canary_root, "--tenant", "acme")
    assert done.returncode == EXIT_REFUSED
    assert canary_root.snapshot() == before


def test_rollout_without_any_decision_is_refused(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    done = rollout(canary_root, "--tenant", "acme")
    assert done.returncode == EXIT_REFUSED
    assert "canary decide" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "ACME"], "invalid tenant id"),
        (["--tenant", "zeta"], "unknown tenant"),
        (["--tenant", "acme", "--decision-file", "/etc/hostname"], "outside the canary root"),
        (["--tenant", "acme", "--max-age", "0"], "--max-age"),
    ],
)
def test_rollout_usage_errors_exit_2(
    canary_root: CanaryRoot, args: list[str], message: str
) -> None:
    canary_root.tenant("acme")
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_GO
    before = canary_root.snapshot()
    done = rollout(canary_root, *args)
    assert done.returncode == EXIT_USAGE, done.stdout + done.stderr
    assert message in done.stderr
    assert canary_root.snapshot() == before


def test_rollout_refuses_a_decision_file_linked_from_outside_the_root(
    canary_root: CanaryRoot, tmp_path: Path
) -> None:
    canary_root.tenant("acme")
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_GO
    outside = tmp_path / "elsewhere.json"
    outside.write_bytes(canary_root.decision_file("acme").read_bytes())
    link = canary_root.path / "acme" / "canary" / "linked_decision.json"
    link.symlink_to(outside)
    done = rollout(canary_root, "--tenant", "acme", "--decision-file", str(link))
    assert done.returncode == EXIT_USAGE
    assert canary_root.state("acme") is None


# --- review -----------------------------------------------------------------------------------


def test_review_after_backout_lets_the_next_go_clear_the_kill_switch(
    canary_root: CanaryRoot,
) -> None:
    canary_root.tenant("acme", state={"quota": 10, "kill_switch": True})
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_HOLD  # review required
    done = canary(
        canary_root, "review", "--tenant", "acme", "--root", str(canary_root.path),
        "--by", "oncall-anna", "--note", "DLQ cause fixed",
    )  # fmt: skip
    assert done.returncode == EXIT_GO
    state = canary_root.state("acme")
    assert state is not None and state["history"][-1]["event"] == "REVIEW"
    assert decide(canary_root, "--tenant", "acme", command="cycle").returncode == EXIT_GO
    state = canary_root.state("acme")
    assert state is not None and (state["quota"], state["kill_switch"]) == (25, False)


def test_review_refuses_a_corrupt_state(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state="{")
    done = canary(
        canary_root, "review", "--tenant", "acme", "--root", str(canary_root.path),
        "--by", "me", "--note", "checked",
    )  # fmt: skip
    assert done.returncode == EXIT_REFUSED
    assert canary_root.state_file("acme").read_text() == "{"


def test_review_of_an_unknown_tenant_is_a_usage_error(canary_root: CanaryRoot) -> None:
    done = canary(
        canary_root, "review", "--tenant", "zeta", "--root", str(canary_root.path),
        "--by", "me", "--note", "checked",
    )  # fmt: skip
    assert done.returncode == EXIT_USAGE
    assert not (canary_root.path / "zeta").exists()


# --- validate, schema, help -------------------------------------------------------------------


def test_validate_accepts_good_files_and_names_bad_ones(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", state={"quota": 25})
    canary_root.tenant("beta", error_rate=1.5)
    assert decide(canary_root, "--tenant", "acme").returncode == EXIT_GO
    good = canary(canary_root, "validate", str(canary_root.path / "acme"))
    assert good.returncode == 0, good.stdout
    assert "0 invalid" in good.stdout

    bad_kpis = canary_root.path / "beta" / f"{DATE}.json"
    bad = canary(canary_root, "validate", str(canary_root.path / "acme"), str(bad_kpis))
    assert bad.returncode == 1
    assert str(bad_kpis) in bad.stdout and "error_rate" in bad.stdout

    canary_root.tenant("gamma", state={"quota": 25, "kill_switch": "maybe"})
    bad_state = canary(canary_root, "validate", str(canary_root.state_file("gamma")))
    assert bad_state.returncode == 1
    assert "kill_switch" in bad_state.stdout

    canary_root.tenant("delta", state={"quota": 33})  # valid JSON, but not one of the steps
    off_steps = canary(canary_root, "validate", str(canary_root.state_file("delta")))
    assert off_steps.returncode == 1
    assert "quota 33 is not one of the steps 10, 25, 50, 100" in off_steps.stdout


def test_validate_checks_gate_files(tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "good.toml").write_text("[gates.error_rate]\nmax = 0.03\n")
    assert (
        run([canary_script(), "validate", str(gates / "good.toml")], cwd=tmp_path).returncode == 0
    )
    (gates / "bad.toml").write_text("[gates.error_rate]\nmaximum = 0.03\n")
    done = run([canary_script(), "validate", str(gates / "bad.toml")], cwd=tmp_path)
    assert done.returncode == 1
    assert "maximum" in done.stdout


def test_schema_writes_json_schemas_that_real_files_satisfy(canary_root: CanaryRoot) -> None:
    out = canary_root.path.parent / "schemas"
    done = canary(canary_root, "schema", "--out", str(out))
    assert done.returncode == 0
    names = sorted(p.name for p in out.iterdir())
    for expected in ("decision", "kpis", "operate_state", "rollout_log"):
        assert f"{expected}.schema.json" in names
    schemas = {p.name.split(".")[0]: json.loads(p.read_text()) for p in out.iterdir()}
    for name, schema in schemas.items():
        if name == "blocklist":  # its object form or a bare list of its entries
            assert [form.get("type", "object") for form in schema["oneOf"]] == ["object", "array"]
            continue
        assert schema["type"] == "object" and schema["properties"]

    canary_root.tenant("acme")
    assert decide(canary_root, "--tenant", "acme", command="cycle").returncode == EXIT_GO
    canary_dir = canary_root.path / "acme" / "canary"
    instances = {
        "decision": json.loads((canary_dir / f"{DATE}_decision.json").read_text()),
        "rollout_log": json.loads((canary_dir / f"{DATE}_rollout_log.json").read_text()),
        "operate_state": canary_root.state("acme"),
        "kpis": json.loads((canary_root.path / "acme" / f"{DATE}.json").read_text()),
    }
    for name, instance in instances.items():
        assert set(instance) <= set(schemas[name]["properties"]) or name == "kpis"
        assert set(schemas[name].get("required", [])) <= set(instance), name
    jsonschema = pytest.importorskip("jsonschema")
    for name, instance in instances.items():
        validator = jsonschema.validators.validator_for(schemas[name])
        validator.check_schema(schemas[name])
        validator(schemas[name]).validate(instance)


@pytest.mark.parametrize("command", ["decide", "cycle", "rollout", "review", "validate", "schema"])
def test_every_command_help_shows_an_example(tmp_path: Path, command: str) -> None:
    done = run([canary_script(), command, "--help"], cwd=tmp_path)
    assert done.returncode == 0
    assert f"example: canary {command}" in done.stdout


def test_no_command_is_a_usage_error(tmp_path: Path) -> None:
    done = run([canary_script()], cwd=tmp_path)
    assert done.returncode == EXIT_USAGE
    assert "usage: canary" in done.stderr
