"""A rehearsal of canary-daily.yml: its shell steps, taken from the YAML, against a bare git remote.

Each job starts from a fresh shallow clone of the remote, as ``actions/checkout`` does; the
artifacts travel through a folder, as upload and download (``merge-multiple``) do; ``gh`` is a
stand-in that records what it was asked. The install steps are skipped (pytest-canary is installed
in this interpreter's environment, whose ``bin`` comes first on ``PATH``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from _plugin_fixtures import INNER_ADDOPTS

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "canary-daily.yml"
PR_WORKFLOW = REPO / ".github" / "workflows" / "canary-pr.yml"
FRESHNESS = REPO / ".github" / "workflows" / "canary-freshness.yml"
SCRIPTS = REPO / ".github" / "scripts"
ROOT = "artifacts/reports/mahnwesen"
DATE = "2026-11-26"
REHEARSED = {
    "discover": {"discover"},
    "gate": {"decide"},
    "apply": {"kill", "apply", "push", "incidents", "shards"},
    "results": {"summary"},
}
SKIPPED = {"install"}
KPIS: dict[str, dict[str, Any]] = {
    # every gate passes: GO, quota 25 → 50
    "acme": {"notices_sent": 1840, "error_rate": 0.004, "hard_bounces": 12, "dlq_depth": 2},
    # error rate 3.1 % > 2 %: HOLD, no change
    "beta": {"notices_sent": 930, "error_rate": 0.031, "hard_bounces": 20, "dlq_depth": 4},
    # DLQ 37 > 2 × 10: BACKOUT, quota 50 → 10, kill switch on
    "gamma": {"notices_sent": 410, "error_rate": 0.012, "hard_bounces": 9, "dlq_depth": 37},
}
QUOTAS = {"acme": 25, "beta": 25, "gamma": 50}
FAKE_GH = """#!/usr/bin/env bash
# Records each call. `issue list` answers with the open incident in $FAKE_GH_OPEN ("7:<title>").
# With $FAKE_GH_FAIL_EVERY=n every n-th call fails as GitHub's secondary rate limit does.
printf '%s\\n' "$*" >>"$FAKE_GH_LOG"
calls=$(wc -l <"$FAKE_GH_LOG")
if [ -n "${FAKE_GH_FAIL_EVERY:-}" ] && [ $((calls % FAKE_GH_FAIL_EVERY)) -eq 0 ]; then
  echo "HTTP 403: You have exceeded a secondary rate limit (https://docs.github.example)" >&2
  exit 1
fi
if [ "$1 $2" = "run list" ]; then
  echo "${FAKE_GH_RUNS:-[]}"
fi
if [ "$1 $2" = "issue list" ]; then
  if [ -n "${FAKE_GH_OPEN:-}" ]; then
    printf '[{"number": %s, "title": "%s"}]\\n' "${FAKE_GH_OPEN%%:*}" "${FAKE_GH_OPEN#*:}"
  else
    echo "[]"
  fi
