"""``canary kpi``: compute a tenant's KPI file of a run date from its dispatch events.

Bad input fails closed: no KPI file is written, since KPIs from partly read events could let a bad
day pass its gates. Exit 0 written, 1 bad or unreadable input, 2 usage error; each error is one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pytest_canary.cli import exit_codes, options
from pytest_canary.core.errors import CannotWrite
from pytest_canary.kpi.cohorts import QuotaTimeline
from pytest_canary.kpi.engine import compute_kpis, warnings_for
from pytest_canary.kpi.events import BERLIN, Window
from pytest_canary.kpi.sources import Source, parse_source
from pytest_canary.kpi.sources.sqlite import SqliteSource
from pytest_canary.store import settings

if TYPE_CHECKING:
    from pytest_canary.store.layout import TenantPaths

# pydantic (models, store) is imported where it is used: `canary` builds every command's parser
# on each call, and that must stay cheap.

ENV_SOURCE = "CANARY_KPI_SOURCE"
DEFAULT_SOURCE = "ops/events.sqlite"
"""The embedded default, under the tenant's folder: ``<root>/<tenant>/ops/events.sqlite``."""

SOURCE_HELP = (
    "where the dispatch events are: a JSONL file (path or file:///path.jsonl), a SQLite database"
    " (sqlite:///path.sqlite) or postgresql://user@host/db; '{tenant}' is replaced by the"
    f" tenant id (default: env {ENV_SOURCE}, else <root>/<tenant>/{DEFAULT_SOURCE})"
)


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="compute a tenant's KPI file from its dispatch events (exit 0 written, 1 bad input)",
        description=(
            "Compute a tenant's KPI file <root>/<tenant>/<date>.json from its dispatch events:"
            " the 24 hours before <date> 07:30 Europe/Berlin, queue depths at that time"
            " (docs/kpi-engine.md). Exit 0 written, 1 bad or unreadable input (nothing written),"
            " 2 usage error."
        ),
        epilog="example: canary kpi --tenant acme --source events.jsonl",
    )
    parser.add_argument("--tenant", required=True, help="tenant id")
    parser.add_argument("--date", help=f"run date: the KPI file's name; {options.DATE_HELP}")
    options.add_root(parser)
    options.add_gates(parser)
    parser.add_argument("--source", help=SOURCE_HELP)
    parser.add_argument(
        "--dry-run", action="store_true", help="print the KPI file on stdout, write nothing"
    )
    parser.set_defaults(handler=run)


class _Progress:
    """``\\r``-updated count of events read, on stderr, only when stderr is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.shown = False
        self._next = time.monotonic() + 0.5

    def __call__(self, events: int) -> None:
        now = time.monotonic()
        if self.enabled and now >= self._next:
            self._next = now + 0.5
            self.stream.write(f"\rcanary kpi: {events:,} events read")
            self.stream.flush()
            self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _source(args: argparse.Namespace, paths: TenantPaths, cwd: Path) -> Source:
    text = args.source or os.environ.get(ENV_SOURCE)
    if not text:
        return SqliteSource(str(paths.check(paths.dir / DEFAULT_SOURCE)))
    return parse_source(text.replace("{tenant}", paths.tenant), cwd)


def _timeline(paths: TenantPaths, gates: str | None, err: TextIO) -> QuotaTimeline | None:
    """The tenant's quotas over time, from its state, when one of its gates judges cohorts;
    ``None`` (no cohorts) otherwise, or when the state is corrupt.

    The split costs one hash per event, so it is made only for a tenant whose gates need it.
    """
    from pytest_canary.core.jsonfile import InvalidInput
    from pytest_canary.core.readings import parse_state
    from pytest_canary.store.files import read_bytes
    from pytest_canary.store.readers import display_path

    # The gates of --gates or gates/ (else built-in), as a decision run from here reads them.
    gate_set = options.gate_config(gates).for_tenant(paths.tenant, os.environ)
    if not gate_set.needs_cohorts:
        return None
    path = paths.state
    if not path.exists() and not path.is_symlink():
        return QuotaTimeline.initial(paths.tenant)
    where = display_path(path)
    try:
        state = parse_state(read_bytes(path, where), where, paths.tenant, gate_set.steps)
    except InvalidInput as exc:
        err.write(
            f"canary kpi: warning: {exc}; the KPI file gets no cohorts, so a gate with"
            ' compare = "control" reports an error\n'
        )
        return None
    return QuotaTimeline.from_state(state)


def run(args: argparse.Namespace) -> int:
    return _run(args, sys.stdout, sys.stderr)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from pytest_canary.store.atomic import write_atomic
    from pytest_canary.store.layout import TenantPaths

    paths = TenantPaths.open(options.root(args), args.tenant)
    day = settings.parse_date(args.date, "--date")
    source = _source(args, paths, Path.cwd())
    window = Window.for_run_date(day)
    now = settings.now_berlin()
    if now < window.end:
        err.write(
            f"canary kpi: warning: the run time {window.end.astimezone(BERLIN).isoformat()}"
            " is still ahead; events until then are not in these KPIs\n"
        )
    timeline = _timeline(paths, args.gates, err)
    progress = _Progress(err)
    started = time.perf_counter()
    try:
        tally = source.tally(paths.tenant, window, progress, timeline)
    finally:
        progress.done()
    if timeline is not None:
        tally.split()  # a day without events has two empty cohorts, not none
    seconds = time.perf_counter() - started
    payload = compute_kpis(tally, paths.tenant, day, now, source.shown)
    for note in warnings_for(tally, payload, paths.tenant):
        err.write(f"canary kpi: warning: {note}\n")
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    if args.dry_run:
        out.write(text)
        return exit_codes.OK
    target = paths.check(paths.kpi(day))
    try:
        write_atomic(target, text.encode(), label="kpi")
    except OSError as exc:
        raise CannotWrite.from_os_error(exc) from None
    out.write(
        f"{paths.tenant} {day}: notices_sent={payload['notices_sent']}"
        f" error_rate={payload['error_rate']:.4f} hard_bounces={payload['hard_bounces']}"
        f" dlq_depth={payload['dlq_depth']} retry_depth={payload['retry_depth']}"
        f" ({tally.events_read:,} events read in {seconds:.1f} s) -> {target}\n"
    )
    return exit_codes.OK
