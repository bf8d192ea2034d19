"""P4: the KPI engine counting generated dispatch events from JSONL and from SQLite.

Events/s per core is the number of events the source counted divided by the CPU time of the
counting (``time.process_time`` around ``Source.tally``, in a fresh process), as ``canary kpi``
counts for a tenant without a relative gate; the split by cohort, made only for a tenant with
one, is timed once beside it (a note). Peak RSS is that of the whole ``canary kpi --dry-run``
process, at the full size and at a tenth of it, run alternately.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from pytest_canary.kpi.jsonl import event_line
from pytest_canary.kpi.sources.sqlite import create_sqlite_schema

TENANT = "acme"
RUN_DATE = "2026-11-26"
_MIX = ("sent",) * 14 + ("failed", "hard_bounce", "soft_bounce", "dlq_in", "dlq_out", "retry_in")
_DRIVER = """
import sys, time, datetime as dt, json
from pathlib import Path
from pytest_canary.kpi.cohorts import QuotaTimeline
from pytest_canary.kpi.events import Window
from pytest_canary.kpi.sources import parse_source
source = parse_source(sys.argv[1], Path.cwd())
window = Window.for_run_date(dt.date.fromisoformat(sys.argv[2]))
timeline = QuotaTimeline.initial(sys.argv[3]) if sys.argv[4] == "split" else None
start = time.process_time()
tally = source.tally(sys.argv[3], window, None, timeline)
cpu = time.process_time() - start
print(json.dumps({"events": tally.events_read, "cpu": cpu}))
"""


def _events(count: int) -> Any:
    """``count`` events of one tenant over the 36 hours before the run, in time order."""
    start = dt.datetime(2026, 11, 24, 19, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    step = dt.timedelta(hours=36) / count
    for index in range(count):
        yield index, _MIX[index % len(_MIX)], start + step * index


def make_jsonl(path: Path, count: int) -> Path:
    """Canonical lines (the form ``kpi_jsonl.event_line`` writes), built from a template."""
    first = event_line(TENANT, "sent", "2026-11-24T19:30:00.000+01:00", "N-0", "r0@x.example")
    template = (
        '{"tenant":"%s","event":"%s","ts":"%s","notice_id":"N-%d","recipient":"r%d@x.example"}\n'
    )
    assert template % (TENANT, "sent", "2026-11-24T19:30:00.000+01:00", 0, 0) == first
    with path.open("w") as out:
        batch = []
        for index, event, when in _events(count):
            stamp = when.isoformat(timespec="milliseconds")
            batch.append(template % (TENANT, event, stamp, index, index))
            if len(batch) == 100_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
    return path


def make_sqlite(path: Path, count: int) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
    create_sqlite_schema(conn)
    rows = (
        (TENANT, f"N-{i}", event, int(when.timestamp() * 1000), f"r{i}@x.example")
        for i, event, when in _events(count)
    )
    conn.executemany("INSERT INTO dispatch_events VALUES (?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return path


def _rate(source: Path, env: dict[str, str], split: bool = False) -> tuple[int, float]:
    """Events counted and CPU seconds; with ``split``, by cohort too (a relative gate's need)."""
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(source), RUN_DATE, TENANT, "split" if split else "-"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(proc.stdout)
    return int(result["events"]), float(result["cpu"])


def bench(tmp: Path, repeats: int, events: int, row: Any) -> list[Any]:
    """Rows for the table: events/s per core of each source, and peak RSS at full vs a tenth."""
    from run import _env, run_once  # the shared runner of benchmarks/run.py

    folder = tmp / "p4"
    folder.mkdir()
    root = folder / "root"
    (root / TENANT).mkdir(parents=True)
    env = _env()
    small_n = events // 10
    rows = []
    for kind, make in (("JSONL", make_jsonl), ("SQLite", make_sqlite)):
        suffix = "jsonl" if kind == "JSONL" else "sqlite"
        big = make(folder / f"events-{events}.{suffix}", events)
        small = make(folder / f"events-{small_n}.{suffix}", small_n)
        rates = []
        for _ in range(max(1, repeats // 2 + 1)):
            counted, cpu = _rate(big, env)
            if counted != events:
                raise SystemExit(f"bench: P4 {kind} counted {counted} events, expected {events}")
            rates.append(counted / cpu)
        rate = statistics.median(rates)
        counted, cpu = _rate(big, env, split=True)
        rows.append(
            row(
                f"P4 {kind}, {events / 1e6:g} M events",
                f"{rate / 1e6:.2f} M ev/s/core",
                "1 M ev/s/core",
                rate / 1e6,
                ">= 1x",
                rate >= 1e6,
                [
                    f"P4 {kind}: CPU seconds of counting per run: {', '.join(f'{events / r:.2f}' for r in rates)}",
                    f"P4 {kind} with the split by cohort (only for a tenant with a relative gate):"
                    f" {counted / cpu / 1e6:.2f} M ev/s/core ({cpu:.2f} s CPU, one run)",
                ],
            )
        )

        def cli(source: Path) -> Any:
            cmd = [
                str(Path(sys.executable).with_name("canary")), "kpi", "--tenant", TENANT,
                "--root", str(root), "--date", RUN_DATE, "--source", str(source), "--dry-run",
            ]  # fmt: skip
            sample = run_once(cmd, folder)
            if sample.code != 0:
                raise SystemExit(f"bench: P4 canary kpi exited {sample.code}")
            return sample

        big_s: list[Any] = []
        small_s: list[Any] = []
        for index in range(max(1, repeats // 2 + 1)):
            pair = (big, small) if index % 2 == 0 else (small, big)
            for source in pair:
                (big_s if source == big else small_s).append(cli(source))
        big_rss = max(s.rss_mb for s in big_s)
        small_rss = max(s.rss_mb for s in small_s)
        rows.append(
            row(
                f"P4 {kind} peak RSS, {events / 1e6:g} M vs {small_n / 1e6:g} M",
                f"{big_rss:.0f} MB",
                f"{small_rss:.0f} MB",
                big_rss / small_rss,
                "<= 1.1x",
                big_rss <= 1.1 * small_rss,
            )
        )
        big.unlink()
        small.unlink()
    return rows