fi
"""


def _workflow(path: Path = WORKFLOW) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def _step(job: str, step_id: str, path: Path = WORKFLOW) -> dict[str, Any]:
    for step in _workflow(path)["jobs"][job]["steps"]:
        if step.get("id") == step_id:
            return dict(step)
    raise AssertionError(f"{path.name}: job {job} has no step with id {step_id}")


def _state(checkout: Path, tenant: str) -> dict[str, Any]:
    path = checkout / ROOT / tenant / "operate" / "operate_state.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@dataclass
class Rehearsal:
    """A bare remote holding a consumer repository, and the jobs of one workflow run."""

    tmp: Path
    env: dict[str, str]
    runs: int = 0
    tenants: int = 0
    gate_output: str = ""
    gh_log: Path = field(init=False)
    apply_checkout: Path = field(init=False)

    def __post_init__(self) -> None:
        self.remote = self.tmp / "remote.git"
        self.gh_log = self.tmp / "gh.log"
        self.gh_log.touch()
        fake_bin = self.tmp / "fake-bin"
        fake_bin.mkdir()
        (fake_bin / "gh").write_text(FAKE_GH, encoding="utf-8")
        (fake_bin / "gh").chmod(0o755)
        self.env["PATH"] = os.pathsep.join(
            [str(Path(sys.executable).parent), str(fake_bin), self.env.get("PATH", "")]
        )
        self.env["FAKE_GH_LOG"] = str(self.gh_log)

    # --- git ----------------------------------------------------------------------------------

    def git(self, cwd: Path, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=cwd, env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    def seed(self) -> None:
        subprocess.run(
            ["git", "init", "--quiet", "--bare", "-b", "main", str(self.remote)],
            env=self.env,
            check=True,
        )
        work = self.tmp / "seed"
        self.git(self.tmp, "clone", "--quiet", str(self.remote), str(work))
        shutil.copytree(SCRIPTS, work / ".github" / "scripts")
        self.add_tenants(work, KPIS, QUOTAS)
        self.git(work, "add", "-A")
        self.git(work, "commit", "--quiet", "-m", "seed")
        self.git(work, "push", "--quiet", "origin", "HEAD:main")

    def add_tenants(
        self, work: Path, kpis_of: dict[str, dict[str, Any]], quotas: dict[str, int]
    ) -> None:
        for tenant, kpis in kpis_of.items():
            folder = work / ROOT / tenant
            (folder / "operate").mkdir(parents=True)
            full = {"tenant": tenant, "date": DATE, "retry_depth": 14, **kpis}
            (folder / f"{DATE}.json").write_text(json.dumps(full), encoding="utf-8")
            state = {
                "schema_version": 1,
                "tenant": tenant,
                "quota": quotas[tenant],
                "kill_switch": False,
                "serial": 0,
                "last_decision_id": None,
                "updated_at": None,
                "review": None,
                "history": [],
            }
            (folder / "operate" / "operate_state.json").write_text(
                json.dumps(state, indent=2) + "\n", encoding="utf-8"
            )
        self.tenants += len(kpis_of)

    def push_kpis(self, kpis_of: dict[str, dict[str, Any]]) -> None:
        """New tenants with a KPI file and no state file yet, pushed to the branch."""
        other = self.checkout(f"kpis-{self.tenants}")
        for tenant, kpis in kpis_of.items():
            (other / ROOT / tenant).mkdir()
            full = {"tenant": tenant, "date": DATE, "retry_depth": 14, **kpis}
            (other / ROOT / tenant / f"{DATE}.json").write_text(json.dumps(full))
        self.tenants += len(kpis_of)
        self.git(other, "add", "-A")
        self.git(other, "commit", "--quiet", "-m", "new tenants")
        self.git(other, "push", "--quiet", "origin", "HEAD:main")

    def push_tenants(self, kpis_of: dict[str, dict[str, Any]], quota: int) -> None:
        """More tenants on the branch, as a person adding them would push them."""
        other = self.checkout(f"tenants-{self.tenants}")
        self.add_tenants(other, kpis_of, dict.fromkeys(kpis_of, quota))
        self.git(other, "add", "-A")
        self.git(other, "commit", "--quiet", "-m", "more tenants")
        self.git(other, "push", "--quiet", "origin", "HEAD:main")

    def checkout(self, name: str) -> Path:
        """A shallow clone of the branch head, as actions/checkout makes it."""
        target = self.tmp / f"run{self.runs}" / name
        target.parent.mkdir(exist_ok=True)
        self.git(self.tmp, "clone", "--quiet", "--depth", "1", f"file://{self.remote}", str(target))
        return target

    def head(self) -> str:
        return self.git(self.remote, "rev-parse", "main")

    def commits(self) -> int:
        return int(self.git(self.remote, "rev-list", "--count", "main"))

    def push_change(self, path: str, text: str, message: str) -> None:
        """Someone else pushes to the branch (a KPI job, a person)."""
        other = self.checkout(f"other-{message.split()[0]}")
        (other / path).parent.mkdir(parents=True, exist_ok=True)
        (other / path).write_text(text, encoding="utf-8")
        self.git(other, "add", path)
        self.git(other, "commit", "--quiet", "-m", message)
        self.git(other, "push", "--quiet", "origin", "HEAD:main")

    # --- steps --------------------------------------------------------------------------------

    def step(
        self, job: str, step_id: str, cwd: Path, given: dict[str, str], path: Path = WORKFLOW
    ) -> subprocess.CompletedProcess[str]:
        """Run one ``run:`` step as the runner does: its env, ``bash -eo pipefail``, in ``cwd``.

        Every value the workflow takes from an expression must be given; a new expression the
        rehearsal does not know fails here instead of running with a blank.
        """
        step = _step(job, step_id, path)
        env = dict(self.env)
        env.update({k: str(v) for k, v in _workflow(path).get("env", {}).items()})
        for key, value in step.get("env", {}).items():
            if "${{" in str(value):
                assert key in given, f"{job}.{step_id}: give a value for env {key} ({value})"
            else:
                env[key] = str(value)
        env.update(given)
        script = self.tmp / f"step-{path.stem}-{job}-{step_id}.sh"
        script.write_text(step["run"], encoding="utf-8")
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    def decide(self, shard_min: str = "2") -> Path:
        """discover, then every gate shard; returns the merged artifacts (the download)."""
        self.runs += 1
        outputs = self.discover(shard_min)
        downloaded = self.tmp / f"run{self.runs}" / "canary-in"
        downloaded.mkdir()
        for shard in json.loads(outputs["shards"]):
            shutil.copytree(self.gate(outputs, shard, shard_min), downloaded, dirs_exist_ok=True)
        return downloaded

    def discover(self, shard_min: str, **given: str) -> dict[str, str]:
        work = self.checkout("discover")
        output = self.tmp / f"run{self.runs}" / "discover.out"
        values = {"CANARY_TENANT": "", "CANARY_DATE": DATE, "CANARY_SHARD_MIN": shard_min}
        found = self.step(
            "discover", "discover", work, {**values, **given, "GITHUB_OUTPUT": str(output)}
        )
        assert found.returncode == 0, found.stdout + found.stderr
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
        assert outputs["date"] == DATE
        assert outputs["count"] == str(self.tenants)
        return outputs

    def gate(self, outputs: dict[str, str], shard: str, shard_min: str, **given: str) -> Path:
        """One gate job; returns its ``canary-out`` folder (the upload)."""
        gate = self.checkout(f"gate-{shard}")
        summary = self.tmp / f"run{self.runs}" / f"summary-{shard}.md"
        decided = self.step(
            "gate",
            "decide",
            gate,
            {
                "CANARY_TENANT": "",
                "CANARY_COUNT": outputs["count"],
                "CANARY_DATE": outputs["date"],
                "CANARY_SHARD": shard,
                "CANARY_SHARD_MIN": shard_min,
                "CANARY_DRY_RUN": "",
                "GITHUB_STEP_SUMMARY": str(summary),
                **given,
            },
        )
        assert decided.returncode == 0, decided.stdout + decided.stderr
        assert (gate / "canary-out" / "junit" / f"shard-{shard}.xml").is_file()
        assert summary.read_text(encoding="utf-8").strip()
        self.gate_output += decided.stdout
        return gate / "canary-out"

    def apply(
        self, downloaded: Path, checkout: Path | None = None
    ) -> tuple[subprocess.CompletedProcess[str], Path]:
        """The apply step (no token), then the push step: one result with both outputs."""
        work = checkout or self.checkout("apply")
        self.apply_checkout = work
        out = self.tmp / f"run{self.runs}" / "canary-applied"
        summary = {"GITHUB_STEP_SUMMARY": str(self.tmp / f"run{self.runs}" / "apply-summary.md")}
        given = {"CANARY_DECISIONS": str(downloaded), "CANARY_OUT": str(out), **summary}
        applied = self.step("apply", "apply", work, given)
        if applied.returncode != 0:
            return applied, out
        given = {"CANARY_OUT": str(out), "CANARY_BRANCH": "main", "CANARY_PUSH_TOKEN": "t0ken"}
        pushed = self.step("apply", "push", work, {**given, "CANARY_PUSH_BACKOFF": "0", **summary})
        return subprocess.CompletedProcess(
            pushed.args, pushed.returncode, applied.stdout + pushed.stdout,
            applied.stderr + pushed.stderr,
        ), out  # fmt: skip

    def incidents(self, work: Path, out: Path) -> subprocess.CompletedProcess[str]:
        return self.step(
            "apply", "incidents", work, {"CANARY_OUT": str(out), "GH_TOKEN": "not-a-token"}
        )


@pytest.fixture
def rehearsal(tmp_path: Path) -> Rehearsal:
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Rehearsal\n\temail = rehearsal@example.invalid\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CANARY_", "GITHUB_", "PYTEST_", "GIT_", "GH_"))
    }
    env.update(
        {
            "GIT_CONFIG_GLOBAL": str(gitconfig),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GITHUB_ACTIONS": "true",
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "acme/dunning",
            "GITHUB_RUN_ID": "42",
            "PYTEST_ADDOPTS": INNER_ADDOPTS,  # the runner has no test-only plugins either
        }
    )
    rehearsal = Rehearsal(tmp_path, env)
    rehearsal.seed()
    return rehearsal


# --- the workflow as written ------------------------------------------------------------------


def test_every_shell_step_of_the_daily_workflow_is_rehearsed() -> None:
    """A new ``run:`` step fails this test until the rehearsal runs it too."""
    for name, job in _workflow()["jobs"].items():
        for step in job["steps"]:
            if "run" not in step:
                continue
            assert step.get("id") in REHEARSED[name] | SKIPPED, f"{name}: {step.get('name')}"


# --- one run, and a repeated one --------------------------------------------------------------


def test_daily_run_commits_the_two_changed_states_once_and_repeating_it_commits_nothing(
    rehearsal: Rehearsal,
) -> None:
    before = rehearsal.commits()
    downloaded = rehearsal.decide()
    assert sorted(p.name for p in (downloaded / "decisions").iterdir()) == ["acme", "beta", "gamma"]
    proposed = json.loads((downloaded / "proposed" / "acme" / "operate_state.json").read_text())
    assert proposed["quota"] == 50
    # GitHub reads a workflow command only at the start of a line.
    lines = rehearsal.gate_output.splitlines()
    assert any(line.startswith("::error title=canary gamma%3A BACKOUT::") for line in lines)
    assert any(line.startswith("::warning title=canary beta%3A HOLD::") for line in lines)

    applied, out = rehearsal.apply(downloaded)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert rehearsal.commits() == before + 1
    changed = rehearsal.git(rehearsal.remote, "show", "--name-only", "--format=", "main")
    assert changed.splitlines() == [
        f"{ROOT}/acme/operate/operate_state.json",
        f"{ROOT}/gamma/operate/operate_state.json",
    ]
    author = rehearsal.git(rehearsal.remote, "log", "-1", "--format=%an", "main")
    assert author == "github-actions[bot]"
    now = rehearsal.checkout("after")
    assert _state(now, "acme")["quota"] == 50
    assert (_state(now, "gamma")["quota"], _state(now, "gamma")["kill_switch"]) == (10, True)
    assert _state(now, "beta")["serial"] == 0
    assert (out / "changed.txt").read_text().splitlines() == [
        f"acme {DATE} GO_50",
        f"gamma {DATE} BACKOUT",
    ]
    message = rehearsal.git(rehearsal.remote, "log", "-1", "--format=%B", "main")
    assert "acme: GO_50\ngamma: BACKOUT" in message
    assert "Run: https://github.example/acme/dunning/actions/runs/42" in message
    assert (out / "pushed").read_text().strip() == rehearsal.head()
    summary = (rehearsal.tmp / "run1" / "apply-summary.md").read_text()
    assert "- acme: GO_50\n- gamma: BACKOUT" in summary

    opened = rehearsal.incidents(rehearsal.apply_checkout, out)
    assert opened.returncode == 0, opened.stdout + opened.stderr
    calls = rehearsal.gh_log.read_text().splitlines()
    assert [c for c in calls if c.startswith("issue create")] == [
        f"issue create --title canary: BACKOUT of gamma --label canary-incident "
        f"--body-file {out}/incident-gamma.md"
    ]
    assert len([c for c in calls if c.startswith("issue list")]) == 1
    body = (out / "incident-gamma.md").read_text()
    assert "BACKOUT was **applied**" in body
    assert "canary review --tenant gamma" in body
    assert "https://github.example/acme/dunning/actions/runs/42" in body
    assert "dlq_depth" in body
    assert "not pushed" not in body

    # The same Berlin date again (a late or repeated run): same decisions, nothing to commit.
    head = rehearsal.head()
    again, out_again = rehearsal.apply(rehearsal.decide())
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no state changed: nothing to commit" in again.stdout
    assert rehearsal.head() == head
    calls_before = len(rehearsal.gh_log.read_text().splitlines())
    assert rehearsal.incidents(rehearsal.apply_checkout, out_again).returncode == 0
    assert len(rehearsal.gh_log.read_text().splitlines()) == calls_before


# --- the branch moved meanwhile ---------------------------------------------------------------


def test_a_branch_that_moved_meanwhile_is_rebased_onto_and_pushed(rehearsal: Rehearsal) -> None:
    downloaded = rehearsal.decide()
    work = rehearsal.checkout("apply")
    rehearsal.push_change(f"{ROOT}/beta/2026-11-27.json", "{}\n", "kpis of beta")
    moved = rehearsal.head()

    applied, _ = rehearsal.apply(downloaded, work)

    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "moved; fetching and rebasing" in applied.stdout
    assert rehearsal.git(rehearsal.remote, "rev-parse", "main~1") == moved
    changed = rehearsal.git(rehearsal.remote, "show", "--name-only", "--format=", "main")
    assert len(changed.splitlines()) == 2
    now = rehearsal.checkout("after")
    assert (now / ROOT / "beta" / "2026-11-27.json").is_file()
    assert _state(now, "acme")["quota"] == 50


def _edit_state(rehearsal: Rehearsal, tenant: str, message: str, **fields: Any) -> None:
    """A person commits a change to a tenant's state file (a review, a hand edit)."""
    reviewed = rehearsal.checkout(f"edit-{tenant}")
    data = _state(reviewed, tenant)
    data.update(fields)
    rehearsal.push_change(
        f"{ROOT}/{tenant}/operate/operate_state.json", json.dumps(data, indent=2), message
    )


