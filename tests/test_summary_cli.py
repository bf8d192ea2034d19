"""``canary summary``: one table of many shards' decisions, through the console script."""

from __future__ import annotations

import shutil
from pathlib import Path

from _plugin_fixtures import DATE, CanaryRoot
from test_cli import EXIT_BACKOUT, EXIT_GO, EXIT_HOLD, EXIT_USAGE, canary, decide


def _downloaded(root: CanaryRoot, tmp_path: Path) -> Path:
    root.tenant("acme", state={"quota": 25})
    root.tenant("gamma", dlq_depth=37, state={"quota": 50})
    assert decide(root, "--tenant", "all").returncode == EXIT_BACKOUT
    folder = tmp_path / "downloaded"
    for tenant in ("acme", "gamma"):
        shutil.copytree(root.path / tenant / "canary", folder / tenant)
    return folder


def test_summary_tables_every_decision_worst_first(canary_root: CanaryRoot, tmp_path: Path) -> None:
    folder = _downloaded(canary_root, tmp_path)

    done = canary(canary_root, "summary", "--decisions", str(folder))

    assert done.returncode == EXIT_GO, done.stdout + done.stderr
    assert "2 tenant(s): 1 BACKOUT, 1 GO_50" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| acme", "| gamma"))]
    assert [row.split(" | ")[0] for row in rows[:2]] == ["| gamma", "| acme"]


def test_summary_names_an_unreadable_decision_and_still_tables_the_rest(
    canary_root: CanaryRoot, tmp_path: Path
) -> None:
    folder = _downloaded(canary_root, tmp_path)
    (folder / "acme" / f"{DATE}_decision.json").write_text("{")

    done = canary(canary_root, "summary", "--decisions", str(folder))

    assert done.returncode == EXIT_HOLD
    assert f"acme/{DATE}_decision.json" in done.stderr
    assert "1 tenant(s): 1 BACKOUT" in done.stdout


def test_summary_of_a_missing_folder_is_a_usage_error(canary_root: CanaryRoot) -> None:
    done = canary(canary_root, "summary", "--decisions", "nowhere")
    assert done.returncode == EXIT_USAGE
    assert "--decisions nowhere: no such folder" in done.stderr
