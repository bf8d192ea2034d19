"""Applying decisions and reviews to the state: every rule of rolling out (docs/contract.md), on real files."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from _rollout_fixtures import (
    CREATED,
    KPI_DATE,
    NOW,
    audit_lines,
    decision,
    open_tenant,
    snapshot,
    write_state,
)
from pytest_canary.core import jsonfile
from pytest_canary.core.errors import CanaryUsageError, RolloutRefused
from pytest_canary.core.models import OperateState, Review
from pytest_canary.core.records import Decision, RolloutLog
from pytest_canary.ops.review import record_review
from pytest_canary.ops.rollout import (
    DEFAULT_STEPS,
    apply_decision,
    load_decision,
    newest_decision_file,
)
from pytest_canary.store.audit import verify_audit
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.readers import load_state

REVIEW = Review(by="oncall-anna", note="bounces explained", at=CREATED)


def apply(paths: TenantPaths, made: Decision, **kwargs: Any) -> RolloutLog:
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("lock_timeout", 5.0)
    return apply_decision(paths, made, **kwargs)


def state_of(paths: TenantPaths) -> OperateState:
    state = load_state(paths, DEFAULT_STEPS)
    assert state is not None
    return state


def rollout_audit(paths: TenantPaths) -> list[dict[str, Any]]:
    return [line for line in audit_lines(paths) if line["event"] == "ROLLOUT"]


# --- refusals ---------------------------------------------------------------------------------


def _corrupt(paths: TenantPaths) -> None:
    paths.operate_dir.mkdir()
    paths.state.write_bytes(b'{"tenant": "acme", "quota": 10, "serial": ')


REFUSALS: list[tuple[str, dict[str, Any] | None, Any, Decision, dict[str, Any], str]] = [
    ("foreign tenant", None, None, decision(tenant="other"), {}, "is for tenant 'other'"),
    ("corrupt state", None, _corrupt, decision(), {}, "left for review"),
    ("corrupt state, BACKOUT", None, _corrupt, decision("BACKOUT"), {}, "left for review"),
    ("quota off the steps", {"quota": 30}, None, decision("BACKOUT"), {}, "not one of the steps"),
    (
        "too old",
        None,
        None,
        decision(),
        {"now": CREATED + dt.timedelta(hours=26, seconds=1)},
        "more than 26h ago",
    ),
    (
        "too old for a shorter max age",
        None,
        None,
        decision("BACKOUT"),
        {"max_age": dt.timedelta(minutes=1)},
        "more than 0.0166667h ago",
    ),
    (
        "created in the future",
        None,
        None,
        decision("BACKOUT", created_at=NOW + dt.timedelta(minutes=5, seconds=1)),
        {},
        "by more than 5 minutes of clock skew",
    ),
    ("stale quota", {"quota": 25, "serial": 1}, None, decision("GO_50"), {}, "stale GO_50"),
    (
        "stale kill switch",
        {"quota": 10, "kill_switch": True, "serial": 1},
        None,
        decision("GO_25"),
        {},
        "kill switch off (no review, serial 0), but the state is now quota 10 kill switch on",
    ),
    (
        "stale serial",
        {"quota": 10, "serial": 3},
        None,
        decision("GO_25", serial=2),
        {},
        "(no review, serial 2), but the state is now quota 10 kill switch off (no review, serial 3)",
    ),
    ("target off the steps", None, None, decision("GO_30"), {}, "targets quota 30"),
]


@pytest.mark.parametrize(
    ("state", "spoil", "made", "kwargs", "says"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
def test_refusals_write_nothing(
    state: dict[str, Any] | None,
    spoil: Any,
    made: Decision,
    kwargs: dict[str, Any],
    says: str,
    tmp_path: Path,
) -> None:
    paths = open_tenant(tmp_path)
    if state is not None:
        write_state(paths, **state)
    if spoil is not None:
        spoil(paths)
    before = snapshot(paths.dir)
    with pytest.raises(RolloutRefused) as info:
        apply(paths, made, **kwargs)
    assert says in str(info.value)
    assert "\n" not in str(info.value)
    assert snapshot(paths.dir) == before  # not the state, not a log, not an audit line


def test_exactly_max_age_is_still_applied(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    log = apply(paths, decision(), now=CREATED + dt.timedelta(hours=26))
    assert log.changed


def test_a_held_lock_refuses_after_the_timeout(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    write_state(paths)
    before = snapshot(paths.dir)
    with FileLock(str(paths.lock)), pytest.raises(RolloutRefused, match="locked by another"):
        apply(paths, decision(), lock_timeout=0.05)
    assert snapshot(paths.dir) == before


def test_enospc_on_the_state_refuses_and_keeps_the_old_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = open_tenant(tmp_path)
    write_state(paths)
    before = snapshot(paths.dir)
    monkeypatch.setenv("CANARY_FAULT_POINT", "state:enospc")
    with pytest.raises(RolloutRefused, match=r"cannot write .* the state is unchanged"):
        apply(paths, decision())
    assert snapshot(paths.dir) == before


# --- applying ---------------------------------------------------------------------------------

APPLIED = [
    # id, state before (None: no file), decision, expected (quota, kill switch)
    ("GO_25 from no state", None, decision("GO_25"), (25, False)),
    ("GO_25", {}, decision("GO_25"), (25, False)),
    ("GO_50", {"quota": 25}, decision("GO_50", quota=25), (50, False)),
    ("GO_100", {"quota": 50}, decision("GO_100", quota=50), (100, False)),
    (
        "GO after review clears the kill switch",
        {"kill_switch": True, "review": REVIEW},
        decision("GO_25", kill_switch=True, review=REVIEW),
        (25, False),
    ),
    ("BACKOUT from no state", None, decision("BACKOUT"), (10, True)),
    ("BACKOUT from 10", {}, decision("BACKOUT"), (10, True)),
    ("BACKOUT from 25", {"quota": 25}, decision("BACKOUT", quota=25), (10, True)),
    ("BACKOUT from 50", {"quota": 50}, decision("BACKOUT", quota=50), (10, True)),
    ("BACKOUT from 100", {"quota": 100}, decision("BACKOUT", quota=100), (10, True)),
    (
        "BACKOUT ignores a stale base",
        {"quota": 50, "serial": 4},
        decision("BACKOUT", quota=25),
        (10, True),
    ),
    (
        "BACKOUT after a review clears it",
        {"kill_switch": True, "review": REVIEW},
        decision("BACKOUT", kill_switch=True),
        (10, True),
    ),
]


@pytest.mark.parametrize(
    ("state", "made", "expected"), [a[1:] for a in APPLIED], ids=[a[0] for a in APPLIED]
)
def test_applied_decisions_change_the_state_once(
    state: dict[str, Any] | None, made: Decision, expected: tuple[int, bool], tmp_path: Path
) -> None:
    paths = open_tenant(tmp_path)
    old = write_state(paths, **state) if state is not None else None
    serial = old.serial if old else 0
    log = apply(paths, made)
    new = state_of(paths)
    assert (log.changed, log.outcome) == (True, "applied")
    assert (new.quota, new.kill_switch, new.review) == (*expected, None)
    assert new.serial == serial + 1
    assert new.last_decision_id == made.decision_id
    assert new.updated_at == NOW
    entry = new.history[-1]
    assert len(new.history) == (len(old.history) if old else 0) + 1
    assert entry.model_dump() == {
        "serial": serial + 1,
        "at": NOW,
        "event": "ROLLOUT",
        "decision": made.decision,
        "decision_id": made.decision_id,
        "kpi_date": KPI_DATE,
        "trace_id": made.trace_id,
        "base": (old.base if old else OperateState(tenant="acme", quota=10).base).model_dump(),
        "from_quota": old.quota if old else 10,
        "to_quota": expected[0],
        "kill_switch": expected[1],
        "reasons": made.reasons,
        "by": None,
        "note": None,
    }
    assert log.before is not None and log.after is not None
    assert (log.after.quota, log.after.kill_switch, log.after.serial) == (*expected, serial + 1)
    assert (log.before.quota, log.before.serial) == (old.quota if old else 10, serial)
    stored = RolloutLog.model_validate_json(paths.rollout_json(made.date).read_bytes())
    assert stored == log
    assert "acme" in paths.rollout_md(made.date).read_text()
    (line,) = rollout_audit(paths)
    assert line["changed"] is True
    assert line["outcome"] == "applied"
    assert line["decision_id"] == made.decision_id
    assert line["trace_id"] == made.trace_id
    assert line["after"] == {"quota": expected[0], "kill_switch": expected[1], "serial": serial + 1}
    assert verify_audit(paths.audit).ok
    assert not [p for p in paths.dir.rglob(".tmp-*")]


UNCHANGED = [
    # id, state before, decision, what the first reason says
    ("HOLD", {"quota": 25}, decision("HOLD", quota=25), "no change"),
    ("HOLD from no state", None, decision("HOLD"), "no change"),
    (
        "BACKOUT when already backed out",
        {"kill_switch": True, "serial": 2},
        decision("BACKOUT", kill_switch=True),
        "already backed out",
    ),
    ("GO_100 at the top", {"quota": 100}, decision("GO_100", quota=100), "already at quota 100"),
]


@pytest.mark.parametrize(
    ("state", "made", "says"), [u[1:] for u in UNCHANGED], ids=[u[0] for u in UNCHANGED]
)
def test_unchanged_decisions_write_log_and_audit_but_not_the_state(
    state: dict[str, Any] | None, made: Decision, says: str, tmp_path: Path
) -> None:
    paths = open_tenant(tmp_path)
    if state is not None:
        write_state(paths, **state)
    state_bytes = paths.state.read_bytes() if state is not None else None
    log = apply(paths, made)
    assert (log.changed, log.outcome) == (False, "unchanged")
    assert says in log.reasons[0]
    assert log.before == log.after
    if state_bytes is None:
        assert not paths.state.exists()
    else:
        assert paths.state.read_bytes() == state_bytes
    assert RolloutLog.model_validate_json(paths.rollout_json(made.date).read_bytes()) == log
    assert paths.rollout_md(made.date).exists()
    (line,) = rollout_audit(paths)
    assert (line["changed"], line["outcome"]) == (False, "unchanged")


# --- idempotency and one step per date ----------------------------------------------------


@pytest.mark.parametrize("verdict", ["GO_25", "BACKOUT"])
def test_repeated_rollout_changes_nothing(verdict: str, tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    write_state(paths)
    made = decision(verdict)
    first = apply(paths, made)
    state_bytes = paths.state.read_bytes()
    log_bytes = paths.rollout_json(made.date).read_bytes()
    second = apply(paths, made, now=NOW + dt.timedelta(hours=30))  # past max age: still fine
    assert first.changed and not second.changed
    assert second.outcome == "unchanged"
    assert "already applied" in second.reasons[0]
    assert paths.state.read_bytes() == state_bytes
    assert paths.rollout_json(made.date).read_bytes() == log_bytes  # "applied" is kept
    assert [(a["changed"], a["outcome"]) for a in rollout_audit(paths)] == [
        (True, "applied"),
        (False, "unchanged"),
    ]


def test_a_second_go_for_the_same_kpi_date_is_not_applied(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    apply(paths, decision("GO_25"))
    state_bytes = paths.state.read_bytes()
    again = apply(paths, decision("GO_50", quota=25))  # decided again on the new state
    assert not again.changed
    assert "one step per KPI date" in again.reasons[0]
    assert paths.state.read_bytes() == state_bytes
    next_day = decision("GO_50", quota=25, serial=1, date=KPI_DATE + dt.timedelta(days=1))
    assert apply(paths, next_day, now=NOW + dt.timedelta(days=1)).changed
    assert state_of(paths).quota == 50


def test_a_backout_for_a_date_with_an_applied_go_is_applied(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    apply(paths, decision("GO_25"))
    log = apply(paths, decision("BACKOUT", quota=10))
    assert log.changed
    assert (state_of(paths).quota, state_of(paths).kill_switch) == (10, True)


def test_a_hold_after_an_applied_go_keeps_the_applied_log(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    go = apply(paths, decision("GO_25"))
    hold = apply(paths, decision("HOLD", quota=10))
    assert not hold.changed
    assert RolloutLog.model_validate_json(paths.rollout_json(KPI_DATE).read_bytes()) == go
    assert [a["decision"] for a in rollout_audit(paths)] == ["GO_25", "HOLD"]


def test_serial_and_history_grow_by_one_per_change(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    day = dt.timedelta(days=1)
    apply(paths, decision("GO_25"))
    apply(paths, decision("GO_50", quota=25, serial=1, date=KPI_DATE + day), now=NOW + day)
    apply(paths, decision("HOLD", quota=50, date=KPI_DATE + 2 * day), now=NOW + 2 * day)
    apply(paths, decision("BACKOUT", quota=50, date=KPI_DATE + 3 * day), now=NOW + 3 * day)
    record_review(paths, by="anna", note="fixed the template", now=NOW + 3 * day)
    review = state_of(paths).review
    go = decision("GO_25", kill_switch=True, serial=4, review=review, date=KPI_DATE + 4 * day)
    apply(paths, go, now=NOW + 4 * day)
    state = state_of(paths)
    assert state.serial == 5
    assert [(h.serial, h.event, h.decision) for h in state.history] == [
        (1, "ROLLOUT", "GO_25"),
        (2, "ROLLOUT", "GO_50"),
        (3, "ROLLOUT", "BACKOUT"),
        (4, "REVIEW", None),
        (5, "ROLLOUT", "GO_25"),
    ]
    assert [(h.from_quota, h.to_quota, h.kill_switch) for h in state.history] == [
        (10, 25, False),
        (25, 50, False),
        (50, 10, True),
        (10, 10, True),
        (10, 25, False),
    ]
    assert state.history[4].base.review is not None  # the review that let it go up
    assert (state.quota, state.kill_switch, state.review) == (25, False, None)
    assert state.last_decision_id == go.decision_id
    verdict = verify_audit(paths.audit)
    assert verdict.ok and verdict.lines == 6


# --- review -----------------------------------------------------------------------------------


def test_review_is_recorded_in_state_history_and_audit(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    write_state(paths, kill_switch=True, serial=3)
    state = record_review(paths, by="anna", note="bounces explained", now=NOW)
    assert state == state_of(paths)
    assert state.review == Review(by="anna", note="bounces explained", at=NOW)
    assert (state.serial, state.quota, state.kill_switch) == (4, 10, True)
    entry = state.history[-1]
    assert (entry.event, entry.decision, entry.decision_id) == ("REVIEW", None, None)
    assert (entry.from_quota, entry.to_quota, entry.kill_switch) == (10, 10, True)
    assert entry.base.review is None and entry.reasons == ["bounces explained"]
    (line,) = audit_lines(paths)
    assert (line["event"], line["by"], line["serial"]) == ("REVIEW", "anna", 4)


def test_review_refuses_a_corrupt_state(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    _corrupt(paths)
    before = snapshot(paths.dir)
    with pytest.raises(RolloutRefused, match="left for review"):
        record_review(paths, by="anna", note="ok", now=NOW)
    assert snapshot(paths.dir) == before


@pytest.mark.parametrize(
    ("by", "note", "says"),
    [
        ("", "ok", "--by: must be one non-empty line"),
        ("   ", "ok", "--by: must be one non-empty line"),
        ("anna", "", "--note: must be one non-empty line"),
        ("anna", "line one\nline two", "--note: must be one non-empty line"),
        ("an\rna", "ok", "--by"),
        ("anna", "nul\x00", "--note"),
        ("anna@example.com", "ok", "--by: looks like it holds an e-mail address"),
        ("anna", "mail bob.b@example.org", "--note: looks like it holds an e-mail address"),
        ("a" * 101, "ok", "--by: at most 100 characters"),
    ],
)
def test_review_refuses_bad_by_or_note(by: str, note: str, says: str, tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    write_state(paths, kill_switch=True)
    before = snapshot(paths.dir)
    with pytest.raises(CanaryUsageError) as info:
        record_review(paths, by=by, note=note, now=NOW)
    assert says in str(info.value)
    assert "\n" not in str(info.value)
    assert snapshot(paths.dir) == before


# --- crashes ----------------------------------------------------------------------------------

_APPLY_SCRIPT = """
import datetime as dt, sys
from pathlib import Path
from pytest_canary.ops.rollout import apply_decision, load_decision
from pytest_canary.store.layout import TenantPaths
paths = TenantPaths.open(Path(sys.argv[1]), "acme")
made = load_decision(Path(sys.argv[2]))
apply_decision(paths, made, now=made.created_at + dt.timedelta(minutes=5), lock_timeout=5)
"""


def _killed_apply(paths: TenantPaths, made: Decision, point: str, tmp_path: Path) -> None:
    file = tmp_path / "decision.json"
    file.write_bytes(jsonfile.model_bytes(made))
    env = {**os.environ, "CANARY_FAULT_POINT": point}
    args = [sys.executable, "-c", _APPLY_SCRIPT, str(paths.root), str(file)]
    assert subprocess.run(args, env=env).returncode == -9


@pytest.mark.parametrize("point", ["state:after-write", "state:after-fsync"])
def test_a_kill_before_the_rename_keeps_the_old_state_and_a_rerun_applies(
    point: str, tmp_path: Path
) -> None:
    paths = open_tenant(tmp_path)
    write_state(paths)
    old = paths.state.read_bytes()
    made = decision()
    _killed_apply(paths, made, point, tmp_path)
    assert paths.state.read_bytes() == old
    log = apply(paths, made)
    assert log.changed and state_of(paths).serial == 1
    assert not [p for p in paths.dir.rglob(".tmp-*")]  # the killed run's leftover is swept


@pytest.mark.parametrize(
    "point", ["state:after-rename", "rolloutlog:after-write", "rolloutlog-md:after-rename"]
)
def test_a_rerun_after_a_kill_past_the_rename_completes_log_and_audit(
    point: str, tmp_path: Path
) -> None:
    paths = open_tenant(tmp_path)
    write_state(paths)
    made = decision()
    _killed_apply(paths, made, point, tmp_path)
    state_bytes = paths.state.read_bytes()
    assert state_of(paths).serial == 1  # the new state, with its history entry
    assert rollout_audit(paths) == []
    log = apply(paths, made)
    assert (log.changed, log.outcome) == (True, "applied")
    assert "stopped before its log" in log.reasons[0]
    assert log.before is not None and log.after is not None
    assert (log.before.quota, log.before.serial, log.after.quota, log.after.serial) == (
        10,
        0,
        25,
        1,
    )
    assert paths.state.read_bytes() == state_bytes
    assert RolloutLog.model_validate_json(paths.rollout_json(made.date).read_bytes()) == log
    (line,) = rollout_audit(paths)
    assert line["recovered"] is True and line["changed"] is True
    third = apply(paths, made)
    assert (third.changed, third.outcome) == (False, "unchanged")
    assert verify_audit(paths.audit).ok


@pytest.mark.parametrize("reviewed", [False, True])
def test_a_recovered_rollout_log_is_the_log_its_killed_run_would_have_written(
    tmp_path: Path, reviewed: bool
) -> None:
    """A paused (and maybe reviewed) tenant backed out: the log rebuilt from the history shows
    the pause before and after, and the review before, as the uninterrupted run's log does."""
    pause = {"by": "oncall-anna", "note": "legal review", "at": CREATED.isoformat()}
    review = (
        {"by": "oncall-ben", "note": "DLQ fixed", "at": CREATED.isoformat()} if reviewed else None
    )
    made = decision("BACKOUT", quota=50)
    runs = []
    for name in ("killed", "whole"):
        (tmp_path / name).mkdir()
        paths = open_tenant(tmp_path / name)
        write_state(paths, quota=50, pause=pause, review=review)
        if name == "killed":
            _killed_apply(paths, made, "state:after-rename", tmp_path)
        runs.append((paths, apply(paths, made)))
    (killed_paths, recovered), (_, whole) = runs

    assert "stopped before its log" in recovered.reasons[0]
    assert (recovered.before, recovered.after) == (whole.before, whole.after)
    assert recovered.after is not None and recovered.after.pause is not None
    assert state_of(killed_paths).snapshot == recovered.after


