"""``make bench``: pytest-canary against the floor it stands on, as ratios of side-by-side runs.

Every figure is the ratio of two commands run alternately in this one invocation (a b, b a, ...)
and compared by their medians, so the drift of a shared machine hits both sides alike. The ratio is
of CPU time (user + system, with the children waited for, from ``os.wait4``); the wall-time ratio
is printed as a note. Peak RSS comes from the same ``os.wait4``. All data is generated in a
temporary folder (in /dev/shm when writable). How to read the figures: docs/performance.md.

    .venv/bin/python benchmarks/run.py            # everything (P3 at 10,000 tenants takes minutes)
    .venv/bin/python benchmarks/run.py --only P1,P2 --repeats 7
    .venv/bin/python benchmarks/run.py --quick    # P3 up to 1,000 tenants, P4 at 500 k events
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate

PY = sys.executable
CANARY = str(Path(PY).with_name("canary"))
PYTEST = [PY, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
# Variables that would change what either side runs; the benchmark runs both sides without them.
_DROP = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "GITHUB_")


@dataclass
class Sample:
    seconds: float
    cpu: float
    rss_mb: float
    code: int


@dataclass
class Row:
    figure: str
    ours: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    notes: list[str] = field(default_factory=list)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    env = {k: v for k, v in env.items() if not k.startswith("CANARY_")}
    # Bytecode caching stays on, as for any user: without it pytest rewrites the asserts of every
    # plugin module (pytest_canary's included) again on every run, a cost no installed copy pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_once(cmd: Sequence[str], cwd: Path, log: Path | None = None) -> Sample:
    """One run of ``cmd``: wall seconds, CPU seconds and peak RSS (MB) of it and its children."""
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=_env(), stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Sample(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode)


def alternate(
    ours: Callable[[], Sample], base: Callable[[], Sample], repeats: int, warm_up: bool = True
) -> tuple[list[Sample], list[Sample]]:
    """Run the two sides one after the other, ``repeats`` times each (after a warm-up each)."""
    if warm_up:
        ours(), base()
    a: list[Sample] = []
    b: list[Sample] = []
    for index in range(repeats):
        # Swap the order every round so neither side always runs on a warmer cache.
        if index % 2 == 0:
            a.append(ours())
            b.append(base())
        else:
            b.append(base())
            a.append(ours())
    return a, b


def med(samples: list[Sample], attr: str = "seconds") -> float:
    return float(statistics.median(getattr(s, attr) for s in samples))


def _fmt(samples: list[Sample]) -> str:
    return f"{med(samples, 'cpu'):.2f} s CPU ({med(samples):.1f} s wall)"


def ratio_row(
    figure: str, a: list[Sample], b: list[Sample], limit: float, notes: list[str] | None = None
) -> Row:
    """The ratio of the median CPU times (user + system, with the children waited for).

    CPU time, not wall time: on a shared machine the wall time of a run mostly says how many other
    jobs ran beside it. The wall-time ratio is printed as a note.
    """
    ratio = med(a, "cpu") / med(b, "cpu")
    wall = med(a) / med(b)
    runs = f"{len(a)} run(s) per side"
    extra = [f"{figure}: wall-time ratio {wall:.2f}x; {runs}"]
    return Row(
        figure, _fmt(a), _fmt(b), ratio, f"<= {limit:g}x", ratio <= limit, extra + (notes or [])
    )


def _check(sample: Sample, allowed: set[int], what: str) -> None:
    if sample.code not in allowed:
        raise SystemExit(f"bench: {what} exited {sample.code}, expected one of {sorted(allowed)}")


# --- P1: one tenant, interactive ----------------------------------------------------------------


def bench_p1(tmp: Path, repeats: int) -> list[Row]:
    project = tmp / "p1"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    root = generate.make_root(project, 1)
    floor = generate.make_floor(tmp / "p1-floor", 1, 7)
    tenant = generate.tenant_name(0)
    ours_cmd = [
        *PYTEST, "-p", "canary", "--canary-tenant", tenant,
        f"--canary-root={root}", "--canary-date", generate.DATE,
    ]  # fmt: skip

    def ours() -> Sample:
        sample = run_once(ours_cmd, project)
        _check(sample, {0}, "P1 canary run")
        return sample

    def base() -> Sample:
        sample = run_once(PYTEST, floor)
        _check(sample, {0}, "P1 floor run")
        return sample

    a, b = alternate(ours, base, repeats)
    return [ratio_row("P1 one tenant, 7 items", a, b, 1.3)]


# --- P2: unrelated test runs ------------------------------------------------------------------


def _imports(code: str) -> dict[str, tuple[int, int]]:
    """Module -> (self µs, cumulative µs) from ``python -X importtime -c code``."""
    proc = subprocess.run(
        [PY, "-X", "importtime", "-c", code], capture_output=True, text=True, env=_env(), check=True
    )
    found = {}
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            found[match.group(4)] = (int(match.group(1)), int(match.group(2)))
    return found


HEAVY = ("pydantic", "pydantic_core", "filelock", "dns", "tomllib", "zoneinfo", "hashlib")


def bench_p2(tmp: Path, repeats: int) -> list[Row]:
    suite = generate.make_suite(tmp / "p2", 200)

    def ours() -> Sample:
        sample = run_once(PYTEST, suite)
        _check(sample, {0}, "P2 run with the plugin installed")
        return sample

    def base() -> Sample:
        sample = run_once([*PYTEST, "-p", "no:canary"], suite)
        _check(sample, {0}, "P2 run with -p no:canary")
        return sample

    a, b = alternate(ours, base, repeats)
    rows = [ratio_row("P2 200 unrelated tests", a, b, 1.03)]

    pytest_only = _imports("import pytest")
    with_plugin = _imports("import pytest; import pytest_canary.plugin")
    extra = {name: t for name, t in with_plugin.items() if name not in pytest_only}
    own_us = sum(self_us for self_us, _ in extra.values())
    base_us = sum(self_us for self_us, _ in pytest_only.values())
    heavy = sorted(n for n in extra if n.split(".")[0] in HEAVY)
    names = ", ".join(f"{n} ({t[0]} µs)" for n, t in sorted(extra.items()))
    rows.append(
        Row(
            "P2 import of the inactive plugin",
            f"{own_us / 1000:.1f} ms",
            f"{base_us / 1000:.1f} ms (pytest)",
            own_us / base_us,
            "nothing heavy",
            not heavy,
            [f"P2 import: beyond `import pytest`, the plugin imports: {names or 'nothing'}"]
            + ([f"P2 import: HEAVY modules imported: {', '.join(heavy)}"] if heavy else []),
        )
    )
    return rows


# --- P3: many tenants in one run --------------------------------------------------------------


class _Days:
    """A new KPI date for every run on a root: each run decides a fresh day, as the daily job does.

    Deleting the last run's files instead would time the disk (on a filesystem mounted with
    ``discard`` every unlink waits for the device), and rewriting them would replace files.
    """

    def __init__(self, root: Path, tenants: int) -> None:
        self.root, self.tenants, self.used = root, tenants, 0
        self.last = generate.DATE

    def next(self) -> str:
        day = dt.date.fromisoformat(generate.DATE) + dt.timedelta(days=self.used)
        self.used += 1
        self.last = day.isoformat()
        if self.used > 1:
            generate.add_kpis(self.root, self.tenants, self.last)
        return self.last


def _count_decisions(root: Path, date: str) -> dict[str, int]:
    words: dict[str, int] = {}
    for path in root.glob(f"*/canary/{date}_decision.json"):
        text = path.read_text()
        word = re.search(r'"decision": "([A-Z_0-9]+)"', text)
        key = word.group(1).split("_")[0] if word else "?"
        words[key] = words.get(key, 0) + 1
    return words


def _p3_ours(cmd: list[str], days: _Days, log: Path, code: int) -> Sample:
    flag = "--date" if cmd[0] == CANARY else "--canary-date"
    sample = run_once([*cmd, flag, days.next()], days.root.parent, log)
    _check(sample, {code}, f"P3 {' '.join(cmd[1:4])} (HOLD and BACKOUT tenants: exit {code})")
    return sample


def _p3_base(cmd: list[str], floor: Path) -> Sample:
    sample = run_once(cmd, floor)
    _check(sample, {0}, "P3 floor run")
    return sample


def bench_p3(tmp: Path, repeats: int, sizes: list[int]) -> list[Row]:
    """Many tenants in one run; no warm-up at 1,000 and more, the first run of each side counts."""
    rows: list[Row] = []
    growth: list[tuple[int, float, float]] = []
    largest = max(sizes)
    for size in sizes:
        project = tmp / f"p3-{size}"
        project.mkdir()
        (project / "pytest.ini").write_text("[pytest]\n")
        root = generate.make_root(project, size)
        floor = generate.make_floor(tmp / f"p3-floor-{size}", size, 7)
        args = [
            "--canary-tenant",
            "all",
            f"--canary-root={root}",
        ]
        days = _Days(root, size)
        log = tmp / f"p3-{size}.log"
        ours = partial(_p3_ours, [*PYTEST, "-p", "canary", *args], days, log, 1)
        base = partial(_p3_base, PYTEST, floor)
        a, b = alternate(ours, base, repeats, warm_up=size < 1000)
        counts = _count_decisions(root, days.last)
        expected = {w: sum(generate.expected_word(i) == w for i in range(size)) for w in counts}
        if counts != expected or sum(counts.values()) != size:
            raise SystemExit(f"bench: P3 decisions {counts}, expected {expected}")
        growth.append((size, med(a, "cpu"), med(b, "cpu")))
        if size != largest:
            continue
        rows.append(ratio_row(f"P3 {size:,} tenants ({size * 7:,} items)", a, b, 1.5))
        rows[-1].notes.append(f"P3 decisions at {size:,} tenants: {counts}")
        peak = max(s.rss_mb for s in a)
        floor_peak = max(s.rss_mb for s in b)
        rows.append(
            Row(
                f"P3 peak RSS, {size:,} tenants",
                f"{peak:.0f} MB",
                f"{floor_peak:.0f} MB (floor)",
                peak / floor_peak,
                "<= 400 MB",
                peak <= 400,
            )
        )
        xa, xb = alternate(
            partial(_p3_ours, [*PYTEST, "-n", "2", "-p", "canary", *args], days, log, 1),
            partial(_p3_base, [*PYTEST, "-n", "2"], floor),
            max(1, repeats - 1),
            warm_up=False,
        )
        rows.append(ratio_row(f"P3 {size:,} tenants, -n 2 (vs floor -n 2)", xa, xb, 1.5))
        rows[-1].notes.append(f"P3 -n 2: peak RSS {max(s.rss_mb for s in xa):.0f} MB")
        cli = [CANARY, "decide", "--tenant", "all", "--root", str(root)]
        ca, cb = alternate(
            partial(_p3_ours, cli, days, log, 3), base, max(1, repeats - 1), warm_up=False
        )
        rows.append(ratio_row(f"P3 {size:,} tenants, canary decide", ca, cb, 1.5))
        rows[-1].notes.append(f"P3 CLI: peak RSS {max(s.rss_mb for s in ca):.0f} MB")
    if len(growth) > 1:
        # The marginal CPU cost of a tenant between two sizes takes out every fixed cost (the
        # interpreter, imports, pytest's start); linear growth keeps it flat from step to step.
        steps = [
            (n0, n1, (a1 - a0) / (n1 - n0) * 1000, (b1 - b0) / (n1 - n0) * 1000)
            for (n0, a0, b0), (n1, a1, b1) in pairwise(growth)
        ]
        text = "; ".join(
            f"{n0:,} -> {n1:,}: {ours:.2f} ms per added tenant (floor {floor:.2f} ms per 7 items)"
            for n0, n1, ours, floor in steps
        )
        totals = ", ".join(f"{n:,}: {a / n * 1000:.2f} ms" for n, a, _ in growth)
        notes = [f"P3 growth, marginal: {text}", f"P3 growth, CPU per tenant in all: {totals}"]
        if len(steps) == 1:  # one step has nothing to be compared with: no ratio, the figures only
            rows[-1].notes.extend(notes)
            return rows
        first, last = steps[0], steps[-1]
        rows.append(
            Row(
                "P3 growth " + " -> ".join(f"{n:,}" for n, _, _ in growth) + " (CPU per tenant)",
                f"{last[2]:.2f} ms ({last[0]:,}->{last[1]:,})",
                f"{first[2]:.2f} ms ({first[0]:,}->{first[1]:,})",
                last[2] / first[2],
                "linear (<= 1.5x)",
                last[2] / first[2] <= 1.5,
                notes,
            )
        )
    return rows


# --- P4: the KPI engine -----------------------------------------------------------------------


def bench_p4(tmp: Path, repeats: int, events: int) -> list[Row]:
    try:
        import kpi_bench  # the P4 driver, next to this file
    except ImportError as exc:
        return [
            Row("P4 KPI engine", "pending", "-", None, ">= 1 M events/s/core", None, [str(exc)])
        ]
    return kpi_bench.bench(tmp, repeats, events, Row)


# --- the table --------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    head = ("figure", "ours", "baseline", "ratio", "target", "")
    cells = [
        (
            r.figure,
            r.ours,
            r.baseline,
            f"{r.ratio:.2f}x" if r.ratio is not None else "-",
            r.target,
            {True: "met", False: "MISSED", None: "pending"}[r.met],
        )
        for r in rows
    ]
    widths = [max(len(str(c[i])) for c in [head, *cells]) for i in range(len(head))]

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(x).ljust(w) for x, w in zip(cells, widths, strict=True)) + " |"

    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells:
        print(line(c))
    notes = [n for r in rows for n in r.notes]
    if notes:
        print()
        for note in notes:
            print(f"- {note}")


def machine() -> str:
    cpu = "?"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {sys.version.split()[0]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="P1,P2,P3,P4", help="comma-separated figures to run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per side (median taken)")
    parser.add_argument("--quick", action="store_true", help="P3 up to 1,000 tenants, P4 at 500 k")
    parser.add_argument("--sizes", default=None, help="P3 tenant counts, e.g. 100,1000,10000")
    parser.add_argument("--p3-repeats", type=int, default=2, help="P3 runs per side (slow)")
    parser.add_argument("--events", type=int, default=5_000_000, help="P4 events")
    parser.add_argument(
        "--tmp",
        default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None,
        help="where the temporary data goes (default: /dev/shm, a RAM disk, when writable)",
    )
    args = parser.parse_args(argv)
    only = {part.strip().upper() for part in args.only.split(",")}
    sizes = [
        int(s) for s in (args.sizes or ("100,1000" if args.quick else "100,1000,10000")).split(",")
    ]
    events = 500_000 if args.quick else args.events
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M %Z')}", flush=True)
    rows: list[Row] = []
    # In RAM by default: the data of 10,000 tenants is ~100,000 small files, and on a disk
    # mounted with `discard` removing them afterwards takes longer than the benchmark.
    with tempfile.TemporaryDirectory(prefix="canary-bench-", dir=args.tmp) as name:
        tmp = Path(name)
        benches: list[tuple[str, Callable[[], list[Row]]]] = [
            ("P1", lambda: bench_p1(tmp, args.repeats)),
            ("P2", lambda: bench_p2(tmp, max(args.repeats, 9))),
            ("P3", lambda: bench_p3(tmp, args.p3_repeats, sizes)),
            ("P4", lambda: bench_p4(tmp, args.repeats, events)),
        ]
        for key, bench in benches:
            if key in only:
                started = time.perf_counter()
                new = bench()
                rows.extend(new)
                for row in new:  # as it goes, so a long run shows its figures early
                    ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
                    print(
                        f"  {row.figure}: {row.ours} vs {row.baseline} = {ratio}", file=sys.stderr
                    )
                print(
                    f"{key} done in {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    print_table(rows)
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
