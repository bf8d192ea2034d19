"""The records of apply-and-push.sh, from the report of ``canary rollout --tenant all``.

Standard library only. ``python3 apply-records.py COMMAND ROOT OUT [FILE ...]``:

- ``report``: from ``OUT/report.jsonl`` write ``changed.txt`` and ``refused.txt`` (``<tenant>
  <date> <decision>`` per line), copy the rollout logs to ``OUT/rollout/<tenant>/``, annotate the
  refused tenants and list them in the step summary;
- ``lines FILE ...``: print ``<tenant>: <decision>`` for each changed state file (the commit body);
- ``conflict FILE ...``: the state files that also changed upstream: append their tenants to
  ``conflict.txt``, annotate them and list them in the step summary.

At most ten annotations of each kind, as GitHub shows no more; the tenth says how many are left.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

ANNOTATIONS = 10
SUMMARY_ROWS = 200


def _report(out: Path) -> dict[str, dict[str, Any]]:
    path = out / "report.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return {row["tenant"]: row for row in map(json.loads, lines)}


def _record(row: dict[str, Any]) -> str:
    return f"{row['tenant']} {row.get('date') or '?'} {row.get('decision') or '?'}\n"


def _escape(text: str) -> str:
    """A value inside a workflow command: GitHub reads %, CR and LF as escapes (and : , in titles)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _annotate(rows: list[dict[str, Any]], title: str, why: str) -> None:
    for n, row in enumerate(rows):
        if n == ANNOTATIONS - 1 and len(rows) > ANNOTATIONS:
            print(
                f"::error title={title}::and {len(rows) - n} more tenant(s): see the step summary"
            )
            return
        tenant = _escape(row["tenant"]).replace(":", "%3A").replace(",", "%2C")
        print(f"::error title={title} {tenant}::{_escape(why + ': ' + str(row['reason']))}")


def _summary(lines: list[str]) -> None:
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n\n")


def _table(heading: str, rows: list[dict[str, Any]]) -> None:
    lines = [heading, "", "| tenant | decision | why |", "| --- | --- | --- |"]
    for row in rows[:SUMMARY_ROWS]:
        decision = row.get("decision") or "?"
        lines.append(f"| {row['tenant']} | {decision} | {_cell(str(row['reason']))} |")
    if len(rows) > SUMMARY_ROWS:
        lines.append(f"\n… and {len(rows) - SUMMARY_ROWS} more (the run's artifact has them all)")
    _summary(lines)


def report(root: Path, out: Path) -> None:
    rows = list(_report(out).values())
    changed = [r for r in rows if r["changed"]]
    refused = [r for r in rows if r["outcome"] == "refused"]
    (out / "changed.txt").write_text("".join(map(_record, changed)), encoding="utf-8")
    (out / "refused.txt").write_text("".join(map(_record, refused)), encoding="utf-8")
    for row in rows:
        for log in (root / row["tenant"] / "canary").glob(f"{row.get('date')}_rollout_log.*"):
            (out / "rollout" / row["tenant"]).mkdir(parents=True, exist_ok=True)
            shutil.copy(log, out / "rollout" / row["tenant"] / log.name)
    _annotate(refused, "canary rollout refused", "not applied")
    if refused:
        _table(f"**{len(refused)} tenant(s) refused** (nothing written for them):", refused)


def lines(root: Path, out: Path, files: list[str]) -> None:
    rows = _report(out)
    for tenant in _tenants(root, files):
        print(f"{tenant}: {rows.get(tenant, {}).get('decision') or '?'}")


def conflict(root: Path, out: Path, files: list[str]) -> None:
    rows = _report(out)
    found = []
    for tenant in _tenants(root, files):
        row = dict(rows.get(tenant) or {"tenant": tenant})
        row["reason"] = "its state file also changed on the branch meanwhile: not pushed"
        found.append(row)
    with (out / "conflict.txt").open("a", encoding="utf-8") as handle:
        handle.writelines(map(_record, found))
    _annotate(found, "canary conflict", "decided again by the next run")
    _table(f"**{len(found)} tenant(s) conflicted** (decided again by the next run):", found)


def _tenants(root: Path, files: list[str]) -> list[str]:
    """``<root>/<tenant>/operate/operate_state.json`` → ``<tenant>``."""
    return [Path(file).relative_to(root).parts[0] for file in files]


def main(argv: list[str]) -> int:
    command, root, out, *files = argv
    if command == "report":
        report(Path(root), Path(out))
    elif command == "lines":
        lines(Path(root), Path(out), files)
    elif command == "conflict":
        conflict(Path(root), Path(out), files)
    else:
        print(f"apply-records.py: unknown command {command!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
