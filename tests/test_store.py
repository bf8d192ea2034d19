"""The layout under the root: tenant ids, containment, atomic writes, the lock, the audit chain."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from _rollout_fixtures import KPI_DATE, NOW, decision, make_root, open_tenant, snapshot, write_state
from pytest_canary.core import jsonfile
from pytest_canary.core.errors import CanaryUsageError, RolloutRefused
from pytest_canary.core.models import QuotaState
from pytest_canary.core.records import ControlLog, RolloutLog
from pytest_canary.core.tenants import validate_tenant_id
from pytest_canary.ops.rollout import DEFAULT_STEPS
from pytest_canary.store.atomic import write_atomic
from pytest_canary.store.audit import append_audit, verify_audit
from pytest_canary.store.decisions import record_decision
from pytest_canary.store.layout import TenantPaths, contained, list_tenants
from pytest_canary.store.lock import state_lock
from pytest_canary.store.logs import record_action
from pytest_canary.store.readers import load_state

# --- tenant ids -------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["acme", "a", "0", "acme-eu_2", "a" * 63, "all-in", "alls"])
def test_valid_tenant_ids_pass(tenant: str) -> None:
    assert validate_tenant_id(tenant) == tenant


@pytest.mark.parametrize(
    "tenant",
    [
        "",
        "all",
        "..",
        ".",
        "../acme",
        "acme/..",
        "a/b",
        "acme\x00",
        "acme\n",
        " acme",
        "ACME",
        "-acme",
        "_acme",
        "a" * 64,
        "\u0430cme",  # Cyrillic a: looks like acme
        "acm\u0435",  # Cyrillic e
        "ａcme",  # fullwidth a
        "acme\u200b",  # zero-width space
    ],
)
def test_invalid_tenant_ids_are_refused_on_one_line(tenant: str, tmp_path: Path) -> None:
    root = make_root(tmp_path)
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("untouched")
    before = snapshot(tmp_path)
    with pytest.raises(CanaryUsageError) as info:
        TenantPaths.open(root, tenant)
    assert "\n" not in str(info.value)
    assert "tenant id" in str(info.value)
    assert snapshot(tmp_path) == before


def test_unknown_tenant_is_refused_and_no_folder_is_created(tmp_path: Path) -> None:
    root = make_root(tmp_path, "acme")
    with pytest.raises(CanaryUsageError, match=r"unknown tenant 'acmee': no folder .*acmee"):
        TenantPaths.open(root, "acmee")
    assert not (root / "acmee").exists()


def test_paths_follow_the_spec_layout(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    base = (tmp_path / "root" / "acme").resolve()
    day = NOW.date()
    assert paths.dir == base
    assert paths.kpi(day) == base / "2024-05-02.json"
    assert paths.blocklist == base / "ops" / "blocklist.json"
    assert paths.state == base / "operate" / "operate_state.json"
    assert paths.decision_json(day) == base / "canary" / "2024-05-02_decision.json"
    assert paths.decision_md(day) == base / "canary" / "2024-05-02_decision.md"
    assert paths.rollout_json(day) == base / "canary" / "2024-05-02_rollout_log.json"
    assert paths.rollout_md(day) == base / "canary" / "2024-05-02_rollout_log.md"
    assert paths.audit == base / "canary" / "audit.jsonl"
    assert paths.lock.parent == paths.operate_dir
    assert sorted(p.name for p in base.iterdir()) == []  # opening created nothing


def test_list_tenants_names_valid_folders_sorted(tmp_path: Path) -> None:
    root = make_root(tmp_path, "zeta", "acme", "all", "Bad", ".hidden", "b-2")
    (root / "notes.json").write_text("{}")
    assert list_tenants(root) == ["acme", "b-2", "zeta"]
    assert list_tenants(tmp_path / "missing") == []


# --- containment ------------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the root with a sentinel state file that must never change."""
    folder = tmp_path / "outside"
    (folder / "operate").mkdir(parents=True)
    (folder / "operate" / "operate_state.json").write_text("sentinel")
    (folder / "sentinel.txt").write_text("sentinel")
    return folder


def _link_tenant(root: Path, outside: Path) -> None:
    (root / "evil").symlink_to(outside, target_is_directory=True)


