"""The GitHub workflows, checked offline: zizmor, actionlint, GitHub's schemas, and our own rules.

Both tools run with every proxy variable pointing at a closed local port, so a check that tried to
reach the network would fail here instead of passing on a machine that happens to have one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
NAMES = [p.name for p in WORKFLOWS]
CLOSED = "http://127.0.0.1:9"
PINNED = re.compile(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")
BAD_WORKFLOW = """\
name: bad
on:
  issues:
permissions: write-all
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.issue.title }}"
"""


def _tool(name: str) -> str:
    found = Path(sys.executable).parent / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    assert which, f"{name} is not installed: pip install -e '.[dev]'"
    return which


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in ("NO_PROXY", "GH_TOKEN")}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = CLOSED
    env.pop("GITHUB_TOKEN", None)
    return env


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=_offline_env(), capture_output=True, text=True, timeout=300, check=False
    )


def _zizmor(persona: str, *files: Path) -> tuple[int, list[dict[str, Any]], str]:
    done = _run(
        _tool("zizmor"),
        "--offline",
        "--persona",
        persona,
        "--format",
        "json",
        *map(str, files),
    )
    findings = json.loads(done.stdout) if done.stdout.strip() else []
    return done.returncode, findings, done.stderr


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    return data


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_name, step) for job_name, job in workflow["jobs"].items() for step in job["steps"]]


def test_the_four_workflows_exist() -> None:
    assert {"canary-daily.yml", "canary-pr.yml", "canary-freshness.yml", "ci.yml"} <= set(NAMES)


# --- zizmor -----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing_offline(persona: str) -> None:
    code, findings, stderr = _zizmor(persona, *WORKFLOWS)
    assert findings == [], json.dumps(findings, indent=1)[:4000]
    assert code == 0, stderr


def test_zizmor_does_find_what_it_is_run_for(tmp_path: Path) -> None:
    """The same invocation reports an injection, an unpinned action and a persisted token."""
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    code, findings, _ = _zizmor("regular", bad)
    assert code != 0
    idents = {f["ident"] for f in findings}
    assert {"template-injection", "unpinned-uses", "artipacked"} <= idents


# --- GitHub's workflow schema -----------------------------------------------------------------


def test_workflows_match_githubs_schema_offline() -> None:
    done = _run(
        _tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.github-workflows",
        *map(str, WORKFLOWS),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


def test_the_schema_check_rejects_an_unknown_key(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        (REPO / ".github/workflows/ci.yml").read_text().replace("runs-on:", "run-on:")
    )
    done = _run(
        _tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)
    )
    assert done.returncode == 1
    assert "broken.yml" in done.stdout


# --- actionlint -------------------------------------------------------------------------------


def test_actionlint_finds_nothing() -> None:
    done = _run(_tool("actionlint"), "-color=false", "-no-color", *map(str, WORKFLOWS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_actionlint_does_find_what_it_is_run_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        BAD_WORKFLOW.replace("runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    needs: nobody")
    )
    done = _run(_tool("actionlint"), "-color=false", "-no-color", str(bad))
    assert done.returncode == 1
    assert "nobody" in done.stdout


def test_dependabot_watches_the_actions_and_the_lock() -> None:
    path = REPO / ".github" / "dependabot.yml"
    done = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    updates = yaml.safe_load(path.read_text())["updates"]
    assert {(u["package-ecosystem"], u["directory"]) for u in updates} == {
        ("github-actions", "/"),
        ("pip", "/.github/requirements"),
    }


# --- our own rules ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_least_privilege_pinned_actions_and_no_expressions_in_run(name: str) -> None:
    text = (REPO / ".github" / "workflows" / name).read_text()
    workflow = _load(name)
    assert workflow["permissions"] == {}
    assert "concurrency" in workflow
    uses = [line.strip().removeprefix("- ") for line in text.splitlines() if "uses:" in line]
    assert uses
    for line in uses:
        assert PINNED.fullmatch(line), f"not pinned by commit with a version comment: {line}"
    for job_name, step in _steps(workflow):
        assert "${{" not in step.get("run", ""), f"{name}: {job_name}: expression inside run:"
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, f"{name}: {job_name}"
        if step.get("id") == "install":
            assert '--require-hashes -r "$CANARY_REQUIREMENTS"' in step["run"]
            assert "--no-deps" in step["run"].splitlines()[-1]


def test_each_job_writes_only_what_it_must() -> None:
    writers = {}
    for name in NAMES:
        for job_name, job in _load(name)["jobs"].items():
            permissions = job.get("permissions")
            assert permissions is not None, f"{name}: {job_name} has no permissions of its own"
            granted = {k for k, v in permissions.items() if v == "write"}
            if granted:
                writers[f"{name}:{job_name}"] = granted
    assert writers == {
        "canary-daily.yml:apply": {"contents", "issues"},
        "canary-daily.yml:results": {"checks"},
        "canary-pr.yml:results": {"checks"},
        "canary-freshness.yml:check": {"issues"},
    }


def test_the_token_reaches_only_steps_that_run_no_canary_code() -> None:
    """In the writer job: the push (git) and the incidents (gh, the standard library)."""
    for name in NAMES:
        for job_name, job in _load(name)["jobs"].items():
            for step in job["steps"]:
                holds = any("github.token" in str(v) for v in step.get("env", {}).values())
                if holds:
                    assert step["id"] in {"push", "incidents", "check"}, f"{name}: {job_name}"
                    assert "canary " not in step["run"].replace("canary-", ""), step["id"]
    apply = _load("canary-daily.yml")["jobs"]["apply"]
    assert "github.ref_name == github.event.repository.default_branch" in apply["if"]


def test_the_test_results_are_published_by_one_pinned_action_in_both_workflows() -> None:
    for name in ("canary-daily.yml", "canary-pr.yml"):
        results = _load(name)["jobs"]["results"]
        uses = [s["uses"] for s in results["steps"] if "uses" in s]
        publish = [u for u in uses if u.startswith("EnricoMi/publish-unit-test-result-action@")]
        assert len(publish) == 1, name
        assert results["permissions"]["checks"] == "write"


def test_one_version_of_each_action_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if "uses:" in line:
                action, _, pin = line.split("uses:")[1].strip().partition("@")
                pins.setdefault(action, set()).add(pin)
    assert {a: len(p) for a, p in pins.items()} == dict.fromkeys(pins, 1), pins


def test_the_required_check_reports_in_a_merge_queue_too() -> None:
    workflow = _load("canary-pr.yml")
    assert "merge_group" in workflow[True]
    # A merge group has no pull request number: without the ref, every queue entry would share
    # one group and cancel the others.
    assert "|| github.ref" in workflow["concurrency"]["group"]


def test_daily_runs_at_half_past_seven_berlin_and_can_be_dispatched() -> None:
    workflow = _load("canary-daily.yml")
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"] == [{"cron": "30 7 * * *", "timezone": "Europe/Berlin"}]
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"tenant", "date", "dry_run", "action", "by", "note"}
    assert triggers["workflow_dispatch"]["inputs"]["dry_run"]["type"] == "boolean"
    apply = workflow["jobs"]["apply"]
    assert apply["concurrency"]["cancel-in-progress"] is False
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert "bash .github/scripts/apply-and-push.sh" in str(apply["steps"])


def test_a_dispatched_kill_runs_canary_kill_in_the_writer_job_before_it_commits() -> None:
    workflow = _load("canary-daily.yml")
    inputs = workflow[True]["workflow_dispatch"]["inputs"]
    assert (
        inputs["action"]["options"] == ["cycle", "kill"] and inputs["action"]["default"] == "cycle"
    )
    steps = workflow["jobs"]["apply"]["steps"]
    names = [step.get("id") for step in steps]
    kill = steps[names.index("kill")]
    assert names.index("kill") < names.index("apply") < names.index("push")
    assert kill["if"] == "inputs.action == 'kill'"
    assert kill["run"].startswith("canary kill --tenant")
    assert set(kill["env"]) == {"CANARY_TENANT", "CANARY_BY", "CANARY_NOTE"}  # never in `run`
    assert "no-decisions" in steps[names.index("apply")]["env"]["CANARY_DECISIONS"]


def test_artifact_names_let_a_rerun_replace_what_it_uploads() -> None:
    """One artifact per shard (and one apply record), overwritten by a re-run of that job."""
    jobs = _load("canary-daily.yml")["jobs"]
    gate = jobs["gate"]
    assert gate["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.discover.outputs.shards) }}"
    uploads = [
        s["with"]
        for job in jobs.values()
        for s in job["steps"]
        if "upload-artifact" in s.get("uses", "")
    ]
    assert {u["name"]: u["overwrite"] for u in uploads} == {
        "canary-shard-${{ matrix.shard }}": True,
        "canary-applied": True,
    }


def test_the_pr_check_to_require_always_runs_after_every_other_job() -> None:
    jobs = _load("canary-pr.yml")["jobs"]
    final = jobs["required"]
    assert final["if"] == "always()"
    assert set([final["needs"]] if isinstance(final["needs"], str) else final["needs"]) == (
        set(jobs) - {"required"}
    )
    assert "pull_request_target" not in _load("canary-pr.yml")[True]
