"""Discovery of canary-daily.yml: the run date, the tenants and their shards.

Standard library only, so the job needs no install. Two uses:

``discover-tenants.py``
    Writes ``date``, ``count`` and ``shards`` (a JSON list of shard ids, ``["01", "02"]``) to
    ``GITHUB_OUTPUT`` and prints them. The tenants themselves are not in the outputs (at 100,000
    tenants they would pass GitHub's 1 MB limit on a job's outputs): each gate job lists its own
    from the same commit. Warns (annotation and step summary) about tenant folders skipped for an
    invalid name and about tenants without a KPI file of the run's date.
``discover-tenants.py shard ID``
    Prints the tenants of shard ``ID``, one per line (the gate job). Fails when the count differs
    from discovery's ``CANARY_COUNT`` (when given): the shards would not match.

Environment:

- ``CANARY_ROOT``: the canary root (tenant folders below it).
- ``CANARY_TENANT``: one tenant id, or empty for every tenant folder under the root.
- ``CANARY_DATE``: the KPI date ``YYYY-MM-DD``, or empty for today in Europe/Berlin.
- ``CANARY_SHARD_JOBS``: how many gate jobs to aim for (default 16, at most 256: GitHub's limit).
- ``CANARY_SHARD_MIN``: the fewest tenants per gate job (default 500): a job's checkout and
  install cost more than deciding a few hundred tenants, so small rosters run in one job.

Exit 2 on a bad value, naming it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import NoReturn
from zoneinfo import ZoneInfo

MAX_JOBS = 256
DEFAULT_JOBS = 16
DEFAULT_MIN = 500
SHOWN = 10
TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def fail(message: str) -> NoReturn:
    # On stderr, which the runner reads for workflow commands too: the gate job captures stdout.
    print(f"::error title=canary discovery::{message}", file=sys.stderr)
    sys.exit(2)


def warn(message: str) -> None:
    """An annotation and a line of the step summary."""
    print(f"::warning title=canary discovery::{message}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(f"> [!WARNING]\n> {message}\n\n")


def shown(names: list[str]) -> str:
    """Names for a log line or Markdown: anything but a plain character is shown as ``?``."""
    safe = [re.sub(r"[^A-Za-z0-9._-]", "?", name)[:64] for name in names[:SHOWN]]
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(safe) + more


def number(name: str, default: int, low: int, high: int) -> int:
    text = os.environ.get(name) or str(default)
    if not text.isdigit() or not low <= int(text) <= high:
        fail(f"{name} {text!r}: use a whole number from {low} to {high}")
    return int(text)


def run_date(given: str) -> str:
    if not given:
        return dt.datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", given):
        fail(f"date {given!r}: use YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(given).isoformat()
    except ValueError:
        fail(f"date {given!r}: no such day")


def tenants(root: Path, given: str) -> tuple[list[str], list[str]]:
    """The tenants (sorted), and the folders skipped because their name is no tenant id."""
    if given:
        if not TENANT.fullmatch(given) or given == "all":
            fail(
                f"tenant {given!r}: use a tenant id (a-z, 0-9, _ and -), or leave it empty for all"
            )
        if not (root / given).is_dir():
            fail(f"tenant {given!r}: no folder {root / given}")
        return [given], []
    if not root.is_dir():
        return [], []
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    valid = [n for n in folders if TENANT.fullmatch(n) and n != "all"]
    return valid, [n for n in folders if not TENANT.fullmatch(n) or n == "all"]


def shards(names: list[str]) -> list[list[str]]:
    """Even shards of at least ``CANARY_SHARD_MIN`` tenants, about ``CANARY_SHARD_JOBS`` of them."""
    if not names:
        return []
    jobs = number("CANARY_SHARD_JOBS", DEFAULT_JOBS, 1, MAX_JOBS)
    least = number("CANARY_SHARD_MIN", DEFAULT_MIN, 1, 10**9)
    count = max(1, min(jobs, len(names) // least))
    size = math.ceil(len(names) / count)
    return [names[i : i + size] for i in range(0, len(names), size)]


def shard_ids(count: int) -> list[str]:
    width = max(2, len(str(count)))
    return [f"{n:0{width}d}" for n in range(1, count + 1)]


def plan(root: Path, names: list[str], skipped: list[str], date: str) -> dict[str, str]:
    if skipped:
        warn(
            f"{len(skipped)} folder(s) under {root} skipped: not a tenant id (a-z, 0-9, _ and -,"
            f" up to 63 characters, not 'all'): {shown(skipped)}"
        )
    missing = [n for n in names if not (root / n / f"{date}.json").is_file()]
    if missing:
        warn(
            f"{len(missing)} of {len(names)} tenant(s) have no KPI file {date}.json (they will"
            f" HOLD): {shown(missing)}"
        )
    ids = shard_ids(len(shards(names)))
    return {"date": date, "count": str(len(names)), "shards": json.dumps(ids)}


def main(argv: list[str]) -> int:
    root = Path(os.environ.get("CANARY_ROOT") or "artifacts/reports/mahnwesen")
    date = run_date(os.environ.get("CANARY_DATE", "").strip())
    names, skipped = tenants(root, os.environ.get("CANARY_TENANT", "").strip())
    if argv[:1] == ["shard"] and len(argv) == 2:
        expected = os.environ.get("CANARY_COUNT", "")
        if expected and expected != str(len(names)):
            fail(f"{len(names)} tenant(s) here, {expected} at discovery: not the same commit?")
        groups = shards(names)
        groups = dict(zip(shard_ids(len(groups)), groups, strict=True))
        if argv[1] not in groups:
            fail(f"shard {argv[1]!r}: no such shard (there are {len(groups)})")
        print("\n".join(groups[argv[1]]))
        return 0
    if argv:
        fail(f"arguments {argv!r}: none, or 'shard ID'")
    outputs = plan(root, names, skipped, date)
    for key, value in outputs.items():
        print(f"{key}={value}")
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.writelines(f"{key}={value}\n" for key, value in outputs.items())
    if not names:
        print(f"::notice title=canary discovery::no tenant folders under {root}: nothing to decide")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
