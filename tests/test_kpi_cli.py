"""canary kpi as a command: bad input fails closed, usage errors, environment, shim, progress."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from _kpi_fixtures import (
    DATE,
    RECIPIENT,
    Event,
    events,
    kpi,
    make_root,
    read_kpis,
    write_jsonl,
    write_sqlite,
)
from pytest_canary.cli import main

REPO = Path(__file__).resolve().parent.parent
UTC = dt.UTC

# --- bad input -----------------------------------------------------------------------------

BAD_LINES = {
    "not json": "not JSON",
    "[1, 2]": "expected a JSON object, got list",
    '{"tenant":"acme","event":"sent","ts":"2026-11-26T01:00:00+01:00"}': "notice_id is missing",
    '{"tenant":"acme","event":"opened","ts":"2026-11-26T01:00:00+01:00","notice_id":"x"}': (
        "field event: a string of 6 characters, expected one of sent, failed"
    ),
    '{"tenant":"acme","event":"sent","ts":"2026-11-31T01:00:00+01:00","notice_id":"x"}': (
        "field ts: no such day or time of day, expected an ISO-8601 time"
    ),
    '{"tenant":"acme","event":"sent","ts":"yesterday","notice_id":"x"}': "field ts:",
    '{"tenant":"acme","event":"sent","ts":1764115200,"notice_id":"x"}': "must be a string",
    '{"tenant":"ACME","event":"sent","ts":"2026-11-26T01:00:00Z","notice_id":"x"}': "tenant id",
    '{"tenant":["acme"],"event":"sent","ts":"2026-11-26T01:00:00Z","notice_id":"x"}': "tenant id",
    '{"tenant":"acme","event":"sent","ts":"2026-11-26T01:00:00Z","notice_id":""}': "non-empty",
    '{"tenant":"acme","event":"sent","ts":"2026-11-26T01:00:00Z","notice_id":"x","n":NaN}': (
        "NaN is not a number JSON allows"
    ),
    '{"tenant":"acme","tenant":"beta","event":"sent","ts":"2026-11-26T01:00Z","notice_id":"x"}': (
        "duplicate key 'tenant'"
    ),
    '{"tenant":"acme","event":"sent","ts":"2026-11-26T01:00Z","notice_id":"x","recipient":5}': (
        "field recipient: must be a string or null"
    ),
}


@pytest.mark.parametrize("line", BAD_LINES)
def test_a_bad_line_fails_closed_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    root = make_root(tmp_path)
    kpi_file = root / "acme" / f"{DATE}.json"
    kpi_file.write_text("previous\n")
    text = write_jsonl(tmp_path / "ok.jsonl", events(sent=3)).read_text()
    source = tmp_path / "e.jsonl"
    source.write_text(text + line + "\n" + text)

    assert kpi(root, source) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no KPI file written: line 4: " in err
    assert BAD_LINES[line] in err
    assert kpi_file.read_text() == "previous\n"


ADDRESS_LINES = [
    f'{{"tenant":"acme","event":"{RECIPIENT}","ts":"2026-11-26T01:00Z","notice_id":"x"}}',
    f'{{"tenant":"acme","event":"sent","ts":"{RECIPIENT}","notice_id":"x"}}',
    f'{{"tenant":"acme","event":"sent","ts":"2026-11-26T01:00Z","notice_id":"x","cohort":"{RECIPIENT}"}}',
    f'{{"tenant":"acme","event":"sent","ts":"2026-11-26T01:00Z","notice_id":"x","{RECIPIENT}":1,'
    f'"{RECIPIENT}":2}}',
]


@pytest.mark.parametrize("line", ADDRESS_LINES)
def test_a_bad_line_never_shows_an_address_it_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    root = make_root(tmp_path)
    source = tmp_path / "e.jsonl"
    source.write_text(line + "\n")

    assert kpi(root, source) == 1

    out, err = capsys.readouterr()
    assert "line 1: " in err
    assert RECIPIENT not in out + err
    assert "erika" not in out + err


def test_a_bad_sqlite_event_never_shows_an_address_it_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    db = write_sqlite(tmp_path / "events.sqlite", [Event(RECIPIENT, events(sent=1)[0].at)])

    assert kpi(root, db) == 1

    out, err = capsys.readouterr()
    assert "column event: a string of 28 characters, expected one of" in err
    assert "erika" not in out + err


def test_a_bad_value_in_a_canonical_line_is_named_by_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_canary.kpi import jsonl as kpi_jsonl

    monkeypatch.setattr(kpi_jsonl, "BLOCK", 512)
    root = make_root(tmp_path)
    items = events(sent=20)
    items[13] = Event("opened", items[13].at)
    items[17] = Event("sent", dt.datetime(2026, 2, 1, 12, tzinfo=UTC), tenant="x-")

    assert kpi(root, write_jsonl(tmp_path / "e.jsonl", items)) == 1
    assert "line 14: field event: a string of 6 characters" in capsys.readouterr().err


def test_invalid_utf8_and_an_endless_line_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_canary.kpi import jsonl as kpi_jsonl

    root = make_root(tmp_path)
    source = tmp_path / "e.jsonl"
    source.write_bytes(b'{"tenant":"acme","notice_id":"\xff"}\n')
    assert kpi(root, source) == 1
    assert "line 1: not UTF-8 (byte 31)" in capsys.readouterr().err

    monkeypatch.setattr(kpi_jsonl, "BLOCK", 64)
    monkeypatch.setattr(kpi_jsonl, "MAX_LINE", 256)
    source.write_bytes(b"\n\n" + b"x" * 1000)
    assert kpi(root, source) == 1
    assert "line 3: longer than" in capsys.readouterr().err


# --- the command ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "ACME"], "invalid tenant id"),
        (["--tenant", "all"], "reserved"),
        (["--tenant", "nobody"], "unknown tenant 'nobody'"),
        (["--tenant", "acme", "--date", "26.11.2026"], "--date '26.11.2026'"),
        (["--tenant", "acme", "--date", "2026-02-30"], "no such day"),
        (["--tenant", "acme", "--source", "ftp://host/x.jsonl"], "unknown scheme"),
        (["--tenant", "acme", "--source", "events.csv"], "cannot tell the kind"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    root = make_root(tmp_path)
    source = write_jsonl(tmp_path / "e.jsonl", events(sent=3))
    full = ["kpi", "--root", str(root), "--source", str(source), *args]

    assert main(full) == 2

    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert sorted(p.name for p in root.iterdir()) == ["acme"]
    assert list((root / "acme").iterdir()) == []


def test_a_missing_source_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_root(tmp_path)

    assert kpi(root, tmp_path / "missing.jsonl") == 1
    assert "missing.jsonl: cannot be read (No such file or directory)" in capsys.readouterr().err
    assert main(["kpi", "--tenant", "acme", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"sqlite://{root.resolve()}/acme/ops/events.sqlite: no such file" in err


def test_root_and_source_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path, "acme", "beta")
    write_jsonl(tmp_path / "acme.jsonl", events(sent=3))
    write_jsonl(tmp_path / "beta.jsonl", events(sent=5, tenant="beta"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CANARY_ROOT", "root")
    monkeypatch.setenv("CANARY_KPI_SOURCE", "file:{tenant}.jsonl")

    for tenant in ("acme", "beta"):
        assert main(["kpi", "--tenant", tenant, "--date", DATE.isoformat()]) == 0

    assert json.loads((root / "beta" / f"{DATE}.json").read_text())["notices_sent"] == 5
    assert read_kpis(root)["source"] == f"file://{tmp_path}/acme.jsonl"
    assert "notices_sent=3" in capsys.readouterr().out


def test_default_root_is_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "artifacts" / "reports" / "mahnwesen"
    (root / "acme").mkdir(parents=True)
    source = write_jsonl(tmp_path / "e.jsonl", events(sent=3))
    monkeypatch.chdir(tmp_path)

    assert main(["kpi", "--tenant", "acme", "--date", "2026-11-26", "--source", str(source)]) == 0
    assert read_kpis(root)["notices_sent"] == 3


def test_dry_run_prints_the_kpis_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)

    assert kpi(root, write_jsonl(tmp_path / "e.jsonl", events(sent=3)), "--dry-run") == 0

    assert json.loads(capsys.readouterr().out)["notices_sent"] == 3
    assert list((root / "acme").iterdir()) == []


def test_a_run_before_its_run_time_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    early = dt.datetime.combine(DATE, dt.time(6, 45), tzinfo=ZoneInfo("Europe/Berlin"))

    with time_machine.travel(early, tick=False):  # today's KPIs, 45 minutes before 07:30
        assert kpi(root, write_jsonl(tmp_path / "e.jsonl", events(sent=3))) == 0
    assert "is still ahead" in capsys.readouterr().err


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANARY_")}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_console_script_and_playbook_shim_write_the_kpi_file(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    source = write_jsonl(tmp_path / "e.jsonl", events(sent=40, failed=1))
    args = ["--tenant", "acme", "--root", str(root), "--date", "2026-11-26", "--source", source]
    script = Path(sys.executable).parent / "canary"

    done = _run(str(script), "kpi", *map(str, args), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    first = read_kpis(root)
    shim = _run(sys.executable, "tools/operate/kpi_engine.py", *map(str, args), cwd=REPO)
    assert shim.returncode == 0, shim.stderr

    assert read_kpis(root)["errors"] == first["errors"] == 1
    assert "acme 2026-11-26: notices_sent=40" in shim.stdout
    bad = _run(sys.executable, "tools/operate/kpi_engine.py", "--tenant", "../x", cwd=REPO)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_canary.cli import kpi as kpi_cli

    monkeypatch.setattr(kpi_cli.time, "monotonic", iter(range(0, 100, 1)).__next__)
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = kpi_cli._Progress(stream)
        progress(1_000_000)
        progress(2_500_000)
        progress.done()

    assert terminal.getvalue() == (
        "\rcanary kpi: 1,000,000 events read\rcanary kpi: 2,500,000 events read\n"
    )
    assert pipe.getvalue() == ""
