"""Campaign 4, path escapes: tenant ids, links and decision files that point out of the root.

A sentinel tree beside the root looks like a tenant (KPIs, state, decision, audit log); every
attempt tries to read, write or apply through it. Afterwards the sentinel must be byte-for-byte
unchanged (content, mode, mtime, links), and each attempt must have been refused cleanly: a
documented usage/refusal exit, no traceback, nothing applied.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from _reliability import (
    KPI_DATE,
    QUIET,
    TRACE,
    crashed,
    decision_dump,
    dump,
    good_blocklist,
    good_kpis,
    make_tenant,
    record,
    run_jobs,
    state_doc,
    tree_digest,
)

DATE = KPI_DATE.isoformat()
REFUSED = {"cli": {2, 4}, "pytest": {4}}
# A decide that finds a link where it would write refuses that write: no decision, exit 1.
WRITE_REFUSED = ("outside the canary root", "is a link")


def _refused(what: str, kind: str, result: dict[str, Any]) -> bool:
    if what.startswith("leftover"):
        return result["code"] == 0  # handled: the stray link is swept, the cycle goes on
    if result["code"] in REFUSED[kind]:
        return True
    text = result["out"] + result["err"]
    return result["code"] == 1 and any(marker in text for marker in WRITE_REFUSED)


def _sentinel(outside: Path) -> None:
    tenant = outside / "acme"
    make_tenant(outside, "acme", state=state_doc(), blocklist=good_blocklist())
    (tenant / "canary").mkdir()
    (tenant / "canary" / "audit.jsonl").write_text('{"seq": 1}\n')
    (tenant / "canary" / f"{DATE}_decision.json").write_bytes(decision_dump())
    (tenant / "canary" / f"{DATE}_rollout_log.json").write_text("{}\n")
    (outside / "decision.json").write_bytes(decision_dump())
    (outside / f"{DATE}.json").write_bytes(dump(good_kpis("kpl")))  # would GO if it were read
    (outside / "lockfile").write_text("")
    (outside / "plain.txt").write_text("do not touch\n")


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def _layout(root: Path, outside: Path) -> None:
    """The root: one honest tenant and one tenant per way out."""
    out = outside / "acme"
    make_tenant(root, "acme", state=state_doc())
    _link(root / "linked", out)
    _link(root / "\u0430cme", out)  # Cyrillic a: a look-alike folder name
    _link(root / "ACME", out)
    for tenant in ("opl", "stl", "cnl", "aul", "dcl", "rll", "opsl", "bll", "kpl", "lkl", "tmp"):
        make_tenant(root, tenant, kpis=good_kpis(tenant), state=state_doc(tenant))
    (root / "opl" / "operate" / "operate_state.json").unlink()
    (root / "opl" / "operate").rmdir()
    _link(root / "opl" / "operate", out / "operate")
    (root / "stl" / "operate" / "operate_state.json").unlink()
    _link(root / "stl" / "operate" / "operate_state.json", out / "operate" / "operate_state.json")
    _link(root / "cnl" / "canary", out / "canary")
    _link(root / "aul" / "canary" / "audit.jsonl", out / "canary" / "audit.jsonl")
    _link(root / "dcl" / "canary" / f"{DATE}_decision.json", outside / "decision.json")
    _link(
        root / "rll" / "canary" / f"{DATE}_rollout_log.json",
        out / "canary" / f"{DATE}_rollout_log.json",
    )
    _link(root / "opsl" / "ops", out / "ops")
    _link(root / "bll" / "ops" / "blocklist.json", out / "ops" / "blocklist.json")
    (root / "kpl" / f"{DATE}.json").unlink()
    _link(root / "kpl" / f"{DATE}.json", outside / f"{DATE}.json")
    _link(root / "lkl" / "operate" / "operate_state.json.lock", outside / "lockfile")
    _link(root / "tmp" / "operate" / ".tmp-operate_state.json.x", outside / "plain.txt")
    _link(root / "acme" / "canary" / "link.json", outside / "decision.json")


def _attempts(outside: Path) -> list[tuple[str, str, list[str]]]:
    """(what, kind, argv) of every attempt; argv runs with the case folder as cwd."""
    decide = ["--root", "root", "--date", DATE]
    pytest_args = [
        *["-p", "canary", "-p", "no:cacheprovider", "-q", *QUIET],
        *["--canary-root", "root", "--canary-date", DATE],
    ]
    attempts: list[tuple[str, str, list[str]]] = []

    def tenant_id(what: str, tenant: str, review: bool = True) -> None:
        attempts.append((f"{what}: cycle", "cli", ["cycle", "--tenant", tenant, *decide]))
        attempts.append(
            (f"{what}: rollout", "cli", ["rollout", "--tenant", tenant, "--root", "root"])
        )
        if review:  # a review writes the state and the audit log only
            argv = ["review", "--tenant", tenant, "--root", "root", "--by", "x", "--note", "y"]
            attempts.append((f"{what}: review", "cli", argv))
        attempts.append(
            (
                f"{what}: pytest",
                "pytest",
                [*pytest_args, "--canary-tenant", tenant, "--canary-rollout"],
            )
        )

    for what, tenant in [
        ("id ../outside/acme", "../outside/acme"),
        ("id ..", ".."),
        ("id acme/../../outside/acme", "acme/../../outside/acme"),
        ("id with NUL", "acme\x00"),
        ("id absolute", str(outside / "acme")),
        ("id trailing slash", "acme/"),
        ("id Cyrillic look-alike (folder links out)", "\u0430cme"),
        ("id fullwidth look-alike", "\uff41\uff43\uff4d\uff45"),
        ("id upper case (folder links out)", "ACME"),
        ("id with newline", "acme\n"),
        ("tenant folder is a link out", "linked"),
        ("operate/ is a link out", "opl"),
        ("state file is a link out", "stl"),
        ("canary/ is a link out", "cnl"),
        ("audit log is a link out", "aul"),
        ("lock file is a link out", "lkl"),
    ]:
        tenant_id(what, tenant)
    for what, tenant in [
        ("decision file is a link out", "dcl"),
        ("rollout log is a link out", "rll"),
        ("ops/ is a link out", "opsl"),
        ("blocklist is a link out", "bll"),
        ("KPI file is a link out", "kpl"),
    ]:
        tenant_id(what, tenant, review=False)
    # A temporary file left beside the state that links out is removed (the link, not its target).
    attempts.append(
        ("leftover temp file links out: cycle", "cli", ["cycle", "--tenant", "tmp", *decide])
    )
    attempts.append(
        ("--tenant all with a linked folder: cycle", "cli", ["cycle", "--tenant", "all", *decide])
    )
    attempts.append(
        (
            "--canary-tenant all with a linked folder",
            "pytest",
            [*pytest_args, "--canary-tenant", "all"],
        )
    )
    for what, file in [
        ("--decision-file absolute outside", str(outside / "decision.json")),
        ("--decision-file ../outside", "../outside/decision.json"),
        ("--decision-file via root/..", "root/acme/../../../outside/decision.json"),
        ("--decision-file link inside the root", "root/acme/canary/link.json"),
        (
            "--decision-file another tenant's (links out)",
            "root/linked/canary/" + f"{DATE}_decision.json",
        ),
    ]:
        attempts.append(
            (
                what,
                "cli",
                ["rollout", "--tenant", "acme", "--root", "root", "--decision-file", file],
            )
        )
    return attempts


def test_no_path_leaves_the_root(tmp_path: Path) -> None:
    case = tmp_path / "case"
    outside = case / "outside"
    _sentinel(outside)
    _layout(case / "root", outside)
    sentinel_before = tree_digest(outside)
    attempts = _attempts(outside)
    jobs: list[dict[str, Any]] = [
        {
            "id": f"a{i}/0",
            "cwd": str(case),
            "env": {"CANARY_TRACE_ID": TRACE},
            "kind": kind,
            "argv": argv,
        }
        for i, (_, kind, argv) in enumerate(attempts)
    ]
    results = run_jobs(jobs, workers=1)
    problems = []
    refused = 0
    for job, (what, kind, _) in zip(jobs, attempts, strict=True):
        result = results[job["id"]]
        if result["crash"] or crashed(result["out"], result["err"]):
            problems.append(f"{what}: traceback {(result['crash'] or result['err'])[-300:]}")
        if _refused(what, kind, result):
            refused += 1
        else:
            problems.append(
                f"{what}: exit {result['code']}: {(result['err'] or result['out'])[-400:]}"
            )
    sentinel_after = tree_digest(outside)
    changed = sorted(
        key
        for key in sentinel_before.keys() | sentinel_after.keys()
        if sentinel_before.get(key) != sentinel_after.get(key)
    )
    # The honest tenant still works: the root is guarded, not broken.
    honest = run_jobs(
        [
            {
                "id": "h/0",
                "cwd": str(case),
                "env": {},
                "kind": "cli",
                "argv": ["cycle", "--tenant", "acme", "--root", "root", "--date", DATE],
            }
        ],
        workers=1,
    )["h/0"]
    record(
        "4-path-escapes",
        "Path escapes (ids, links, decision files)",
        [
            ("escape attempts", len(attempts), "≥ 20"),
            ("refused cleanly (or, for a stray temp link, swept)", refused, str(len(attempts))),
            ("sentinel entries changed", len(changed), "0"),
            ("honest tenant beside them: cycle exit", honest["code"], "0"),
        ],
        problems=problems,
    )
    assert changed == [], changed
    assert problems == [], "\n".join(problems)
    assert honest["code"] == 0, honest["err"]
    assert len(attempts) >= 20


_ = os