def test_one_conflicting_tenant_is_left_out_and_the_others_are_pushed(
    rehearsal: Rehearsal,
) -> None:
    downloaded = rehearsal.decide()
    work = rehearsal.checkout("apply")
    _edit_state(rehearsal, "acme", "manual acme", quota=50, serial=0)
    moved = rehearsal.head()

    applied, out = rehearsal.apply(downloaded, work)

    assert applied.returncode == 1  # the run is red: acme needs a look
    lines = applied.stdout.splitlines()
    assert any(line.startswith("::error title=canary conflict acme::") for line in lines)
    assert rehearsal.git(rehearsal.remote, "rev-parse", "main~1") == moved
    changed = rehearsal.git(rehearsal.remote, "show", "--name-only", "--format=", "main")
    assert changed.splitlines() == [f"{ROOT}/gamma/operate/operate_state.json"]
    now = rehearsal.checkout("after")
    assert (_state(now, "gamma")["quota"], _state(now, "gamma")["kill_switch"]) == (10, True)
    assert (_state(now, "acme")["quota"], _state(now, "acme")["serial"]) == (50, 0)  # theirs
    assert (out / "conflict.txt").read_text() == f"acme {DATE} GO_50\n"
    summary = (rehearsal.tmp / "run1" / "apply-summary.md").read_text()
    assert "**1 tenant(s) conflicted**" in summary
    assert "| acme | GO_50 |" in summary

    opened = rehearsal.incidents(work, out)

    assert opened.returncode == 0, opened.stdout + opened.stderr
    titles = [c for c in rehearsal.gh_log.read_text().splitlines() if c.startswith("issue create")]
    assert [t.split(" --label")[0] for t in titles] == [
        "issue create --title canary: state conflict of acme",
        "issue create --title canary: BACKOUT of gamma",
    ]
    assert "**not pushed**" in (out / "incident-acme.md").read_text()
    assert "BACKOUT was **applied**" in (out / "incident-gamma.md").read_text()


