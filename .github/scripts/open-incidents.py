"""After the fan-in of canary-daily.yml: an incident issue for every BACKOUT and every conflict.

Standard library only; talks to GitHub through ``gh``. Reads the records of apply-and-push.sh in
``CANARY_OUT`` (``report.jsonl``, ``conflict.txt``, ``pushed``) and raises an incident for

- every BACKOUT decision that changed a state (applied), that was refused (not applied: why), or
  whose state conflicted upstream or could not be pushed (applied here, not in the repository);
- every other tenant whose state conflicted upstream (its decision was not pushed).

A BACKOUT that changed nothing (the tenant was already backed out: a repeated run) raises none.
Up to ``CANARY_INCIDENT_LIMIT`` incidents (default 20) each get an issue of their own (or a
comment on the tenant's open one); above it one aggregate issue with a table of every tenant, as
hundreds of issues in a row would meet GitHub's secondary rate limits. A failed ``gh`` call is
reported and the loop goes on; the exit status is 1 when any call failed.

Environment: ``CANARY_ROOT``, ``CANARY_OUT``, ``GH_TOKEN`` (for gh), ``CANARY_INCIDENT_LABEL``
(default ``canary-incident``), ``CANARY_INCIDENT_LIMIT``, and GitHub's ``GITHUB_SERVER_URL``,
``GITHUB_REPOSITORY``, ``GITHUB_RUN_ID`` for the link to the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_LIMIT = 20
BODY_LIMIT = 60_000  # GitHub refuses an issue body over 65,536 characters


@dataclass(frozen=True)
class Incident:
    tenant: str
    date: str
    decision: str
    title: str
    what: str
    applied: bool


def _rows(out: Path) -> list[dict[str, Any]]:
    path = out / "report.jsonl"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def incidents(out: Path) -> list[Incident]:
    pushed = (out / "pushed").is_file()
    conflict_file = out / "conflict.txt"
    conflicted = set()
    if conflict_file.exists():
        conflicted = {line.split()[0] for line in conflict_file.read_text().splitlines() if line}
    found = []
    for row in _rows(out):
        tenant, word = row["tenant"], row.get("decision") or "?"
        date = row.get("date") or "?"
        if tenant in conflicted:
            what = (
                f"{word} was decided but **not pushed**: the tenant's state file also changed on"
                " the branch meanwhile. The next run decides again on the new state."
            )
        elif word != "BACKOUT" or row["outcome"] == "unchanged":
            continue
        elif row["outcome"] == "refused":
            what = f"BACKOUT was **not applied**: the rollout refused it: {row['reason']}"
        elif not pushed:
            what = (
                "BACKOUT was applied in the run but **not pushed** (see the run): the kill switch"
                " is not on in the repository yet. Apply it by hand or re-run the workflow."
            )
        else:
            what = "BACKOUT was **applied**: kill switch on, quota back to the first step."
        kind = "BACKOUT" if word == "BACKOUT" else "state conflict"
        applied = word == "BACKOUT" and row["changed"] and pushed and tenant not in conflicted
        found.append(Incident(tenant, date, word, f"canary: {kind} of {tenant}", what, applied))
    return found


def _body(root: Path, incident: Incident, run_url: str) -> str:
    parts = [f"**{incident.tenant}**, daily canary run of {incident.date}: {incident.what}", ""]
    if incident.applied:
        parts += [
            "It stays there until someone records a review:",
            "",
            "```",
            f'canary review --tenant {incident.tenant} --by "<name>" --note "<what was fixed>"',
            "```",
            "",
        ]
    parts += [f"Run: {run_url}", ""]
    decision = root / incident.tenant / "canary" / f"{incident.date}_decision.md"
    if decision.is_file():
        parts.append(decision.read_text(encoding="utf-8"))
    return "\n".join(parts)[:BODY_LIMIT]


def _aggregate(found: list[Incident], run_url: str) -> str:
    lines = [
        f"The daily canary run raised **{len(found)} incidents** at once, too many for an issue"
        " each. Each tenant's decision is in the run's artifacts.",
        "",
        f"Run: {run_url}",
        "",
        "| tenant | KPI date | decision | what happened |",
        "| --- | --- | --- | --- |",
    ]
    size = sum(map(len, lines))
    for n, incident in enumerate(found):
        what = incident.what.replace("|", "\\|").replace("\n", " ")
        row = f"| {incident.tenant} | {incident.date} | {incident.decision} | {what} |"
        if size + len(row) > BODY_LIMIT - 200:
            lines.append(f"\n… and {len(found) - n} more (see the run's artifacts)")
            break
        lines.append(row)
        size += len(row) + 1
    return "\n".join(lines)


class GitHub:
    """``gh`` calls that report a failure and go on; ``failures`` counts them."""

    def __init__(self) -> None:
        self.failures = 0

    def call(self, *args: str) -> str | None:
        done = subprocess.run(["gh", *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            self.failures += 1
            why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            print(f"::warning title=canary incident::gh {args[0]} {args[1]} failed: {why}")
            return None
        return done.stdout


def _open_numbers(gh: GitHub, label: str) -> dict[str, str] | None:
    """Open incident issues by title, in one call (not one search per tenant)."""
    text = gh.call(
        "issue", "list", "--state", "open", "--label", label, "--limit", "1000",
        "--json", "number,title",
    )  # fmt: skip
    if text is None:
        return None
    return {item["title"]: str(item["number"]) for item in json.loads(text or "[]")}


def main() -> int:
    root = Path(os.environ.get("CANARY_ROOT") or "artifacts/reports/mahnwesen")
    out = Path(os.environ["CANARY_OUT"])
    label = os.environ.get("CANARY_INCIDENT_LABEL") or "canary-incident"
    limit_text = os.environ.get("CANARY_INCIDENT_LIMIT") or str(DEFAULT_LIMIT)
    if not limit_text.isdigit():
        print(f"::error title=canary incident::CANARY_INCIDENT_LIMIT {limit_text!r}: a number")
        return 2
    server = os.environ.get("GITHUB_SERVER_URL") or "https://github.com"
    run_url = f"{server}/{os.environ.get('GITHUB_REPOSITORY', '')}/actions/runs/" + os.environ.get(
        "GITHUB_RUN_ID", ""
    )
    found = incidents(out)
    if not found:
        print("canary: no BACKOUT and no conflict: no incident")
        return 0
    gh = GitHub()
    gh.call("label", "create", label, "--color", "B60205", "--force",
            "--description", "A canary BACKOUT or a state conflict that needs a person")  # fmt: skip
    if len(found) > int(limit_text):
        body = out / "incident-aggregate.md"
        body.write_text(_aggregate(found, run_url), encoding="utf-8")
        title = f"canary: {len(found)} incidents in the run of {found[0].date}"
        if gh.call("issue", "create", "--title", title, "--label", label, "--body-file", str(body)):
            print(f"canary: opened one incident for {len(found)} tenants")
        return 1 if gh.failures else 0
    known = _open_numbers(gh, label) or {}
    for incident in found:
        body = out / f"incident-{incident.tenant}.md"
        body.write_text(_body(root, incident, run_url), encoding="utf-8")
        number = known.get(incident.title)
        if number is not None:
            if gh.call("issue", "comment", number, "--body-file", str(body)) is not None:
                print(f"canary: {incident.tenant}: commented on incident #{number}")
        elif gh.call(
            "issue", "create", "--title", incident.title, "--label", label,
            "--body-file", str(body),
        ) is not None:  # fmt: skip
            print(f"canary: {incident.tenant}: opened an incident")
    if gh.failures:
        print(f"::error title=canary incident::{gh.failures} gh call(s) failed: see the warnings")
    return 1 if gh.failures else 0


if __name__ == "__main__":
    sys.exit(main())
