"""The committed ``schemas/*.json`` are what ``canary schema`` writes today."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "schemas"


def _canary() -> str:
    found = Path(sys.executable).parent / "canary"
    return str(found) if found.exists() else str(shutil.which("canary"))


def test_committed_schemas_equal_the_output_of_canary_schema(tmp_path: Path) -> None:
    done = subprocess.run(
        [_canary(), "schema", "--out", str(tmp_path / "fresh")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    fresh = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "fresh").glob("*.json")}
    committed = {p.name: p.read_text(encoding="utf-8") for p in COMMITTED.glob("*.json")}
    assert sorted(committed) == sorted(fresh), "run: canary schema --out schemas"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert not stale, f"out of date: {stale}; run: canary schema --out schemas"


def test_every_file_the_project_reads_or_writes_has_a_schema() -> None:
    names = {p.name for p in COMMITTED.glob("*.json")}
    for kind in ("kpis", "blocklist", "operate_state", "decision", "rollout_log"):
        assert f"{kind}.schema.json" in names
        schema = json.loads((COMMITTED / f"{kind}.schema.json").read_text(encoding="utf-8"))
        if kind == "blocklist":  # an object with its entries, or a bare list of them
            object_form, list_form = schema["oneOf"]
            schema = schema["$defs"][object_form["$ref"].rsplit("/", 1)[1]]
            assert list_form["type"] == "array"
        assert schema["type"] == "object"
        assert schema["properties"]


def _check(schema: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(tool), "--schemafile", str(COMMITTED / schema), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_consumer_can_check_real_files_with_the_committed_schemas(tmp_path: Path) -> None:
    """KPI and state files, and the decision and rollout log of a real cycle, all validate."""
    root = tmp_path / "root"
    shutil.copytree(REPO / "demo" / "data", root)
    done = subprocess.run(
        [_canary(), "cycle", "--tenant", "acme", "--root", str(root), "--date", "2026-11-26"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    canary_dir = root / "acme" / "canary"
    checks = {
        "kpis.schema.json": sorted(root.glob("*/2026-11-26.json")),
        "operate_state.schema.json": sorted(root.glob("*/operate/operate_state.json")),
        "decision.schema.json": [canary_dir / "2026-11-26_decision.json"],
        "rollout_log.schema.json": [canary_dir / "2026-11-26_rollout_log.json"],
    }
    for schema, files in checks.items():
        assert files, schema
        checked = _check(schema, files)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_committed_schemas_reject_an_invalid_kpi_file(tmp_path: Path) -> None:
    bad = tmp_path / "2026-11-26.json"
    bad.write_text(json.dumps({"notices_sent": -1, "error_rate": 0.01}), encoding="utf-8")
    checked = _check("kpis.schema.json", [bad])
    assert checked.returncode == 1
    assert "notices_sent" in checked.stdout or "required" in checked.stdout


def test_validate_names_a_file_that_is_not_there(tmp_path: Path) -> None:
    """A named state, blocklist or KPI file that is missing is a problem, not a pass."""
    from pytest_canary.ops.validate import validate_paths

    names = ["acme/operate/operate_state.json", "acme/blocklist.json", "acme/2026-11-26.json"]
    problems, checked = validate_paths([tmp_path / name for name in names])

    assert checked == 3
    assert problems == [f"{tmp_path / name}: no such file" for name in names]


def test_a_decisions_base_and_the_logs_before_and_after_are_one_quota_state() -> None:
    """One snapshot type: the decision's ``base`` and the logs' ``before``/``after`` share it, and
    a state's history ``base`` is the same less its serial."""
    defs = {
        name: json.loads((COMMITTED / f"{name}.schema.json").read_text(encoding="utf-8"))["$defs"]
        for name in ("decision", "rollout_log", "control_log", "operate_state")
    }
    snapshots = [defs[name]["QuotaState"] for name in ("decision", "rollout_log", "control_log")]
    assert snapshots[0] == snapshots[1] == snapshots[2]
    entry_base = defs["operate_state"]["BaseState"]
    assert set(snapshots[0]["properties"]) - set(entry_base["properties"]) == {"serial"}
    assert entry_base["properties"].items() <= snapshots[0]["properties"].items()
