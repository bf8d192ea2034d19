"""canary prune: the contract's retention on real files, dated by name against a fixed --today."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import time_machine

from _plugin_fixtures import CanaryRoot, canary_script, run
from pytest_canary.cli import main
from pytest_canary.store.audit import append_audit
from pytest_canary.store.layout import TenantPaths

TODAY = dt.date(2026, 11, 26)
BERLIN = dt.timezone(dt.timedelta(hours=1))


def _day(days_ago: int) -> str:
    return (TODAY - dt.timedelta(days=days_ago)).isoformat()


def _touch(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _prune(root: Path, *args: str) -> tuple[int, str, str]:
    done = run(
        [canary_script(), "prune", "--root", str(root), "--today", TODAY.isoformat(), *args],
        cwd=root.parent,
    )
    return done.returncode, done.stdout, done.stderr


def _tenant_files(canary_root: CanaryRoot) -> tuple[set[str], set[str]]:
    """A tenant with files of every kind: (those past their retention, those that must stay)."""
    t = canary_root.path / "acme"
    old = {
        _touch(t / f"{_day(91)}.json"),  # KPI file, 91 days
        _touch(t / "canary" / f"{_day(91)}_decision.json"),
        _touch(t / "canary" / f"{_day(91)}_decision.md", "# old"),
        _touch(t / "canary" / f"{_day(200)}_rollout_log.json"),
        _touch(t / "canary" / f"{_day(200)}_rollout_log.md", "# old"),
        _touch(t / "canary" / "runs" / f"{_day(31)}_junit.xml", "<testsuites/>"),
        _touch(t / "ops" / f"dns_check_{_day(31)}.json"),
        _touch(t / "ops" / f"dns_check_{_day(31)}.md", "# dns"),
    }
    kept = {
        _touch(t / f"{_day(90)}.json"),  # exactly 90 days: kept
        _touch(t / f"{_day(0)}.json"),
        _touch(t / "canary" / f"{_day(90)}_decision.json"),
        _touch(t / "canary" / "runs" / f"{_day(30)}.log", "ok"),
        _touch(t / "ops" / f"dns_check_{_day(30)}.json"),
        # never a state file, the blocklist, or a file it does not recognise, however old
        _touch(t / "operate" / "operate_state.json", '{"tenant": "acme", "quota": 10}'),
        _touch(t / "operate" / f"{_day(900)}.json"),
        _touch(t / "ops" / "blocklist.json", '{"entries": []}'),
        _touch(t / f"{_day(900)}.json.bak"),
        _touch(t / f"notes-{_day(900)}.json"),
        _touch(t / "canary" / f"{_day(900)}_summary.json"),
        _touch(t / "canary" / f"{_day(900)}.json"),
        _touch(t / "2024-13-45.json"),  # not a date
    }
    as_text = {p.relative_to(canary_root.path).as_posix() for p in old}
    return as_text, {p.relative_to(canary_root.path).as_posix() for p in kept}


def _files(root: Path) -> set[str]:
    """Every file under root but the state lock, which pruning holds like every writer."""
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != "operate_state.json.lock"
    }


def test_prune_deletes_only_recognised_files_past_retention(canary_root: CanaryRoot) -> None:
    old, kept = _tenant_files(canary_root)

    code, out, err = _prune(canary_root.path, "--tenant", "acme")

    assert (code, err) == (0, "")
    assert _files(canary_root.path) == kept
    for name in old:
        assert f"deleted {name} (" in out
    assert "8 file(s) deleted" in out


def test_dry_run_lists_what_would_go_and_deletes_nothing(canary_root: CanaryRoot) -> None:
    old, _ = _tenant_files(canary_root)
    before = canary_root.snapshot()

    code, out, _ = _prune(canary_root.path, "--all", "--dry-run")

    assert code == 0
    assert canary_root.snapshot() == before
    listed = {line.split()[2] for line in out.splitlines() if line.startswith("would delete ")}
    assert listed == old
    assert "(dry run)" in out and "8 file(s) to delete" in out


def test_retention_can_be_raised(canary_root: CanaryRoot) -> None:
    _tenant_files(canary_root)

    code, _, _ = _prune(
        canary_root.path, "--all", "--kpi-days", "120", "--log-days", "365", "--run-log-days", "60"
    )

    assert code == 0
    remaining = _files(canary_root.path)
    assert f"acme/{_day(91)}.json" in remaining
    assert f"acme/canary/{_day(200)}_rollout_log.json" in remaining
    assert f"acme/canary/runs/{_day(31)}_junit.xml" in remaining


def test_retention_below_the_spec_minimum_is_a_usage_error(canary_root: CanaryRoot) -> None:
    _tenant_files(canary_root)
    before = canary_root.snapshot()

    for option, value in (
        ("--kpi-days", "89"),
        ("--log-days", "30"),
        ("--audit-days", "364"),
        ("--run-log-days", "7"),
    ):
        code, out, err = _prune(canary_root.path, "--all", option, value)
        assert code == 2
        assert err.count("\n") == 1 and f"{option} {value}: below the minimum" in err
        assert out == ""
    assert canary_root.snapshot() == before


def test_prune_needs_a_selection_and_a_known_tenant(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")

    assert _prune(canary_root.path)[0] == 2
    code, _, err = _prune(canary_root.path, "--tenant", "acmee")
    assert code == 2 and "unknown tenant 'acmee'" in err


# --- the audit log ----------------------------------------------------------------------------


def _audit_log(canary_root: CanaryRoot) -> TenantPaths:
    """Two years of audit lines: decisions in 2024, a PRUNE checkpoint, decisions in 2025/2026."""
    canary_root.tenant("acme")
    paths = TenantPaths.open(canary_root.path, "acme")

    def line(event: str, when: dt.date, **fields: object) -> None:
        append_audit(paths, event, fields, dt.datetime.combine(when, dt.time(7, 30), BERLIN))

    for month in (1, 3, 6):
        line("DECISION", dt.date(2024, month, 2), decision="HOLD")
    line("PRUNE", dt.date(2024, 9, 1), date="2024-09-01")
    line("DECISION", dt.date(2025, 1, 2), decision="HOLD")
    line("DECISION", dt.date(2026, 1, 2), decision="GO_25")
    return paths


def _audit_lines(paths: TenantPaths) -> list[dict[str, object]]:
    return [json.loads(raw) for raw in paths.audit.read_text().splitlines()]


def _verify(root: Path) -> tuple[int, str]:
    done = run(
        [canary_script(), "audit", "verify", "--tenant", "acme", "--root", str(root)],
        cwd=root.parent,
    )
    return done.returncode, done.stdout


def test_audit_is_cut_at_a_prune_checkpoint_and_still_verifies(canary_root: CanaryRoot) -> None:
    paths = _audit_log(canary_root)

    code, out, _ = _prune(canary_root.path, "--tenant", "acme")

    assert code == 0
    lines = _audit_lines(paths)
    # The three 2024 decisions went; the log starts at the checkpoint, the next line vouches for it.
    assert [line["seq"] for line in lines] == [4, 5, 6, 7]
    assert lines[0]["event"] == "PRUNE"
    assert lines[-1]["event"] == "PRUNE" and lines[-1]["audit_lines_cut"] == 3
    assert lines[-1]["first_kept_seq"] == 4
    assert "cut 3 line(s) from the head of acme/canary/audit.jsonl" in out
    # 2025-01-02 is past 365 days too, but after the checkpoint: kept until a later one
    assert "kept 1 expired line(s)" in out
    code, out = _verify(canary_root.path)
    assert code == 0 and "audit chain intact: 4 line(s)" in out


def test_next_prune_cuts_at_the_newer_checkpoint(canary_root: CanaryRoot) -> None:
    paths = _audit_log(canary_root)
    _prune(canary_root.path, "--tenant", "acme")
    later = dt.datetime.combine(TODAY + dt.timedelta(days=400), dt.time(12), tzinfo=BERLIN)

    with time_machine.travel(later, tick=False):  # --today may not pass the real today
        code = main(["prune", "--root", str(canary_root.path), "--tenant", "acme"])

    assert code == 0
    lines = _audit_lines(paths)
    assert lines[0]["event"] == "PRUNE" and lines[0]["seq"] == 7
    assert _verify(canary_root.path)[0] == 0


def test_a_second_prune_on_the_same_day_adds_no_checkpoint(canary_root: CanaryRoot) -> None:
    paths = _audit_log(canary_root)
    _prune(canary_root.path, "--tenant", "acme")
    after_first = paths.audit.read_bytes()

    code, out, _ = _prune(canary_root.path, "--tenant", "acme")

    assert code == 0 and paths.audit.read_bytes() == after_first
    assert "0 audit line(s) cut" in out


def test_dry_run_leaves_the_audit_log_alone(canary_root: CanaryRoot) -> None:
    paths = _audit_log(canary_root)
    before = paths.audit.read_bytes()

    code, out, _ = _prune(canary_root.path, "--tenant", "acme", "--dry-run")

    assert code == 0 and paths.audit.read_bytes() == before
    assert "would cut 3 line(s)" in out


def test_a_broken_chain_is_never_cut(canary_root: CanaryRoot) -> None:
    paths = _audit_log(canary_root)
    raw = paths.audit.read_text().splitlines()
    raw[1] = raw[1].replace('"HOLD"', '"GO_25"')  # someone rewrote an old decision
    paths.audit.write_text("\n".join(raw) + "\n")
    before = paths.audit.read_bytes()

    code, _, err = _prune(canary_root.path, "--tenant", "acme")

    assert code == 1
    assert paths.audit.read_bytes() == before
    assert "line 2" in err and "not cut while its chain is broken" in err


def test_a_full_disk_while_cutting_the_audit_log_is_one_line_and_leaves_it_whole(
    canary_root: CanaryRoot,
) -> None:
    paths = _audit_log(canary_root)
    before = paths.audit.read_bytes()
    root = canary_root.path
    env = {**os.environ, "CANARY_FAULT_POINT": "audit-prune:enospc"}

    done = run(
        [canary_script(), "prune", "--root", str(root), "--tenant", "acme", "--today", str(TODAY)],
        cwd=root.parent,
        env=env,
    )

    assert done.returncode == 1
    assert paths.audit.read_bytes() == before
    assert [p.name for p in paths.canary_dir.iterdir()] == ["audit.jsonl"]  # no temporary left
    (problem,) = done.stderr.splitlines()
    assert "the audit log was not cut" in problem and "No space left on device" in problem
    assert "cut 3 line(s)" not in done.stdout
    assert _verify(root)[0] == 0
