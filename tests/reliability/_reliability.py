"""Shared pieces of the reliability campaigns: the setting, real tenant files, figures, drivers.

The quick setting (the default, part of ``make test``) runs a sample of every campaign; env
``CANARY_RELIABILITY=full`` (``make reliability``) runs them at full size. Each campaign writes
its counts to ``.scratch/reliability/<campaign>.json``; ``tests/reliability/report.py`` prints
them as one table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Read at import: the suite's autouse fixture clears CANARY_* variables inside each test.
FULL = os.environ.get("CANARY_RELIABILITY", "quick") == "full"
SETTING = "full" if FULL else "quick"
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIGURES = REPO / ".scratch" / "reliability"
BERLIN = dt.timezone(dt.timedelta(hours=1))
KPI_DATE = dt.date(2026, 11, 26)
TENANT = "acme"
STEPS = [10, 25, 50, 100]
TRACE = "0123456789abcdef0123456789abcdef"
CRASH_MARKERS = re.compile(r"Traceback \(most recent call last\)|INTERNALERROR")
QUIET = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]


def size(quick: int, full: int) -> int:
    """How many cases of a campaign this setting runs."""
    return full if FULL else quick


def canary_script() -> str:
    """The real console script of the venv running the tests."""
    beside = Path(sys.executable).parent / "canary"
    found = str(beside) if beside.exists() else shutil.which("canary")
    assert found, "the canary console script is not installed"
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without CANARY_* / GitHub variables, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CANARY_", "GITHUB_", "PYTEST_XDIST", "PYTEST_CURRENT"))
    }
    env.update(extra)
    return env


# --- tenant files -------------------------------------------------------------------------


def good_kpis(tenant: str = TENANT, date: dt.date = KPI_DATE, **override: Any) -> dict[str, Any]:
    kpis: dict[str, Any] = {
        "tenant": tenant,
        "date": date.isoformat(),
        "notices_sent": 1840,
        "error_rate": 0.004,
        "hard_bounces": 12,
        "dlq_depth": 2,
        "retry_depth": 14,
        "soft_bounces": 30,
        "generated_at": f"{date.isoformat()}T07:25:00+01:00",
    }
    kpis.update(override)
    return kpis


def good_blocklist(date: dt.date = KPI_DATE) -> dict[str, Any]:
    return {
        "entries": [
            {
                "reason": "hard_bounce",
                "added_at": f"{date.isoformat()}T06:10:00+01:00",
                "address_sha256": hashlib.sha256(b"someone").hexdigest(),
            },
            {"reason": "complaint", "added_at": f"{date.isoformat()}T05:00:00"},
        ]
    }


def state_doc(tenant: str = TENANT, quota: int = 25, **override: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": 1,
        "tenant": tenant,
        "quota": quota,
        "kill_switch": False,
        "serial": 0,
        "last_decision_id": None,
        "updated_at": None,
        "review": None,
        "pause": None,
        "history": [],
    }
    doc.update(override)
    return doc


def decision_doc(
    verdict: str = "GO_50",
    *,
    tenant: str = TENANT,
    date: dt.date = KPI_DATE,
    quota: int = 25,
    kill_switch: bool = False,
    created_at: dt.datetime | None = None,
    salt: str = "",
    serial: int = 0,
) -> dict[str, Any]:
    """A decision file as the engine writes it (created now unless told otherwise)."""
    created = created_at or dt.datetime.now(BERLIN).replace(microsecond=0)
    if verdict.startswith("GO_"):
        target, kill = int(verdict[3:]), False
    elif verdict == "BACKOUT":
        target, kill = STEPS[0], True
    else:
        target, kill = quota, kill_switch
    ident = f"{tenant}|{date}|{verdict}|{quota}|{kill_switch}|{salt}"
    return {
        "schema_version": 1,
        "tenant": tenant,
        "date": date.isoformat(),
        "decision": verdict,
        "decision_id": hashlib.sha256(ident.encode()).hexdigest(),
        "trace_id": TRACE,
        "created_at": created.isoformat(),
        "steps": STEPS,
        "base": {
            "quota": quota,
            "kill_switch": kill_switch,
            "serial": serial,
            "review": None,
            "pause": None,
        },
        "target": {"quota": target, "kill_switch": kill},
        "kill_switch_recommended": verdict == "BACKOUT",
        "reasons": [] if verdict.startswith("GO_") else [f"{verdict}: test"],
        "gates": [],
        "thresholds": {},
        "inputs": [],
        "promotion": None,
    }


def real_decision(
    root: Path,
    tenant: str = TENANT,
    date: dt.date = KPI_DATE,
    created_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The decision ``canary decide`` would make from the tenant's files now (built-in gates).

    Made with the engine in-process, so the rollout's check (inputs and gates recomputed give the
    same decision_id) holds; a fabricated decision is refused as untrue to its inputs.
    """
    from pytest_canary.core import engine
    from pytest_canary.store.gates import GateConfig
    from pytest_canary.store.layout import TenantPaths
    from pytest_canary.store.readers import read_case

    gates = GateConfig.load([]).for_tenant(tenant, {})
    created = created_at or dt.datetime.now(BERLIN).replace(microsecond=0)
    paths = TenantPaths.open(root, tenant)
    case = read_case(paths, date, gates, trace_id=TRACE, created_at=created)
    return engine.decide(case).model_dump(mode="json")


