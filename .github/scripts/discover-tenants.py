"""Discovery of canary-daily.yml: the run date, the tenants and their shards, as step outputs.

Standard library only, so the job needs no install. Reads the environment:

- ``CANARY_ROOT``: the canary root (tenant folders below it).
- ``CANARY_TENANT``: one tenant id, or empty for every tenant folder under the root.
- ``CANARY_DATE``: the KPI date ``YYYY-MM-DD``, or empty for today in Europe/Berlin.
- ``CANARY_SHARD_SIZE``: the smallest number of tenants per gate job (default 20); grown so that
  the matrix never needs more than 256 jobs (GitHub's limit).

Writes ``date``, ``count`` and ``shards`` (JSON: ``[{"id": "001", "tenants": "a b"}, ...]``) to
``GITHUB_OUTPUT`` and prints them. Exit 2 on a bad value, naming it.
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
DEFAULT_SHARD_SIZE = 20
TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def fail(message: str) -> NoReturn:
    print(f"::error title=canary discovery::{message}")
    sys.exit(2)


def run_date(given: str) -> str:
    if not given:
        return dt.datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", given):
        fail(f"date {given!r}: use YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(given).isoformat()
    except ValueError:
        fail(f"date {given!r}: no such day")


def tenants(root: Path, given: str) -> list[str]:
    if given:
        if not TENANT.fullmatch(given) or given == "all":
            fail(
                f"tenant {given!r}: use a tenant id (a-z, 0-9, _ and -), or leave it empty for all"
            )
        if not (root / given).is_dir():
            fail(f"tenant {given!r}: no folder {root / given}")
        return [given]
    if not root.is_dir():
        return []
    names = (p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    return sorted(n for n in names if TENANT.fullmatch(n) and n != "all")


def shards(names: list[str], size: int) -> list[dict[str, str]]:
    size = max(size, math.ceil(len(names) / MAX_JOBS))
    groups = [names[i : i + size] for i in range(0, len(names), size)]
    return [{"id": f"{n:03d}", "tenants": " ".join(group)} for n, group in enumerate(groups, 1)]


def main() -> int:
    root = Path(os.environ.get("CANARY_ROOT") or "artifacts/reports/mahnwesen")
    size_text = os.environ.get("CANARY_SHARD_SIZE") or str(DEFAULT_SHARD_SIZE)
    if not size_text.isdigit() or int(size_text) < 1:
        fail(f"CANARY_SHARD_SIZE {size_text!r}: use a whole number ≥ 1")
    date = run_date(os.environ.get("CANARY_DATE", "").strip())
    names = tenants(root, os.environ.get("CANARY_TENANT", "").strip())
    plan = shards(names, int(size_text))
    outputs = {"date": date, "count": str(len(names)), "shards": json.dumps(plan)}
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
    sys.exit(main())