def test_a_conflicting_backout_is_pushed_by_no_one_and_says_so(rehearsal: Rehearsal) -> None:
    downloaded = rehearsal.decide()
    work = rehearsal.checkout("apply")
    _edit_state(rehearsal, "gamma", "manual gamma", quota=25)

    applied, out = rehearsal.apply(downloaded, work)

    assert applied.returncode == 1
    now = rehearsal.checkout("after")
    assert _state(now, "acme")["quota"] == 50
    assert _state(now, "gamma")["quota"] == 25
    assert rehearsal.incidents(work, out).returncode == 0
    body = (out / "incident-gamma.md").read_text()
    assert "BACKOUT was decided but **not pushed**" in body


def test_a_refused_backout_raises_an_incident_saying_why(rehearsal: Rehearsal) -> None:
    downloaded = rehearsal.decide()
    # After the gates ran, a hand edit breaks gamma's state: the rollout must not touch it.
    other = rehearsal.checkout("break")
    (other / ROOT / "gamma" / "operate" / "operate_state.json").write_text("{\n")
    rehearsal.git(other, "commit", "--quiet", "-am", "broken gamma")
    rehearsal.git(other, "push", "--quiet", "origin", "HEAD:main")

    applied, out = rehearsal.apply(downloaded)

    assert applied.returncode == 1, applied.stdout + applied.stderr
    lines = applied.stdout.splitlines()
    assert any(line.startswith("::error title=canary rollout refused gamma::") for line in lines)
    now = rehearsal.checkout("after")
    assert _state(now, "acme")["quota"] == 50  # the others still go
    assert (out / "refused.txt").read_text() == f"gamma {DATE} BACKOUT\n"

    opened = rehearsal.incidents(rehearsal.apply_checkout, out)

    assert opened.returncode == 0, opened.stdout + opened.stderr
    body = (out / "incident-gamma.md").read_text()
    assert "BACKOUT was **not applied**: the rollout refused it" in body
    assert "operate_state.json" in body
    assert "canary review" not in body  # nothing to review: the kill switch is not on