def _link_operate(root: Path, outside: Path) -> None:
    (root / "evil").mkdir()
    (root / "evil" / "operate").symlink_to(outside / "operate", target_is_directory=True)


def _link_state(root: Path, outside: Path) -> None:
    (root / "evil" / "operate").mkdir(parents=True)
    (root / "evil" / "operate" / "operate_state.json").symlink_to(
        outside / "operate" / "operate_state.json"
    )


def _link_canary(root: Path, outside: Path) -> None:
    (root / "evil").mkdir()
    (root / "evil" / "canary").symlink_to(outside, target_is_directory=True)


@pytest.mark.parametrize("make_link", [_link_tenant, _link_operate, _link_state, _link_canary])
def test_links_out_of_the_root_are_refused(
    make_link: object, tmp_path: Path, outside: Path
) -> None:
    root = make_root(tmp_path, "acme")
    make_link(root, outside)  # type: ignore[operator]
    before = snapshot(outside)
    with pytest.raises(CanaryUsageError, match="outside the canary root") as info:
        TenantPaths.open(root, "evil")
    assert "\n" not in str(info.value)
    assert snapshot(outside) == before


def test_a_link_made_after_open_is_refused_before_writing(tmp_path: Path, outside: Path) -> None:
    root = make_root(tmp_path, "acme")
    paths = TenantPaths.open(root, "acme")
    (root / "acme" / "operate").symlink_to(outside / "operate", target_is_directory=True)
    before = snapshot(outside)
    with pytest.raises(CanaryUsageError, match="outside the canary root"):
        load_state(paths, DEFAULT_STEPS)
    with pytest.raises(CanaryUsageError, match="outside the canary root"), state_lock(paths, 1):
        pass
    assert snapshot(outside) == before


def test_a_link_inside_the_root_is_allowed(tmp_path: Path) -> None:
    root = make_root(tmp_path, "acme")
    (root / "alias").symlink_to(root / "acme", target_is_directory=True)
    assert TenantPaths.open(root, "alias").dir == (root / "alias")


def test_contained_resolves_inside_and_refuses_outside(tmp_path: Path, outside: Path) -> None:
    root = make_root(tmp_path, "acme")
    inside = root / "acme" / "canary" / "2024-05-02_decision.json"
    assert contained(root, inside) == inside.resolve()
    for escape in [root / ".." / "outside" / "sentinel.txt", outside / "sentinel.txt"]:
        with pytest.raises(CanaryUsageError, match="outside the canary root"):
            contained(root, escape)
    (root / "acme" / "link.json").symlink_to(outside / "sentinel.txt")
    with pytest.raises(CanaryUsageError, match="outside the canary root"):
        contained(root, root / "acme" / "link.json")


# --- atomic writes ----------------------------------------------------------------------------


def test_write_atomic_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    target = paths.canary_dir / "x.json"  # canary/ does not exist yet: it is created
    write_atomic(target, b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in paths.canary_dir.iterdir()] == ["x.json"]
    assert (target.stat().st_mode & 0o777) == 0o644


def test_write_atomic_never_creates_a_tenant_folder(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    with pytest.raises(OSError):
        write_atomic(root / "ghost" / "canary" / "x.json", b"data")
    assert not (root / "ghost").exists()


def test_enospc_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = open_tenant(tmp_path)
    write_atomic(paths.state, b"old state")
    monkeypatch.setenv("CANARY_FAULT_POINT", "state:enospc")
    with pytest.raises(OSError) as info:
        write_atomic(paths.state, b"new state", label="state")
    assert info.value.errno == 28
    assert paths.state.read_bytes() == b"old state"
    assert [p.name for p in paths.operate_dir.iterdir()] == ["operate_state.json"]


_WRITE_SCRIPT = """
import sys
from pathlib import Path
from pytest_canary.store.atomic import write_atomic
write_atomic(Path(sys.argv[1]), b"new state", label="state")
"""


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ("state:after-write", b"old state"),
        ("state:after-fsync", b"old state"),
        ("state:after-rename", b"new state"),
    ],
)
def test_a_kill_during_a_write_leaves_old_or_new_never_a_mix(
    point: str, expected: bytes, tmp_path: Path
) -> None:
    paths = open_tenant(tmp_path)
    write_atomic(paths.state, b"old state")
    env = {**os.environ, "CANARY_FAULT_POINT": point}
    proc = subprocess.run([sys.executable, "-c", _WRITE_SCRIPT, str(paths.state)], env=env)
    assert proc.returncode == -9
    assert paths.state.read_bytes() == expected


