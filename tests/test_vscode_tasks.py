"""The VS Code tasks: the commands they run (POSIX and Windows) and the problems they show."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path
from typing import Any

from _plugin_fixtures import DATE, REPO, canary_script, run

TASKS = json.loads((REPO / ".vscode" / "tasks.json").read_text(encoding="utf-8"))
BY_LABEL = {task["label"]: task for task in TASKS["tasks"]}
INPUTS = {
    "${input:tenant}": "gamma",
    "${input:by}": "M. Muster",
    "${input:note}": "DLQ cause fixed",
}


def _args(label: str) -> list[str]:
    return [INPUTS.get(arg, arg) for arg in BY_LABEL[label]["args"]]


def test_every_task_runs_the_projects_canary_on_posix_and_windows() -> None:
    for task in TASKS["tasks"]:
        assert task["command"] == "${workspaceFolder}/.venv/bin/canary", task["label"]
        assert task["windows"]["command"] == "${workspaceFolder}\\.venv\\Scripts\\canary.exe"
        assert task["options"]["cwd"] == "${workspaceFolder}"


def test_there_are_tasks_for_every_daily_and_manual_step() -> None:
    assert _args("Operate: Canary Decide (Tenant)") == ["decide", "--tenant", "gamma"]
    assert _args("Operate: Canary Rollout (Tenant)") == ["rollout", "--tenant", "gamma"]
    assert _args("Operate: Canary Full Cycle (Decide→Rollout)") == ["cycle", "--tenant", "gamma"]
    assert _args("Operate: Canary Status (Tenant)") == ["status", "--tenant", "gamma"]
    assert _args("Operate: Canary History (Tenant)") == ["history", "--tenant", "gamma"]
    who = ["--by", "M. Muster", "--note", "DLQ cause fixed"]
    assert _args("Operate: Canary Review (Tenant)") == ["review", "--tenant", "gamma", *who]
    assert _args("Operate: Canary Kill (Tenant)") == ["kill", "--tenant", "gamma", *who]
    assert _args("Operate: Canary Pause (Tenant)") == ["pause", "--tenant", "gamma", *who]
    assert _args("Operate: Canary Resume (Tenant)") == ["resume", "--tenant", "gamma", *who]
    assert {i["id"] for i in TASKS["inputs"]} == {"tenant", "by", "note"}


def _problems(matchers: list[dict[str, Any]], output: str) -> list[tuple[str, str, str]]:
    """What VS Code shows for ``output``: a two-line pattern, its first line naming the gate."""
    found = []
    lines = output.splitlines()
    for matcher in matchers:
        first, second = matcher["pattern"]
        for line, following in itertools.pairwise(lines):
            head = re.search(first["regexp"], line)
            body = re.search(second["regexp"], following)
            if head and body:
                found.append((matcher["severity"], head[first["file"]], body[second["message"]]))
    return found


def test_the_decide_task_turns_hold_and_backout_lines_into_problems(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    shutil.copytree(REPO / "demo" / "data", workspace / "artifacts" / "reports" / "mahnwesen")
    task = BY_LABEL["Operate: Canary Decide (Tenant)"]
    done = run([canary_script(), *_args(task["label"]), "--date", DATE], cwd=workspace)
    assert done.returncode == 3, done.stdout + done.stderr

    problems = _problems(task["problemMatcher"], done.stdout)
    assert problems == [
        (
            "error",
            "gamma::dlq_depth",
            "BACKOUT: dlq_depth 37 > 20 (DLQ-Tiefe; backout threshold;"
            " hold above 10; threshold from built-in)",
        ),
        (
            "warning",
            "gamma::retry_depth",
            "HOLD: retry_depth 61 > 50 (Retry-Tiefe; threshold from built-in)",
        ),
    ]
    assert (
        BY_LABEL["Operate: Canary Full Cycle (Decide→Rollout)"]["problemMatcher"]
        == task["problemMatcher"]
    )
