"""Property: every decision that decide writes passes validate and is applicable by rollout.

Over generated KPI values and threshold variables, a decision is either written, read back by
``canary validate`` without a problem and applied (or left unchanged) by the rollout, or the
thresholds are refused up front as a usage error: never a file that its own tools refuse.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _engine_fixtures import CREATED, DATE, GOOD_KPIS, TENANT, make_case
from pytest_canary.core.engine import decide
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.ops.rollout import apply_decision, load_decision
from pytest_canary.ops.validate import validate_paths
from pytest_canary.render.report import decision_markdown
from pytest_canary.store.decisions import record_decision
from pytest_canary.store.layout import TenantPaths

counts = st.integers(min_value=0, max_value=10**12) | st.sampled_from([0, 1, 10**300])
thresholds = (
    st.floats(min_value=0, max_value=1e308, allow_nan=False)
    | st.sampled_from(["0", "1e308", "1.7e308", "5e307"])
    | st.integers(min_value=0, max_value=1000)
)
rates = st.floats(min_value=0, max_value=1, allow_nan=False)


@st.composite
def kpi_values(draw: st.DrawFn) -> dict[str, Any]:
    sent = draw(counts)
    return {
        "notices_sent": sent,
        "error_rate": draw(rates),
        "hard_bounces": draw(st.integers(min_value=0, max_value=min(sent, 10**12))),
        "dlq_depth": draw(counts),
        "retry_depth": draw(counts),
    }


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    env: dict[str, str] = {}
    for gate in ("DLQ_DEPTH", "RETRY_DEPTH", "MIN_VOLUME"):
        if draw(st.booleans()):
            env[f"CANARY_THRESHOLD_{gate}"] = str(draw(thresholds))
    for gate in ("ERROR_RATE", "HARD_BOUNCE_RATE"):
        if draw(st.booleans()):
            env[f"CANARY_THRESHOLD_{gate}"] = str(draw(rates))
    if draw(st.booleans()):
        env["CANARY_BACKOUT_FACTOR"] = str(draw(st.floats(min_value=1, max_value=1e300)))
    return env


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kpis=kpi_values() | st.just(GOOD_KPIS), env=environments())
def test_every_written_decision_validates_and_rolls_out(
    kpis: dict[str, Any], env: dict[str, str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp_path = Path(folder)
        try:
            case = make_case(kpis, env=env)
        except CanaryUsageError as exc:  # refused up front, naming what is wrong
            assert "\n" not in str(exc)
            return
        decision = decide(case)
        (tmp_path / "root" / TENANT).mkdir(parents=True)
        paths = TenantPaths.open(tmp_path / "root", TENANT)
        record_decision(paths, decision, decision_markdown(decision))

        written = paths.decision_json(DATE)
        problems, checked = validate_paths([written])
        assert (problems, checked) == ([], 1)
        log = apply_decision(
            paths,
            load_decision(written),
            steps=list(case.gates.steps),
            now=CREATED + dt.timedelta(minutes=5),
            lock_timeout=5.0,
        )
        assert log.decision == decision.decision
        assert log.changed is (decision.decision != "HOLD")