def dump(value: Any) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()


def make_tenant(
    root: Path,
    tenant: str = TENANT,
    *,
    kpis: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    blocklist: dict[str, Any] | None = None,
    date: dt.date = KPI_DATE,
) -> Path:
    """A tenant folder with good KPIs for ``date`` (and a state and blocklist when given)."""
    folder = root / tenant
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{date.isoformat()}.json").write_bytes(dump(kpis or good_kpis(tenant, date)))
    if state is not None:
        (folder / "operate").mkdir(exist_ok=True)
        (folder / "operate" / "operate_state.json").write_bytes(dump(state))
    if blocklist is not None:
        (folder / "ops").mkdir(exist_ok=True)
        (folder / "ops" / "blocklist.json").write_bytes(dump(blocklist))
    return folder


def snapshot(path: Path) -> bytes | None:
    """A file's bytes, ``None`` when absent; a folder or anything unreadable as a marker."""
    if path.is_symlink() and not path.exists():
        return b"<dangling link>"
    if path.is_dir():
        return b"<folder>"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"<unreadable {exc.errno}>".encode()


def tree_digest(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links not followed) with its content hash or link target."""
    result: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = str(path.relative_to(folder))
            st = path.lstat()
            if path.is_symlink():
                result[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                result[rel] = f"dir:{st.st_mode:o}"
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                result[rel] = f"file:{st.st_mode:o}:{st.st_mtime_ns}:{digest}"
    return result


def crashed(*texts: str) -> bool:
    return any(CRASH_MARKERS.search(text) for text in texts)


# --- running many commands ------------------------------------------------------------------


def run_jobs(jobs: Sequence[dict[str, Any]], workers: int) -> dict[str, dict[str, Any]]:
    """Run ``jobs`` through ``workers`` in-process drivers (see ``_driver.py``), by job id.

    Jobs of one case must share an id prefix before ``/``; a case's jobs stay in one driver, in
    order, because later commands read what earlier ones wrote.
    """
    cases: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        cases.setdefault(job["id"].split("/")[0], []).append(job)
    buckets: list[list[dict[str, Any]]] = [[] for _ in range(max(1, workers))]
    for index, case_jobs in enumerate(cases.values()):
        buckets[index % len(buckets)].extend(case_jobs)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="canary-driver-") as scratch:
        procs = []
        for index, bucket in enumerate(buckets):
            if not bucket:
                continue
            jobs_file = Path(scratch) / f"jobs{index}.json"
            out_file = Path(scratch) / f"results{index}.json"
            jobs_file.write_text(json.dumps(bucket))
            proc = subprocess.Popen(
                [sys.executable, str(HERE / "_driver.py"), str(jobs_file), str(out_file)],
                env=clean_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            procs.append((proc, out_file))
        for proc, out_file in procs:
            _, err = proc.communicate(timeout=3600)
            assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
            for result in json.loads(out_file.read_text()):
                results[result["id"]] = result
    return results


# --- figures --------------------------------------------------------------------------------


def record(
    campaign: str,
    title: str,
    rows: list[tuple[str, int | float, str]],
    problems: Sequence[str] = (),
) -> None:
    """Write a campaign's figures: ``(what, value, target)`` rows, for ``report.py``.

    ``problems`` (every violation, in full) go to ``<campaign>.<setting>.problems.txt`` beside.
    """
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / f"{campaign}.{SETTING}.problems.txt").write_text(
        "".join(f"{line}\n" for line in problems)
    )
    payload = {
        "campaign": campaign,
        "title": title,
        "setting": SETTING,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rows": [{"what": w, "value": v, "target": t} for w, v, t in rows],
    }
    target = FIGURES / f"{campaign}.{SETTING}.json"
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(target)


def decision_dump(**kwargs: Any) -> bytes:
    """A valid decision file's bytes (a GO_50 from quota 25, created now, unless told otherwise)."""
    return dump(decision_doc(**kwargs))