MASS = {f"m{n:03d}": KPIS["gamma"] for n in range(25)}


def _mass_backout(rehearsal: Rehearsal) -> Path:
    rehearsal.push_tenants(MASS, quota=50)
    applied, out = rehearsal.apply(rehearsal.decide(shard_min="100"))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return out


def test_a_mass_backout_opens_one_aggregate_incident(rehearsal: Rehearsal) -> None:
    out = _mass_backout(rehearsal)

    opened = rehearsal.incidents(rehearsal.apply_checkout, out)

    assert opened.returncode == 0, opened.stdout + opened.stderr
    calls = rehearsal.gh_log.read_text().splitlines()
    created = [c for c in calls if c.startswith("issue ")]
    assert created == [
        f"issue create --title canary: 26 incidents in the run of {DATE} --label canary-incident"
        f" --body-file {out}/incident-aggregate.md"
    ]
    body = (out / "incident-aggregate.md").read_text()
    for tenant in [*MASS, "gamma"]:
        assert f"| {tenant} | {DATE} | BACKOUT | BACKOUT was **applied**" in body


def test_a_rate_limited_gh_never_stops_the_incident_loop(rehearsal: Rehearsal) -> None:
    out = _mass_backout(rehearsal)
    rehearsal.env.update({"CANARY_INCIDENT_LIMIT": "100", "FAKE_GH_FAIL_EVERY": "3"})

    opened = rehearsal.incidents(rehearsal.apply_checkout, out)

    assert opened.returncode == 1
    calls = rehearsal.gh_log.read_text().splitlines()
    created = [c for c in calls if c.startswith("issue create")]
    assert len(created) == 26  # every tenant was tried, the failed ones too
    failed = len(calls) // 3
    assert f"::error title=canary incident::{failed} gh call(s) failed" in opened.stdout
    assert "secondary rate limit" in opened.stdout


# --- incidents and failed shards --------------------------------------------------------------


def test_a_backout_with_an_open_incident_comments_on_it(rehearsal: Rehearsal) -> None:
    downloaded = rehearsal.decide()
    applied, out = rehearsal.apply(downloaded)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    rehearsal.env["FAKE_GH_OPEN"] = "7:canary: BACKOUT of gamma"

    done = rehearsal.incidents(rehearsal.apply_checkout, out)

    assert done.returncode == 0, done.stdout + done.stderr
    calls = rehearsal.gh_log.read_text().splitlines()
    assert f"issue comment 7 --body-file {out}/incident-gamma.md" in calls
    assert not [c for c in calls if c.startswith("issue create")]


@pytest.mark.parametrize(("result", "code"), [("success", 0), ("failure", 1), ("cancelled", 1)])
def test_the_apply_job_fails_when_a_shard_did_not_decide(
    rehearsal: Rehearsal, result: str, code: int
) -> None:
    done = rehearsal.step("apply", "shards", rehearsal.tmp, {"GATE_RESULT": result})
    assert done.returncode == code


# --- discovery --------------------------------------------------------------------------------


def _discover(rehearsal: Rehearsal, root: Path, **given: str) -> tuple[int, dict[str, str], str]:
    output = rehearsal.tmp / "discover.out"
    output.unlink(missing_ok=True)
    values = {"CANARY_TENANT": "", "CANARY_DATE": "", "GITHUB_OUTPUT": str(output), **given}
    work = rehearsal.checkout(f"discover-{len(list(rehearsal.tmp.glob('run0/*')))}")
    done = rehearsal.step("discover", "discover", work, {"CANARY_ROOT": str(root), **values})
    text = output.read_text() if output.exists() else ""
    return (
        done.returncode,
        dict(line.split("=", 1) for line in text.splitlines()),
        (done.stdout + done.stderr),
    )


def _shard(rehearsal: Rehearsal, root: Path, shard: str, **given: str) -> list[str]:
    values = {"CANARY_ROOT": str(root), "CANARY_TENANT": "", "CANARY_DATE": DATE, **given}
    env = {**rehearsal.env, **values}
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "discover-tenants.py"), "shard", shard],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split()


def _folders(root: Path, count: int) -> list[str]:
    names = [f"t{n:06d}" for n in range(count)]
    for name in names:
        (root / name).mkdir(parents=True)
    return names


@pytest.mark.parametrize(
    ("tenants", "jobs", "least", "expected"),
    [
        (3, "16", "500", 1),
        pytest.param(1200, "16", "500", 2, marks=pytest.mark.scale),
        pytest.param(600, "256", "1", 200, marks=pytest.mark.scale),
        (600, "4", "1", 4),
    ],
)
def test_discovery_sizes_shards_by_a_job_target_with_a_minimum(
    rehearsal: Rehearsal, tenants: int, jobs: str, least: str, expected: int
) -> None:
    root = rehearsal.tmp / "many"
    names = _folders(root, tenants)
    given = {"CANARY_SHARD_JOBS": jobs, "CANARY_SHARD_MIN": least}

    code, outputs, _ = _discover(rehearsal, root, CANARY_DATE=DATE, **given)

    assert code == 0
    shards = json.loads(outputs["shards"])
    assert len(shards) == expected
    listed = [t for shard in shards for t in _shard(rehearsal, root, shard, **given)]
    assert listed == names
    sizes = [len(_shard(rehearsal, root, shard, **given)) for shard in shards[:1]]
    assert sizes[0] >= min(int(least), tenants)