def test_a_kill_after_the_audit_line_leaves_a_complete_record(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    made = decision()
    _killed_apply(paths, made, "audit:after-write", tmp_path)
    assert state_of(paths).quota == 25
    assert [a["outcome"] for a in rollout_audit(paths)] == ["applied"]
    assert not apply(paths, made).changed


def test_an_unreadable_audit_log_refuses_a_repeat_in_one_line(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    made = decision()
    apply(paths, made)
    paths.audit.unlink()
    paths.audit.mkdir()  # whatever the reason it cannot be read, the gap cannot be judged
    before = snapshot(paths.dir)
    with pytest.raises(RolloutRefused) as info:
        apply(paths, made)
    assert "audit.jsonl: is a folder" in str(info.value) and "\n" not in str(info.value)
    assert snapshot(paths.dir) == before


# --- finding and loading decisions ----------------------------------------------------------


def test_newest_decision_file_goes_by_the_date_in_its_name(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    paths.canary_dir.mkdir()
    names = [
        "2024-05-10_decision.json",
        "2024-05-09_decision.json",
        "2024-05-01_decision.json",
        "2024-13-45_decision.json",
        "latest_decision.json",
        "2024-05-11_decision.md",
        "2024-05-11_rollout_log.json",
    ]
    for age, name in enumerate(names):
        (paths.canary_dir / name).write_text("{}")
        os.utime(paths.canary_dir / name, (1_000_000 + age, 1_000_000 + age))
    assert newest_decision_file(paths, dt.date(2024, 5, 31)).name == "2024-05-10_decision.json"


def test_the_newest_decision_is_never_one_dated_after_today(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    paths.canary_dir.mkdir()
    for day in ("2024-05-09", "2024-05-10", "2027-12-01"):  # a typo'd year must not mask 05-10
        (paths.canary_dir / f"{day}_decision.json").write_text("{}")
    assert newest_decision_file(paths, dt.date(2024, 5, 10)).name == "2024-05-10_decision.json"
    with pytest.raises(RolloutRefused, match="dated 2024-05-08 or earlier"):
        newest_decision_file(paths, dt.date(2024, 5, 8))


def test_no_decision_file_is_a_refusal(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    with pytest.raises(RolloutRefused, match="run `canary decide` first"):
        newest_decision_file(paths, dt.date(2024, 5, 31))


def test_load_decision_round_trips(tmp_path: Path) -> None:
    made = decision()
    file = tmp_path / "d.json"
    file.write_bytes(jsonfile.model_bytes(made))
    assert load_decision(file) == made


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda d: "{oops", "not JSON"),
        (lambda d: json.dumps({**d, "decision": "GO"}), "field decision"),
        (lambda d: json.dumps({k: v for k, v in d.items() if k != "base"}), "field base"),
        (lambda d: json.dumps({**d, "extra": 1}), "field extra"),
        (lambda d: json.dumps(d).replace('"gates": []', '"gates": [], "gates": []'), "duplicate"),
    ],
)
def test_load_decision_refuses_an_invalid_file_in_one_line(
    edit: Any, says: str, tmp_path: Path
) -> None:
    file = tmp_path / "d.json"
    file.write_text(edit(decision().model_dump(mode="json")))
    with pytest.raises(RolloutRefused) as info:
        load_decision(file)
    assert says in str(info.value) and str(file) in str(info.value)
    assert "\n" not in str(info.value)
