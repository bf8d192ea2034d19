"""Generated inputs for the benchmarks: canary roots of many tenants and trivial-item suites.

Everything is written under a folder the caller gives (a temporary one), never into the repo.
The mix is fixed by the tenant's index, so every size is the same population scaled:
of every 20 tenants, 12 go up a step, 5 hold (error rate, low volume, a kill switch without
review, a stale state serial) and 3 back out (DLQ depth, error rate far above its threshold).
"""

from __future__ import annotations

import json
from pathlib import Path

DATE = "2026-11-26"
STEPS = (10, 25, 50)

_GO = {"notices_sent": 1840, "error_rate": 0.004, "hard_bounces": 12, "dlq_depth": 2}
# index % 20 -> (KPI overrides, state overrides, expected decision word)
_MIX: dict[int, tuple[dict[str, float], dict[str, object], str]] = {
    12: ({"error_rate": 0.03}, {}, "HOLD"),
    13: ({"notices_sent": 2, "hard_bounces": 0}, {}, "HOLD"),
    14: ({}, {"kill_switch": True, "quota": 10}, "HOLD"),
    15: ({"retry_depth": 70}, {}, "HOLD"),
    16: ({"hard_bounces": 130}, {}, "HOLD"),
    17: ({"dlq_depth": 30}, {}, "BACKOUT"),
    18: ({"error_rate": 0.09}, {}, "BACKOUT"),
    19: ({"dlq_depth": 25, "error_rate": 0.05}, {}, "BACKOUT"),
}


def tenant_name(index: int) -> str:
    return f"t{index:05d}"


def expected_word(index: int) -> str:
    return _MIX.get(index % 20, ({}, {}, "GO"))[2]


def add_kpis(root: Path, tenants: int, date: str) -> None:
    """Every tenant's KPI file for ``date`` (the same figures on every date)."""
    for index in range(tenants):
        name = tenant_name(index)
        kpi_over = _MIX.get(index % 20, ({}, {}, "GO"))[0]
        kpis = {"tenant": name, "date": date, "retry_depth": 14, **_GO, **kpi_over}
        (root / name / f"{date}.json").write_text(json.dumps(kpis))


def make_root(folder: Path, tenants: int) -> Path:
    """A canary root of ``tenants`` tenants, each with a KPI file and a state file."""
    root = folder / "root"
    root.mkdir(parents=True)
    for index in range(tenants):
        name = tenant_name(index)
        kpi_over, state_over, _ = _MIX.get(index % 20, ({}, {}, "GO"))
        kpis = {"tenant": name, "date": DATE, "retry_depth": 14, **_GO, **kpi_over}
        state = {
            "schema_version": 1,
            "tenant": name,
            "quota": STEPS[index % len(STEPS)],
            "kill_switch": False,
            "serial": 0,
            "last_decision_id": None,
            "updated_at": None,
            "review": None,
            "history": [],
            **state_over,
        }
        (root / name / "operate").mkdir(parents=True)
        (root / name / f"{DATE}.json").write_text(json.dumps(kpis))
        (root / name / "operate" / "operate_state.json").write_text(json.dumps(state))
        if index % 10 == 3:
            entries = [
                {"reason": "hard_bounce", "added_at": f"{DATE}T06:{m:02d}:00+01:00"}
                for m in range(5)
            ]
            (root / name / "ops").mkdir()
            (root / name / "ops" / "blocklist.json").write_text(json.dumps({"entries": entries}))
    return root


BASELINE_CONFTEST = '''\
"""pytest's floor: {groups} groups of {per} trivial items, made the way canary makes its items."""

import pytest


class Group(pytest.Collector):
    def collect(self):
        return []


class Trivial(pytest.Item):
    def runtest(self):
        pass

    def reportinfo(self):
        return self.path, None, self.name


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, items):
    top = Group.from_parent(session, name="floor", path=session.path, nodeid="floor")
    made = []
    for g in range({groups}):
        node = Group.from_parent(top, name=f"t{{g:05d}}")
        made.extend(Trivial.from_parent(node, name=f"item{{i}}") for i in range({per}))
    items[:0] = made
    session.ihook.pytest_collectreport(
        report=pytest.CollectReport("floor", "passed", None, list(made))
    )
'''


def make_floor(folder: Path, groups: int, per: int = 7) -> Path:
    """A project whose conftest adds ``groups * per`` trivial items and nothing else."""
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "conftest.py").write_text(BASELINE_CONFTEST.format(groups=groups, per=per))
    return folder


def make_suite(folder: Path, tests: int) -> Path:
    """An ordinary project of ``tests`` trivial test functions in 10 modules."""
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text("[pytest]\n")
    per_module = tests // 10
    for module in range(10):
        body = "".join(f"def test_{i}():\n    assert True\n\n\n" for i in range(per_module))
        (folder / f"test_m{module}.py").write_text(body)
    return folder
