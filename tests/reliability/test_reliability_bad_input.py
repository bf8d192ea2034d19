"""Campaign 1, bad input: every malformed input through decide, cycle, rollout, validate, pytest.

Counted over all commands of all cases: tracebacks (0), exit codes outside the documented ones
(0), a GO (exit 0 of decide / cycle / pytest, or ``changed=true`` of a rollout) on an invalid
input (0), and a state file changed by an invalid input (0). The commands run in-process through
``cli.main`` / ``pytest.main`` (``_driver.py``), and a sample through the real console script.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _bad_inputs import BIG, FIFTY_MB, FOLDER, GOOD_GATES, LOOP, BadCase, all_cases
from _reliability import (
    FULL,
    KPI_DATE,
    QUIET,
    canary_script,
    clean_env,
    crashed,
    decision_dump,
    good_blocklist,
    make_tenant,
    record,
    run_jobs,
    size,
    snapshot,
    state_doc,
)

DATE = KPI_DATE.isoformat()
ALLOWED = {
    "decide": {0, 1, 2, 3},
    "cycle": {0, 1, 2, 3, 4},
    "rollout": {0, 2, 4},
    "review": {0, 2, 4},
    "validate": {0, 1, 2},
    "pytest": {0, 1, 4},
}
GO_COMMANDS = ("decide", "cycle", "pytest")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def _target(case: BadCase, casedir: Path) -> Path | None:
    tenant = casedir / "root" / "acme"
    return {
        "kpi": tenant / f"{DATE}.json",
        "blocklist": tenant / "ops" / "blocklist.json",
        "state": tenant / "operate" / "operate_state.json",
        "decision": tenant / "canary" / "2099-01-01_decision.json",
        "gates": casedir / "gates" / "mahnwesen.toml",
    }.get(case.category)


def _write(target: Path, payload: bytes | str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        target.unlink()
    if payload == FOLDER:
        target.mkdir()
    elif payload == LOOP:
        target.symlink_to(target.name)
    elif payload == BIG:
        with target.open("wb") as handle:
            handle.write(b'{"a": "' + b"x" * FIFTY_MB + b'"}')
    else:
        assert isinstance(payload, bytes)
        target.write_bytes(payload)


def _placeholders(casedir: Path) -> dict[str, str]:
    (casedir / "afile.txt").write_text("not a root\n")
    (casedir / "empty").mkdir()
    big = casedir / "big.json"
    _write(big, BIG)
    junk = casedir / "junk" / "acme"
    junk.mkdir(parents=True)
    (junk / f"{DATE}.json").write_bytes(b"\xff{")
    (junk / "operate_state.json").write_bytes(b"[" * 100_000)
    return {
        "<file>": "afile.txt",
        "<kpi>": f"root/acme/{DATE}.json",
        "<folder>": "root/acme",
        "<big>": "big.json",
        "<folder-of-junk>": "junk",
        "<empty-folder>": "empty",
    }


def _argv(
    command: str, tenant: str, extra: list[str], gates: bool, with_root: bool
) -> tuple[str, list[str]]:
    kind, argv = _argv_rooted(command, tenant, extra, gates)
    if with_root:
        return kind, argv
    flags = ("--root", "--canary-root")
    return kind, [a for i, a in enumerate(argv) if a not in flags and argv[i - 1] not in flags]


def _argv_rooted(command: str, tenant: str, extra: list[str], gates: bool) -> tuple[str, list[str]]:
    gate_args = ["--gates", "gates/mahnwesen.toml"] if gates else []
    if command in ("decide", "cycle"):
        base = [command, "--tenant", tenant, "--root", "root", "--date", DATE, *gate_args]
    elif command == "rollout":
        base = ["rollout", "--tenant", tenant, "--root", "root", *gate_args]
    elif command == "review":
        base = ["review", "--tenant", tenant, "--root", "root", "--by", "ops", "--note", "ok"]
    elif command == "validate":
        base = ["validate"]
    elif command == "pytest":
        base = ["-p", "canary", "-p", "no:cacheprovider", "-q", *QUIET, "--canary-tenant"]
        base += [tenant, "--canary-root", "root", "--canary-date", DATE]
        if gates:
            base += ["--canary-gates", "gates/mahnwesen.toml"]
        return "pytest", base + extra
    else:  # pytest-bare: options without a tenant
        return "pytest", ["-p", "canary", "-p", "no:cacheprovider", "-q", *QUIET, *extra]
    return "cli", base + extra


def build(case: BadCase, casedir: Path) -> tuple[list[dict[str, Any]], Path]:
    """Lay out the case's files and return its jobs (in order) and the state file to watch."""
    root = casedir / "root"
    make_tenant(root, "acme", state=state_doc(), blocklist=good_blocklist())
    (casedir / "gates").mkdir()
    (casedir / "gates" / "mahnwesen.toml").write_bytes(GOOD_GATES)
    target = _target(case, casedir)
    if target is not None:
        _write(target, case.payload)
    plan: list[tuple[str, list[str]]]
    if case.category == "decision":
        assert target is not None
        rel = str(target.relative_to(casedir))
        plan = [("rollout", []), ("rollout", ["--decision-file", rel]), ("validate", [rel])]
    elif case.category == "options":
        names = _placeholders(casedir)
        (root / "acme" / "canary").mkdir()
        (root / "acme" / "canary" / f"{DATE}_decision.json").write_bytes(decision_dump())
        plan = [
            (command, [names.get(arg, arg) for arg in extra])
            for command, extra in case.options.items()
        ]
    elif case.category == "tenant":
        plan = [(c, []) for c in ("decide", "cycle", "rollout", "review", "pytest")]
    else:
        checked = str(target.relative_to(casedir)) if target is not None else "root/acme"
        plan = [
            ("decide", []),
            ("pytest", []),
            ("validate", [checked]),
            ("cycle", []),
            ("rollout", []),
        ]
    env: dict[str, str | None] = dict(case.env)
    if "CANARY_ROOT" not in env:
        env["CANARY_ROOT"] = None
    jobs = []
    for index, (command, extra) in enumerate(plan):
        name = "pytest" if command.startswith("pytest") else command
        with_root = "CANARY_ROOT" not in case.env
        kind, argv = _argv(command, case.tenant, extra, case.category == "gates", with_root)
        jobs.append(
            {
                "id": f"{case.ident}/{index}",
                "command": name,
                "cwd": str(casedir),
                "env": env,
                "kind": kind,
                "argv": argv,
            }
        )
    return jobs, root / "acme" / "operate" / "operate_state.json"