@pytest.mark.scale
def test_discovery_output_stays_small_at_100000_tenants(rehearsal: Rehearsal) -> None:
    root = rehearsal.tmp / "huge"
    _folders(root, 100_000)

    code, outputs, _ = _discover(rehearsal, root, CANARY_DATE=DATE)

    assert code == 0
    assert outputs["count"] == "100000"
    assert len(json.loads(outputs["shards"])) == 16
    size = (rehearsal.tmp / "discover.out").stat().st_size
    assert size < 1_000  # GitHub allows 1 MB for all of a job's outputs


def test_discovery_warns_about_skipped_folders_and_missing_kpi_files(
    rehearsal: Rehearsal,
) -> None:
    root = rehearsal.tmp / "root"
    for name in ("acme", "beta", "gamma", "Acme-GmbH", "acme.de", "all", "x\n::error::y"):
        (root / name).mkdir(parents=True)
    (root / "acme" / f"{DATE}.json").write_text("{}")
    summary = rehearsal.tmp / "summary.md"

    code, outputs, stdout = _discover(
        rehearsal, root, CANARY_DATE=DATE, GITHUB_STEP_SUMMARY=str(summary)
    )

    assert code == 0
    assert outputs["count"] == "3"
    warnings = [line for line in stdout.splitlines() if line.startswith("::")]
    assert warnings == [
        "::warning title=canary discovery::4 folder(s) under "
        f"{root} skipped: not a tenant id (a-z, 0-9, _ and -, up to 63 characters, not 'all'):"
        " Acme-GmbH, acme.de, all, x???error??y",
        f"::warning title=canary discovery::2 of 3 tenant(s) have no KPI file {DATE}.json"
        " (they will HOLD): beta, gamma",
    ]
    text = summary.read_text()
    assert "4 folder(s)" in text and "2 of 3 tenant(s)" in text


def test_a_gate_job_refuses_a_roster_that_differs_from_discovery(rehearsal: Rehearsal) -> None:
    root = rehearsal.tmp / "root"
    _folders(root, 3)
    env = {**rehearsal.env, "CANARY_ROOT": str(root), "CANARY_COUNT": "4"}
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "discover-tenants.py"), "shard", "01"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "3 tenant(s) here, 4 at discovery" in done.stderr


def test_discovery_of_an_empty_root_plans_no_job(rehearsal: Rehearsal) -> None:
    code, outputs, stdout = _discover(rehearsal, rehearsal.tmp / "missing")
    assert code == 0
    assert (outputs["count"], outputs["shards"]) == ("0", "[]")
    assert "::notice title=canary discovery::no tenant folders" in stdout


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"CANARY_TENANT": "../acme"}, "tenant '../acme': use a tenant id"),
        ({"CANARY_TENANT": "zeta"}, "tenant 'zeta': no folder"),
        ({"CANARY_DATE": "26.11.2026"}, "date '26.11.2026': use YYYY-MM-DD"),
        ({"CANARY_DATE": "2026-02-30"}, "date '2026-02-30': no such day"),
    ],
)
def test_discovery_refuses_a_bad_input_naming_it(
    rehearsal: Rehearsal, given: dict[str, str], message: str
) -> None:
    root = rehearsal.tmp / "root"
    (root / "acme").mkdir(parents=True)
    code, outputs, stdout = _discover(rehearsal, root, **given)
    assert code == 2
    assert outputs == {}
    assert f"::error title=canary discovery::{message}" in stdout


# --- the pull-request check -------------------------------------------------------------------


def _pr_checkout(rehearsal: Rehearsal) -> Path:
    """A PR's checkout: the demo tenants under the root, the project's gate file."""
    work = rehearsal.tmp / "pr"
    shutil.copytree(REPO / "demo" / "data", work / ROOT)
    shutil.copytree(REPO / "gates", work / "gates")
    return work


def test_the_pr_dry_run_reports_every_tenant_and_writes_nothing(rehearsal: Rehearsal) -> None:
    work = _pr_checkout(rehearsal)
    summary = rehearsal.tmp / "pr-summary.md"
    before = sorted(p for p in (work / ROOT).rglob("*"))

    validated = rehearsal.step("gates", "validate", work, {}, PR_WORKFLOW)
    done = rehearsal.step(
        "gates", "dry-run", work, {"GITHUB_STEP_SUMMARY": str(summary)}, PR_WORKFLOW
    )

    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert done.returncode == 0, done.stdout + done.stderr  # HOLD and BACKOUT do not fail a PR
    text = summary.read_text(encoding="utf-8")
    assert "for KPI date 2026-11-26" in text  # the newest KPI date under the root
    assert "| gamma | BACKOUT |" in text
    assert "| acme | GO_50 |" in text
    lines = done.stdout.splitlines()
    assert any(line.startswith("::error title=canary gamma%3A BACKOUT::") for line in lines)
    assert (work / "canary-out" / "junit.xml").is_file()
    assert sorted(p for p in (work / ROOT).rglob("*")) == before


