"""Campaign 5, personal data: addresses in blocklists and KPI extras never reach an output.

Tenants carry blocklists and KPI extras full of e-mail addresses (as values, as keys, in invalid
fields, in duplicate keys); full cycles run through pytest (JUnit, GitHub step summary and
outputs) and through ``canary`` (cycle, rollout, validate, review). Then every output is searched:
decision and rollout files, the audit log, stdout, stderr, JUnit XML, the GitHub files.
Inputs themselves (KPI files, blocklists) hold the addresses by design and are not searched.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

from _reliability import (
    KPI_DATE,
    canary_script,
    clean_env,
    crashed,
    good_kpis,
    make_tenant,
    record,
    size,
    state_doc,
)

ADDRESS = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class Planter:
    """Hands out unique addresses and remembers every one."""

    def __init__(self, round_: int) -> None:
        self.round = round_
        self.planted: list[str] = []

    def __call__(self, label: str) -> str:
        address = f"{label}.r{self.round}.n{len(self.planted)}@example.org"
        self.planted.append(address)
        return address


def _blocklist(a: Planter, date: dt.date) -> dict[str, object]:
    day = date.isoformat()
    entries: list[dict[str, object]] = [
        {"reason": "hard_bounce", "added_at": f"{day}T06:{i:02d}:00+01:00", "address": a("bounce")}
        for i in range(20)
    ]
    entries += [
        {"reason": "complaint", "added_at": f"{day}T05:00:00", "email": a("complaint")},
        {"reason": "manual", "added_at": f"{day}T05:00:00", "note": f"per {a('note')}"},
        {"reason": a("as-reason"), "added_at": a("as-added-at")},  # not counted, not copied
    ]
    return {"entries": entries, "owner": a("owner")}


def _extras(a: Planter) -> dict[str, object]:
    return {
        "top_recipient": a("top"),
        "recipients": [a("list") for _ in range(10)],
        "by_address": {a("key"): 3, a("key"): 5},
        a("numeric-key"): 7,
        "errors_sample": [{"to": a("err"), "error": f"550 mailbox {a('msg')} unknown"}],
    }


def _root(base: Path, a: Planter, date: dt.date) -> Path:
    root = base / "root"
    extras = _extras(a)
    tenants = {
        "good": good_kpis("good", date, **extras),
        "hold": good_kpis("hold", date, error_rate=0.03, **extras),
        "backout": good_kpis("backout", date, dlq_depth=500, **extras),
        "badtenant": {**good_kpis("badtenant", date), "tenant": a("in-tenant")},
        "baddate": {**good_kpis("baddate", date), "date": a("in-date")},
        "badfield": good_kpis("badfield", date, error_rate=a("in-rate"), dlq_depth=a("in-dlq")),
    }
    for tenant, kpis in tenants.items():
        make_tenant(root, tenant, kpis=kpis, state=state_doc(tenant), date=date)
        (root / tenant / "ops").mkdir()
        (root / tenant / "ops" / "blocklist.json").write_text(json.dumps(_blocklist(a, date)))
    # A duplicate key that is itself an address, and a blocklist that fails closed.
    dup = root / "dupkey" / f"{date.isoformat()}.json"
    make_tenant(root, "dupkey", state=state_doc("dupkey"), date=date)
    body = json.dumps(good_kpis("dupkey", date))[:-1]
    key = a("dup-key")
    dup.write_text(f'{body}, "{key}": 1, "{key}": 2}}')
    make_tenant(root, "badblock", state=state_doc("badblock"), date=date)
    (root / "badblock" / "ops").mkdir()
    (root / "badblock" / "ops" / "blocklist.json").write_text(
        json.dumps({"entries": [{"reason": "hard_bounce", "added_at": a("bad-added")}]})
    )
    return root


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=600)


def _outputs(root: Path) -> list[Path]:
    """Every file the runs wrote under the root (inputs excluded)."""
    inputs = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
    return [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file() and not inputs.match(path.name) and path.name != "blocklist.json"
    ]


def test_no_address_reaches_any_output(tmp_path: Path) -> None:
    rounds = size(1, 5)
    found: dict[str, int] = {}
    searched = 0
    planted = 0
    crashes = []
    for round_ in range(rounds):
        base = tmp_path / f"round{round_}"
        base.mkdir()
        a = Planter(round_)
        date = KPI_DATE + dt.timedelta(days=round_)
        root = _root(base, a, date)
        summary, output, junit = base / "summary.md", base / "output.txt", base / "junit.xml"
        env = clean_env(GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(output))
        day = date.isoformat()
        runs = [
            _run(
                [sys.executable, "-m", "pytest", "-p", "canary", "-p", "no:cacheprovider",
                 "--canary-tenant", "all", "--canary-root", "root", "--canary-date", day,
                 "--canary-rollout", f"--junitxml={junit}", "-rA"],
                base, env,
            ),
            _run([canary_script(), "cycle", "--tenant", "all", "--root", "root", "--date", day], base, env),
            _run([canary_script(), "validate", "root"], base, env),
            _run(
                [canary_script(), "review", "--tenant", "hold", "--root", "root",
                 "--by", a("reviewer"), "--note", f"asked {a('asked')}"],
                base, env,
            ),
        ]  # fmt: skip
        for tenant in ("good", "hold", "backout", "badtenant"):
            runs.append(
                _run([canary_script(), "rollout", "--tenant", tenant, "--root", "root"], base, env)
            )
        planted += len(a.planted)
        texts: list[tuple[str, bytes]] = []
        for index, proc in enumerate(runs):
            texts.append((f"round {round_} run {index} stdout", proc.stdout))
            texts.append((f"round {round_} run {index} stderr", proc.stderr))
            if crashed(proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")):
                crashes.append(f"round {round_} run {index}: {proc.stderr[-300:]!r}")
        for path in [*_outputs(root), summary, output, junit]:
            texts.append((str(path.relative_to(base)), path.read_bytes() if path.exists() else b""))
        searched += len(texts)
        for where, data in texts:
            hits = [m.group().decode() for m in ADDRESS.finditer(data)]
            hits += [addr for addr in a.planted if addr.encode() in data and addr not in hits]
            if hits:
                found[where] = len(hits)
                found.setdefault(f"{where} (first)", 0)
                found[f"{where} (first)"] = 0
                print(where, hits[:3])
    record(
        "5-personal-data",
        "Personal data (addresses in blocklists and KPI extras)",
        [
            ("full cycles (rounds × 8 tenants, pytest + canary)", rounds, ""),
            ("addresses planted", planted, ""),
            ("outputs searched (files, stdout, stderr)", searched, ""),
            ("addresses found in outputs", sum(found.values()), "0"),
            ("tracebacks", len(crashes), "0"),
        ],
    )
    assert crashes == []
    assert not found, sorted(k for k in found if not k.endswith("(first)"))