# --- the lock ---------------------------------------------------------------------------------


def test_lock_held_elsewhere_refuses_after_the_timeout(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    with state_lock(paths, 1):
        other = FileLock(str(paths.lock), timeout=0)
        assert not _can_acquire(other)
    holder = FileLock(str(paths.lock))
    with holder, pytest.raises(RolloutRefused) as info, state_lock(paths, 0.1):
        pass
    assert str(info.value) == (
        "acme: state is locked by another rollout (waited 0.1s); try again later"
    )


def _can_acquire(lock: FileLock) -> bool:
    try:
        lock.acquire()
    except TimeoutError:
        return False
    lock.release()
    return True


# --- state ------------------------------------------------------------------------------------


def test_missing_state_reads_as_none(tmp_path: Path) -> None:
    assert load_state(open_tenant(tmp_path), DEFAULT_STEPS) is None


def test_valid_state_reads_back(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    written = write_state(paths, quota=25, serial=3)
    assert load_state(paths, DEFAULT_STEPS) == written


@pytest.mark.parametrize(
    ("content", "names"),
    [
        (b"", "empty"),
        (b"{not json", "not JSON"),
        (b'{"tenant": "acme", "quota": NaN}', "NaN"),
        (b'{"tenant": "acme", "quota": 10, "quota": 25}', "duplicate key"),
        (b'{"tenant": "acme", "quota": "ten"}', "field quota"),
        (b'{"tenant": "acme", "quota": 10, "colour": "red"}', "field colour"),
        (b'{"tenant": "acme", "quota": 10, "serial": -1}', "field serial"),
        (b'{"tenant": "other", "quota": 10}', "field tenant is 'other', not 'acme'"),
        (b"[]", "top level"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
    ],
)
def test_corrupt_state_is_one_line_naming_the_file(
    content: bytes, names: str, tmp_path: Path
) -> None:
    paths = open_tenant(tmp_path)
    paths.operate_dir.mkdir()
    paths.state.write_bytes(content)
    with pytest.raises(jsonfile.InvalidInput) as info:
        load_state(paths, DEFAULT_STEPS)
    message = str(info.value)
    assert "\n" not in message
    assert str(paths.state) in message
    assert names in message


# --- the audit chain --------------------------------------------------------------------------


def _three_lines(tmp_path: Path) -> Path:
    paths = open_tenant(tmp_path)
    for number in range(1, 4):
        append_audit(paths, "ROLLOUT", {"decision": "HOLD", "n": number}, NOW)
    return paths.audit


def test_audit_lines_are_chained_and_counted(tmp_path: Path) -> None:
    audit = _three_lines(tmp_path)
    raw = audit.read_bytes().split(b"\n")
    assert raw[-1] == b""
    lines = [json.loads(r) for r in raw[:-1]]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert lines[0]["prev"] is None
    assert lines[1]["prev"] == jsonfile.sha256_hex(raw[0])
    assert lines[2]["prev"] == jsonfile.sha256_hex(raw[1])
    assert {line["tenant"] for line in lines} == {"acme"}
    assert verify_audit(audit).ok
    assert verify_audit(audit).lines == 3


def test_audit_fields_cannot_override_the_chain(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    with pytest.raises(ValueError, match="prev"):
        append_audit(paths, "ROLLOUT", {"prev": None}, NOW)
    assert not paths.audit.exists()


def _edit(audit: Path, how: str) -> None:
    lines = audit.read_bytes().split(b"\n")[:-1]
    if how == "changed":
        lines[1] = lines[1].replace(b'"HOLD"', b'"GO_25"')
    elif how == "removed":
        del lines[1]
    elif how == "swapped":
        lines[1], lines[2] = lines[2], lines[1]
    elif how == "first removed":
        del lines[0]
    elif how == "garbage inserted":
        lines.insert(1, b"{oops")
    audit.write_bytes(b"\n".join(lines) + b"\n")


@pytest.mark.parametrize(
    ("how", "line", "says"),
    [
        ("changed", 2, "was changed"),
        ("removed", 2, "seq 3 where 2 was expected: a line was removed"),
        ("swapped", 2, "seq 3 where 2 was expected"),
        ("first removed", 1, "earlier lines were removed"),
        ("garbage inserted", 2, "not a complete audit line"),
    ],
)
def test_verify_names_the_first_line_that_was_tampered_with(
    how: str, line: int, says: str, tmp_path: Path
) -> None:
    audit = _three_lines(tmp_path)
    _edit(audit, how)
    verdict = verify_audit(audit)
    assert not verdict.ok
    assert verdict.first_bad_line == line
    assert verdict.problem is not None
    assert says in verdict.problem


def test_a_torn_last_line_is_tolerated_and_not_chained_onto(tmp_path: Path) -> None:
    audit = _three_lines(tmp_path)
    with audit.open("ab") as handle:
        handle.write(b'{"seq": 4, "at": "2024-05')  # a crash mid-write
    verdict = verify_audit(audit)
    assert verdict.ok
    assert verdict.lines == 3
    assert any("incomplete last line" in note for note in verdict.notes)

    paths = TenantPaths.open(tmp_path / "root", "acme")
    line = append_audit(paths, "REVIEW", {"serial": 1}, NOW)
    raw = audit.read_bytes().split(b"\n")
    assert raw[3] == b'{"seq": 4, "at": "2024-05'  # left in place, on its own line
    assert line.seq == 4
    assert line.prev == jsonfile.sha256_hex(raw[2])
    assert verify_audit(audit).ok
    assert verify_audit(audit).lines == 5


def test_audit_killed_after_write_keeps_a_whole_line(tmp_path: Path) -> None:
    audit = _three_lines(tmp_path)
    script = (
        "import datetime as dt, sys\nfrom pathlib import Path\n"
        "from pytest_canary.store.audit import append_audit\n"
        "from pytest_canary.store.layout import TenantPaths\n"
        "p = TenantPaths.open(Path(sys.argv[1]), 'acme')\n"
        "append_audit(p, 'ROLLOUT', {'n': 4}, dt.datetime.now(dt.timezone.utc))\n"
    )
    env = {**os.environ, "CANARY_FAULT_POINT": "audit:after-write"}
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "root")], env=env)
    assert proc.returncode == -9
    assert verify_audit(audit).ok
    assert verify_audit(audit).lines == 4


def test_verify_of_a_missing_log_is_ok_with_no_lines(tmp_path: Path) -> None:
    verdict = verify_audit(tmp_path / "audit.jsonl")
    assert (verdict.ok, verdict.lines, verdict.first_bad_line) == (True, 0, None)


# --- decisions --------------------------------------------------------------------------------


def test_record_decision_writes_both_files_and_one_audit_line(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    made = decision("HOLD", reasons=["min_volume: 2 < 3"])
    record_decision(paths, made, "# HOLD\n")
    stored = json.loads(paths.decision_json(made.date).read_text())
    assert stored["decision_id"] == made.decision_id
    assert paths.decision_md(made.date).read_text() == "# HOLD\n"
    (line,) = [json.loads(x) for x in paths.audit.read_text().splitlines()]
    assert line == {
        "seq": 1,
        "at": made.created_at.isoformat(),
        "event": "DECISION",
        "tenant": "acme",
        "prev": None,
        "date": "2024-05-02",
        "decision": "HOLD",
        "decision_id": made.decision_id,
        "trace_id": made.trace_id,
        "reasons": ["min_volume: 2 < 3"],
    }
    assert sorted(p.name for p in paths.canary_dir.iterdir()) == [
        "2024-05-02_decision.json",
        "2024-05-02_decision.md",
        "audit.jsonl",
    ]


def test_record_decision_refuses_another_tenants_decision(tmp_path: Path) -> None:
    paths = open_tenant(tmp_path)
    with pytest.raises(CanaryUsageError, match="'other'"):
        record_decision(paths, decision("HOLD", tenant="other"), "")
    assert not paths.canary_dir.exists()


# --- rollout and control logs -----------------------------------------------------------------


def _action_log(kind: str, outcome: str) -> RolloutLog | ControlLog:
    """A rollout or a kill log of one day, applied (25 -> 50) or unchanged (50 -> 50)."""
    before = QuotaState(quota=25 if outcome == "applied" else 50, kill_switch=False, serial=0)
    after = QuotaState(quota=50, kill_switch=False, serial=1 if outcome == "applied" else 0)
    common: dict[str, Any] = {
        "tenant": "acme",
        "date": KPI_DATE,
        "trace_id": "0" * 32,
        "at": NOW,
        "outcome": outcome,
        "changed": outcome == "applied",
        "before": before,
        "after": after,
        "reasons": [f"{kind} {outcome}"],
    }
    if kind == "rollout":
        return RolloutLog(decision="GO_50", decision_id="a" * 64, **common)
    return ControlLog(action="KILL", by="oncall-anna", note="x", **common)


@pytest.mark.parametrize("kind", ["rollout", "control"])
def test_an_unchanged_log_keeps_the_days_applied_one_and_both_get_an_audit_line(
    tmp_path: Path, kind: str
) -> None:
    paths = open_tenant(tmp_path)
    applied, unchanged = _action_log(kind, "applied"), _action_log(kind, "unchanged")

    record_action(paths, applied, lambda: "applied\n", {"extra": 1})
    record_action(paths, unchanged, lambda: "unchanged\n", {"extra": 2})

    written = sorted(p.name for p in paths.canary_dir.iterdir())
    stem = "2024-05-02_rollout_log" if kind == "rollout" else "2024-05-02_kill_log"
    assert written == [f"{stem}.json", f"{stem}.md", "audit.jsonl"]
    assert json.loads((paths.canary_dir / f"{stem}.json").read_text())["outcome"] == "applied"
    assert (paths.canary_dir / f"{stem}.md").read_text() == "applied\n"
    lines = [json.loads(line) for line in paths.audit.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["ROLLOUT" if kind == "rollout" else "KILL"] * 2
    assert [(line["outcome"], line["extra"], line["reason"]) for line in lines] == [
        ("applied", 1, f"{kind} applied"),
        ("unchanged", 2, f"{kind} unchanged"),
    ]
    assert lines[0]["before"] == {"quota": 25, "kill_switch": False, "serial": 0}
    assert verify_audit(paths.audit).ok


# --- property tests: outside input never crashes the readers ---------------------------------

_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@_SETTINGS
@given(data=st.binary(max_size=200) | _JSON.map(lambda v: json.dumps(v).encode()))
def test_any_state_file_reads_or_is_refused_in_one_line(data: bytes, tmp_path: Path) -> None:
    root = tmp_path / "root"
    if not root.exists():
        make_root(tmp_path)
    paths = TenantPaths.open(root, "acme")
    paths.operate_dir.mkdir(exist_ok=True)
    paths.state.write_bytes(data)
    try:
        state = load_state(paths, DEFAULT_STEPS)
    except jsonfile.InvalidInput as exc:
        assert "\n" not in str(exc) and str(paths.state) in str(exc)
    else:
        assert state is not None and state.tenant == "acme"


@_SETTINGS
@given(
    data=st.data(),
    how=st.sampled_from(["replace", "delete", "swap"]),
)
def test_verify_names_the_first_tampered_line(
    data: st.DataObject, how: str, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    if root.exists():
        shutil.rmtree(root)
    audit = _three_lines(tmp_path)
    paths = TenantPaths.open(root, "acme")
    append_audit(paths, "DECISION", {"decision": "GO_25"}, NOW)
    lines = audit.read_bytes().split(b"\n")[:-1]
    edited = list(lines)
    index = data.draw(st.integers(0, len(lines) - 2), label="line before the last")
    if how == "replace":
        new = data.draw(st.binary(min_size=1, max_size=60).filter(lambda b: b"\n" not in b))
        assume(new != lines[index])
        edited[index] = new
    elif how == "delete":
        del edited[index]
    else:
        other = data.draw(st.integers(index + 1, len(lines) - 1), label="swapped with")
        edited[index], edited[other] = edited[other], edited[index]
    audit.write_bytes(b"\n".join(edited) + b"\n")
    verdict = verify_audit(audit)
    assert not verdict.ok
    assert verdict.first_bad_line == index + 1