def judge(
    case: BadCase,
    jobs: list[dict[str, Any]],
    results: dict[str, dict[str, Any]],
    changed: bool,
    tally: Counter[str],
    problems: list[str],
) -> None:
    tally["cases"] += 1
    if changed and case.invalid:
        tally["state changed"] += 1
        problems.append(f"{case.ident}: the state file changed")
    for job in jobs:
        result = results[job["id"]]
        command = job["command"]
        tally["commands"] += 1
        where = f"{case.ident} {command} {job['argv'][:3]}"
        if result["crash"] or crashed(result["out"], result["err"]):
            tally["tracebacks"] += 1
            text = result["crash"] or result["err"] or result["out"]
            problems.append(f"{where}: traceback: {text.strip().splitlines()[-1][:300]}")
        if result["code"] not in ALLOWED[command]:
            tally["undocumented exits"] += 1
            problems.append(f"{where}: exit {result['code']}: {result['err'][-300:]}")
        if case.invalid and (
            (command in GO_COMMANDS and result["code"] == 0)
            or (command == "rollout" and "changed=true" in result["out"])
        ):
            tally["GO on invalid input"] += 1
            problems.append(f"{where}: GO on invalid input: {result['out'][-300:]}")


def _selected() -> list[BadCase]:
    cases = all_cases()
    if FULL:
        return cases
    step = max(1, len(cases) // 24)
    return cases[::step]


def test_bad_inputs_never_crash_never_go_never_touch_the_state(tmp_path: Path) -> None:
    cases = _selected()
    jobs_by_case: list[tuple[BadCase, list[dict[str, Any]], Path, bytes | None]] = []
    all_jobs: list[dict[str, Any]] = []
    for number, case in enumerate(cases):
        casedir = tmp_path / f"{number:04d}-{_UNSAFE.sub('_', case.ident)[:60]}"
        casedir.mkdir()
        jobs, state = build(case, casedir)
        jobs_by_case.append((case, jobs, state, snapshot(state)))
        all_jobs.extend(jobs)
    results = run_jobs(all_jobs, workers=size(2, 4))
    tally: Counter[str] = Counter()
    problems: list[str] = []
    for case, jobs, state, before in jobs_by_case:
        judge(case, jobs, results, snapshot(state) != before, tally, problems)
        if case.payload == BIG or BIG in str(case.options):
            tally["50 MB files"] += 1
    categories = Counter(case.category for case in cases)
    record(
        "1-bad-input",
        "Bad input (in-process decide, cycle, rollout, validate, pytest)",
        [
            ("malformed inputs", tally["cases"], "≥ 500 (full)"),
            ("  by kind", ", ".join(f"{k} {v}" for k, v in sorted(categories.items())), ""),  # type: ignore[list-item]
            ("commands run on them", tally["commands"], ""),
            ("tracebacks", tally["tracebacks"], "0"),
            ("exits outside the documented codes", tally["undocumented exits"], "0"),
            ("GO on an invalid input", tally["GO on invalid input"], "0"),
            ("state file changed by an invalid input", tally["state changed"], "0"),
        ],
        problems=problems,
    )
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    if FULL:
        assert tally["cases"] >= 500


@pytest.mark.parametrize("stride", [size(90, 9)])
def test_a_sample_through_the_real_console_script(tmp_path: Path, stride: int) -> None:
    """The same cases through ``canary`` itself: what an operator's shell would see."""
    cases = [c for c in all_cases()[::stride] if "\x00" not in c.tenant + str(c.options)]
    tally: Counter[str] = Counter()
    problems: list[str] = []
    script = canary_script()
    for number, case in enumerate(cases):
        casedir = tmp_path / f"{number:04d}"
        casedir.mkdir()
        jobs, state = build(case, casedir)
        before = snapshot(state)
        results = {}
        for job in jobs:
            if job["kind"] != "cli":
                continue
            env = clean_env()
            for name, value in job["env"].items():
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = value
            proc = subprocess.run(
                [script, *job["argv"]],
                cwd=job["cwd"],
                env=env,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=300,
            )
            results[job["id"]] = {
                "code": proc.returncode,
                "crash": None,
                "out": proc.stdout,
                "err": proc.stderr,
            }
        cli_jobs = [job for job in jobs if job["kind"] == "cli"]
        judge(case, cli_jobs, results, snapshot(state) != before, tally, problems)
    record(
        "1b-bad-input-console",
        "Bad input through the real console script `canary`",
        [
            ("malformed inputs", tally["cases"], "a sample"),
            ("commands run", tally["commands"], ""),
            ("tracebacks", tally["tracebacks"], "0"),
            ("exits outside the documented codes", tally["undocumented exits"], "0"),
            ("GO on an invalid input", tally["GO on invalid input"], "0"),
            ("state file changed by an invalid input", tally["state changed"], "0"),
        ],
        problems=problems,
    )
    assert not problems, "\n".join(problems[:40])


_ = os
