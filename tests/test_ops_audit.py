"""canary audit verify: confirms the hash chain, or names the first changed, removed or moved line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from _plugin_fixtures import DATE, CanaryRoot, canary_script, run
from pytest_canary.store.audit import append_audit
from pytest_canary.store.layout import TenantPaths

LOG = "acme/canary/audit.jsonl"
AT = dt.datetime(2026, 11, 26, 7, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def _log(canary_root: CanaryRoot, count: int = 4) -> Path:
    canary_root.tenant("acme")
    paths = TenantPaths.open(canary_root.path, "acme")
    for number in range(count):
        append_audit(paths, "DECISION", {"decision": "HOLD", "n": number}, AT)
    return paths.audit


def _verify(root: Path, tenant: str = "acme") -> tuple[int, str, str]:
    done = run(
        [canary_script(), "audit", "verify", "--tenant", tenant, "--root", str(root)],
        cwd=root.parent,
    )
    return done.returncode, done.stdout, done.stderr


def _rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def test_an_intact_chain_is_confirmed(canary_root: CanaryRoot) -> None:
    _log(canary_root)

    code, out, _ = _verify(canary_root.path)

    assert code == 0
    assert out == "acme: audit chain intact: 4 line(s) in acme/canary/audit.jsonl\n"


def test_the_lines_a_real_cycle_writes_verify(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")
    root = canary_root.path
    done = run(
        [canary_script(), "cycle", "--tenant", "acme", "--date", DATE, "--root", str(root)],
        cwd=canary_root.path.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    code, out, _ = _verify(canary_root.path)

    assert code == 0 and "intact: 2 line(s)" in out  # the decision and the rollout


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (
            lambda ls: [ls[0], ls[1].replace('"n":1', '"n":7'), *ls[2:]],
            "line 2 of {log}: was changed",
        ),
        (
            lambda ls: [ls[0], *ls[2:]],
            "line 2 of {log}: seq 3 where 2 was expected: a line was removed",
        ),
        (lambda ls: [ls[0], ls[2], ls[1], ls[3]], "line 2 of {log}: seq 3 where 2 was expected"),
        (
            lambda ls: ls[1:],
            "line 1 of {log}: seq 2 where 1 was expected: earlier lines were removed",
        ),
    ],
    ids=["changed", "removed", "reordered", "head-removed"],
)
def test_the_first_bad_line_is_named(canary_root: CanaryRoot, tamper: object, named: str) -> None:
    audit = _log(canary_root)
    _rewrite(audit, tamper(audit.read_text().splitlines()))  # type: ignore[operator]

    code, out, _ = _verify(canary_root.path)

    assert code == 1
    assert out.startswith("acme: audit chain BROKEN at " + named.format(log=LOG))


def test_a_tenant_without_an_audit_log_is_intact_and_noted(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")

    code, out, _ = _verify(canary_root.path)

    assert code == 0
    assert "intact: 0 line(s)" in out and "no audit log yet" in out


def test_all_checks_every_tenant_and_fails_when_one_is_broken(canary_root: CanaryRoot) -> None:
    audit = _log(canary_root)
    canary_root.tenant("beta")
    append_audit(TenantPaths.open(canary_root.path, "beta"), "REVIEW", {"by": "ops"}, AT)
    lines = audit.read_text().splitlines()
    _rewrite(audit, [lines[0], lines[1].replace("HOLD", "GO_25"), *lines[2:]])

    code, out, _ = _verify(canary_root.path, "all")

    assert code == 1
    assert f"acme: audit chain BROKEN at line 2 of {LOG}: was changed" in out
    assert "beta: audit chain intact: 1 line(s)" in out


def test_a_bad_tenant_is_one_line_and_exit_2(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme")

    code, out, err = _verify(canary_root.path, "../etc")

    assert code == 2 and out == ""
    assert err.startswith("canary audit: error: invalid tenant id") and err.count("\n") == 1
