"""canary-freshness.yml: raise an alert issue when today's daily run is missing or failed.

GitHub e-mails only whoever last edited a schedule about a failed scheduled run, and nobody about
one it dropped. This check runs a few hours after the daily run and opens (or comments on) one
issue when

- no run of ``canary-daily.yml`` succeeded today (Europe/Berlin): none started, or it failed;
- ``canary status`` (its JSON, in ``CANARY_STATUS``) warns: stale KPI files, a corrupt state.

Standard library only; talks to GitHub through ``gh``. Environment: ``CANARY_STATUS`` (the file
``canary status --json`` wrote), ``CANARY_STATUS_EXIT`` (its exit status), ``GH_TOKEN``,
``CANARY_ALERT_LABEL`` (default ``canary-alert``), ``CANARY_DAILY_WORKFLOW`` (default
``canary-daily.yml``), ``CANARY_TODAY`` (default: today in Europe/Berlin) and GitHub's
``GITHUB_SERVER_URL``, ``GITHUB_REPOSITORY``, ``GITHUB_RUN_ID``. Exit 1 when it raised an alert.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
SHOWN = 20


def gh(*args: str) -> str:
    done = subprocess.run(["gh", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise RuntimeError(f"gh {args[0]} {args[1]} failed: {why}")
    return done.stdout


def _berlin_day(stamp: str) -> dt.date:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(BERLIN).date()


def run_problems(workflow: str, today: dt.date) -> list[str]:
    """What is wrong with today's daily runs; empty when one succeeded."""
    since = (today - dt.timedelta(days=1)).isoformat()  # UTC vs Berlin: filter again below
    text = gh(
        "run", "list", "--workflow", workflow, "--created", f">={since}", "--limit", "50",
        "--json", "conclusion,status,url,createdAt,event",
    )  # fmt: skip
    runs = [r for r in json.loads(text or "[]") if _berlin_day(r["createdAt"]) == today]
    if any(r.get("conclusion") == "success" for r in runs):
        return []
    if not runs:
        return [f"no run of {workflow} started on {today} (Europe/Berlin): a dropped schedule?"]
    return [
        f"run of {workflow} ({r.get('event')}): {r.get('conclusion') or r.get('status')}: {r['url']}"
        for r in runs
    ]


def status_problems(path: Path, code: str) -> list[str]:
    """The warnings of ``canary status --json``, one line each."""
    if code not in ("0", "1"):
        return [f"canary status exited {code or '?'}: see the run"]
    try:
        rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"canary status wrote no readable JSON ({exc})"]
    warnings = [f"{row['tenant']}: {w}" for row in rows for w in row.get("warnings", [])]
    more = [f"… and {len(warnings) - SHOWN} more"] if len(warnings) > SHOWN else []
    return warnings[:SHOWN] + more


def alert(problems: list[str], today: dt.date) -> None:
    label = os.environ.get("CANARY_ALERT_LABEL") or "canary-alert"
    server = os.environ.get("GITHUB_SERVER_URL") or "https://github.com"
    run = f"{server}/{os.environ.get('GITHUB_REPOSITORY', '')}/actions/runs/"
    run += os.environ.get("GITHUB_RUN_ID", "")
    body = "\n".join(
        [f"The canary freshness check of {today} found:", ""]
        + [f"- {p.replace(chr(10), ' ')}" for p in problems]
        + ["", "Re-run the daily workflow (Run workflow, with the date if it was missed).", ""]
        + [f"Check: {run}"]
    )
    title = "canary: the daily run needs attention"
    gh("label", "create", label, "--color", "D93F0B", "--force",
       "--description", "The daily canary run was missed, failed, or its inputs are stale")  # fmt: skip
    listed = gh("issue", "list", "--state", "open", "--label", label, "--json", "number,title")
    open_ = [i for i in json.loads(listed or "[]") if i["title"] == title]
    if open_:
        gh("issue", "comment", str(open_[0]["number"]), "--body", body)
        print(f"canary freshness: commented on #{open_[0]['number']}")
    else:
        gh("issue", "create", "--title", title, "--label", label, "--body", body)
        print("canary freshness: opened an alert issue")


def main() -> int:
    given = os.environ.get("CANARY_TODAY", "")
    today = dt.date.fromisoformat(given) if given else dt.datetime.now(BERLIN).date()
    workflow = os.environ.get("CANARY_DAILY_WORKFLOW") or "canary-daily.yml"
    try:
        problems = run_problems(workflow, today)
        problems += status_problems(
            Path(os.environ.get("CANARY_STATUS") or "status.json"),
            os.environ.get("CANARY_STATUS_EXIT", ""),
        )
        if not problems:
            print(f"canary freshness: {workflow} succeeded on {today}; no status warning")
            return 0
        for problem in problems:
            escaped = problem.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            print(f"::warning title=canary freshness::{escaped}")
        alert(problems, today)
    except RuntimeError as exc:
        print(f"::error title=canary freshness::{exc}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