def test_the_pr_check_fails_on_a_broken_gate_file(rehearsal: Rehearsal) -> None:
    work = _pr_checkout(rehearsal)
    gates = work / "gates" / "mahnwesen.toml"
    gates.write_text(gates.read_text() + "\n[gates.error_rate]\nmaxx = 0.5\n")

    validated = rehearsal.step("gates", "validate", work, {}, PR_WORKFLOW)
    done = rehearsal.step("gates", "dry-run", work, {}, PR_WORKFLOW)

    assert validated.returncode == 1
    assert "gates/mahnwesen.toml" in validated.stdout
    assert done.returncode > 1
    assert "::error title=canary::pytest exited" in done.stdout


def test_the_pr_backtest_shows_the_days_the_prs_gates_would_change(rehearsal: Rehearsal) -> None:
    work = rehearsal.tmp / "pr"
    today = dt.datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()  # the step's window
    tenant = work / ROOT / "beta"
    tenant.mkdir(parents=True)
    kpis = {"notices_sent": 900, "error_rate": 0.031, "hard_bounces": 2, "dlq_depth": 0}
    (tenant / f"{today}.json").write_text(json.dumps({**kpis, "retry_depth": 0}))
    shutil.copytree(REPO / "gates", work / "gates")
    canary = [sys.executable, "-m", "pytest_canary.cli"]
    decided = subprocess.run(
        [*canary, "decide", "--tenant", "beta", f"--root={work / ROOT}", f"--date={today}"],
        cwd=work, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert decided.returncode == 1, decided.stdout + decided.stderr  # HOLD on the error rate
    gate_file = work / "gates" / "mahnwesen.toml"
    gate_file.write_text(gate_file.read_text().replace("max = 0.02", "max = 0.04"))
    summary = rehearsal.tmp / "pr-summary.md"

    done = rehearsal.step(
        "gates", "backtest", work, {"GITHUB_STEP_SUMMARY": str(summary)}, PR_WORKFLOW
    )

    assert done.returncode == 0, done.stdout + done.stderr
    text = summary.read_text(encoding="utf-8")
    assert f"| beta | {today} | HOLD | GO_25 |" in text
    assert "error_rate 0.031: hold → pass" in text


def test_every_shell_step_of_the_pr_workflow_is_rehearsed() -> None:
    rehearsed = {"gates": {"validate", "dry-run", "backtest"}, "required": {"result"}}
    for name, job in _workflow(PR_WORKFLOW)["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                assert step.get("id") in rehearsed[name] | SKIPPED, f"{name}: {step.get('name')}"


@pytest.mark.parametrize(("result", "code"), [("success", 0), ("failure", 1), ("skipped", 1)])
def test_the_required_pr_check_passes_only_when_the_gates_job_succeeded(
    rehearsal: Rehearsal, result: str, code: int
) -> None:
    done = rehearsal.step(
        "required", "result", rehearsal.tmp, {"GATES_RESULT": result}, PR_WORKFLOW
    )
    assert done.returncode == code


# --- 10,000 tenants ---------------------------------------------------------------------------


@pytest.mark.scale
def test_ten_thousand_tenants_through_discovery_a_few_gate_shards_and_the_batched_apply(
    rehearsal: Rehearsal,
) -> None:
    """A large roster: discovery plans it, two shards decide for real, one batched apply pushes.

    The new tenants have KPI files and no state yet (they start at the first step), which keeps
    the clones of this test small; ``make bench`` times the apply of all 10,000.
    """
    mix = [KPIS["acme"], KPIS["beta"], KPIS["gamma"]]
    rehearsal.push_kpis({f"t{n:05d}": mix[n % 3] for n in range(10_000)})
    rehearsal.runs += 1
    small = {"CANARY_SHARD_JOBS": "200"}  # small shards, so that two of them run quickly here

    outputs = rehearsal.discover("50", **small)

    shards = json.loads(outputs["shards"])
    assert (outputs["count"], len(shards), shards[0], shards[-1]) == ("10003", 197, "001", "197")
    downloaded = rehearsal.tmp / "run1" / "canary-in"
    for shard in (shards[0], shards[-1]):
        gate = rehearsal.gate(outputs, shard, "50", **small)
        shutil.copytree(gate, downloaded, dirs_exist_ok=True)
    decided = sorted(p.name for p in (downloaded / "decisions").iterdir())
    assert decided[:4] == ["acme", "beta", "gamma", "t00000"]
    assert len(decided) == 51 + 7 and decided[-1] == "t09999"

    applied, out = rehearsal.apply(downloaded)

    assert applied.returncode == 0, applied.stdout + applied.stderr
    report = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    assert [r["tenant"] for r in report] == decided
    words = {r["decision"] for r in report if r["changed"]}
    assert words == {"GO_25", "GO_50", "BACKOUT"}
    changed = rehearsal.git(rehearsal.remote, "show", "--name-only", "--format=", "main")
    assert len(changed.splitlines()) == sum(r["changed"] for r in report)


# --- the test results job, and the token ------------------------------------------------------


def test_the_results_job_fans_in_every_shard_and_tables_the_whole_run(
    rehearsal: Rehearsal,
) -> None:
    downloaded = rehearsal.decide(shard_min="1")  # a shard per tenant
    summary = rehearsal.tmp / "results-summary.md"

    done = rehearsal.step(
        "results", "summary", rehearsal.tmp,
        {"CANARY_IN": str(downloaded), "GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    junit = sorted(p.name for p in (downloaded / "junit").glob("*.xml"))
    assert junit == ["shard-01.xml", "shard-02.xml", "shard-03.xml"]  # what is published
    cases = [ET.parse(downloaded / "junit" / name).iter("testcase") for name in junit]
    # per tenant: the five built-in gates, inputs, kill_switch and promotion
    assert len([c for shard in cases for c in shard]) == 3 * 8
    text = summary.read_text(encoding="utf-8")
    assert "3 tenant(s): 1 BACKOUT, 1 HOLD, 1 GO_50" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "%" in line]
    assert [row.split(" | ")[1] for row in rows[:3]] == ["BACKOUT", "HOLD", "GO_50"]


def test_a_dispatched_kill_switches_the_tenant_off_and_commits_only_its_state(
    rehearsal: Rehearsal,
) -> None:
    """``workflow_dispatch`` with ``action: kill``: the kill step, then apply with no decisions."""
    rehearsal.runs += 1
    before = rehearsal.commits()
    work = rehearsal.checkout("apply")
    given = {"CANARY_TENANT": "acme", "CANARY_BY": "oncall", "CANARY_NOTE": "bad release"}

    killed = rehearsal.step("apply", "kill", work, given)
    assert killed.returncode == 0, killed.stdout + killed.stderr
    applied, _ = rehearsal.apply(rehearsal.tmp / "no-decisions", work)

    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert rehearsal.commits() == before + 1
    changed = rehearsal.git(rehearsal.remote, "show", "--name-only", "--format=", "main")
    assert changed.splitlines() == [f"{ROOT}/acme/operate/operate_state.json"]
    now = rehearsal.checkout("after")
    assert _state(now, "acme")["kill_switch"] is True
    assert _state(now, "beta")["serial"] == 0


def test_no_hook_of_the_checkout_runs_while_the_push_holds_the_token(
    rehearsal: Rehearsal,
) -> None:
    downloaded = rehearsal.decide()
    work = rehearsal.checkout("apply")
    leak = rehearsal.tmp / "leaked"
    hook = work / ".git" / "hooks" / "pre-push"
    hook.write_text(f"#!/bin/sh\nenv > {leak}\n")  # as code run in the apply step could
    hook.chmod(0o755)

    applied, _ = rehearsal.apply(downloaded, work)

    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert not leak.exists()
    apply_env = _step("apply", "apply").get("env", {})
    assert not [v for v in apply_env.values() if "token" in str(v)]


# --- the freshness check ----------------------------------------------------------------------


def _freshness(rehearsal: Rehearsal, work: Path, runs: list[dict[str, str]]) -> tuple[int, str]:
    out = rehearsal.tmp / "status"
    given = {"CANARY_OUT": str(out)}
    rehearsal.env.update({"FAKE_GH_RUNS": json.dumps(runs), "CANARY_TODAY": DATE})
    status = rehearsal.step("check", "status", work, given, FRESHNESS)
    assert status.returncode == 0, status.stdout + status.stderr
    done = rehearsal.step("check", "check", work, {**given, "GH_TOKEN": "t0ken"}, FRESHNESS)
    return done.returncode, done.stdout + done.stderr


def _run(conclusion: str, at: str = f"{DATE}T06:31:00Z") -> dict[str, str]:
    url = f"https://github.example/acme/dunning/actions/runs/{len(conclusion)}"
    return {"conclusion": conclusion, "status": "completed", "url": url, "createdAt": at,
            "event": "schedule"}  # fmt: skip


def test_freshness_is_quiet_after_a_successful_daily_run(rehearsal: Rehearsal) -> None:
    work = rehearsal.checkout("fresh")
    code, output = _freshness(rehearsal, work, [_run("failure"), _run("success")])
    assert code == 0, output
    assert "issue create" not in rehearsal.gh_log.read_text()


@pytest.mark.parametrize(
    ("runs", "says"),
    [
        ([], f"no run of canary-daily.yml started on {DATE}"),
        ([_run("failure")], "(schedule): failure: https://github.example/acme/dunning/"),
        ([_run("success", f"{DATE}T00:10:00+03:00")], "no run of canary-daily.yml started"),
    ],
)
def test_freshness_opens_an_alert_on_a_missed_or_failed_daily_run(
    rehearsal: Rehearsal, runs: list[dict[str, str]], says: str
) -> None:
    work = rehearsal.checkout("fresh")

    code, output = _freshness(rehearsal, work, runs)

    assert code == 1
    assert says in output
    calls = rehearsal.gh_log.read_text().splitlines()
    created = [c for c in calls if c.startswith("issue create")]
    assert len(created) == 1
    assert says in rehearsal.gh_log.read_text()  # in the body, one line per problem
    assert "--title canary: the daily run needs attention --label canary-alert" in created[0]


def test_freshness_alerts_on_stale_kpis_and_comments_on_the_open_alert(
    rehearsal: Rehearsal,
) -> None:
    work = rehearsal.checkout("fresh")
    (work / ROOT / "acme" / f"{DATE}.json").rename(work / ROOT / "acme" / "2026-11-20.json")
    rehearsal.env["FAKE_GH_OPEN"] = "9:canary: the daily run needs attention"

    code, output = _freshness(rehearsal, work, [_run("success")])

    assert code == 1
    assert "acme: newest KPI file 2026-11-20.json" in output
    calls = rehearsal.gh_log.read_text().splitlines()
    assert [c.split(" --body")[0] for c in calls if c.startswith("issue c")] == ["issue comment 9"]


def test_every_shell_step_of_the_freshness_workflow_is_rehearsed() -> None:
    for name, job in _workflow(FRESHNESS)["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                assert step.get("id") in {"status", "check"} | SKIPPED, f"{name}: {step['name']}"
