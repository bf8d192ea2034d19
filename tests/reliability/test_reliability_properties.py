"""Campaign 1, generated half: hypothesis feeds the readers directly, many times over.

The CLI campaign runs a few hundred hand-written and seeded cases end to end; here hypothesis
generates thousands of tenant ids, override values, decision and state files for the functions
every command goes through. Each must answer with a value or the one-line user error of its
kind, never another exception, and never accept what the contract calls invalid.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest
from _reliability import FIGURES, FULL, SETTING, decision_doc, dump, record, state_doc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_canary.core import jsonfile
from pytest_canary.core.errors import CanaryUsageError, RolloutRefused
from pytest_canary.core.tenants import TENANT_PATTERN, validate_tenant_id
from pytest_canary.ops.rollout import DEFAULT_STEPS, load_decision
from pytest_canary.store.gates import GateConfig
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.readers import load_state

EXAMPLES = 1500 if FULL else 60
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
COUNTS: Counter[str] = Counter()
FAILURES: Counter[str] = Counter()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    """Damage to a valid file: cut, splice in bytes, or replace a value by any JSON."""
    cut = st.integers(0, len(valid) - 1).map(lambda n: valid[:n])
    splice = st.tuples(st.integers(0, len(valid)), st.binary(min_size=1, max_size=8)).map(
        lambda t: valid[: t[0]] + t[1] + valid[t[0] :]
    )
    return cut | splice


@given(tenant=st.text(max_size=70))
@SETTINGS
def test_any_tenant_id_is_valid_or_one_usage_error(tenant: str) -> None:
    COUNTS["tenant ids"] += 1
    try:
        assert validate_tenant_id(tenant) == tenant
    except CanaryUsageError as exc:
        assert "\n" not in str(exc)
        assert not (re.fullmatch(TENANT_PATTERN, tenant) and tenant != "all")
    else:
        assert re.fullmatch(TENANT_PATTERN, tenant) and tenant.isascii() and tenant != "all"


@given(
    name=st.sampled_from(["ERROR_RATE", "DLQ_DEPTH", "ACME_MIN_VOLUME"]), value=st.text(max_size=12)
)
@SETTINGS
def test_any_threshold_override_is_valid_or_one_usage_error(name: str, value: str) -> None:
    COUNTS["env overrides"] += 1
    try:
        gates = GateConfig.load([]).for_tenant("acme", {f"CANARY_THRESHOLD_{name}": value})
    except CanaryUsageError as exc:
        assert "\n" not in str(exc)
        return
    gate = name.removeprefix("ACME_").lower()
    threshold = next(spec.threshold for spec in gates.gates if spec.name == gate)
    assert math.isfinite(threshold) and threshold >= 0
    assert gate != "error_rate" or threshold <= 1


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> TenantPaths:
    root = tmp_path_factory.mktemp("props") / "root"
    (root / "acme" / "operate").mkdir(parents=True)
    return TenantPaths.open(root, "acme")


@given(data=st.data())
@SETTINGS
def test_any_damaged_decision_file_loads_or_is_refused_in_one_line(
    tenant: TenantPaths, data: st.DataObject
) -> None:
    COUNTS["decision files"] += 1
    valid = dump(decision_doc())
    doc = decision_doc()
    key = data.draw(st.sampled_from(sorted(doc)))
    payload = data.draw(_mutations(valid) | json_values.map(lambda v: dump({**doc, key: v})))
    path = tenant.canary_dir / "d.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(payload)
    try:
        made = load_decision(path)
    except RolloutRefused as exc:
        assert "\n" not in str(exc)
        return
    # Accepted: then it is exactly what a valid file holds, value for value (not coerced); the
    # optional keys the file leaves out (``base.pause``, ``promotion``, ...) keep their defaults.
    raw = json.loads(payload)
    held = made.model_dump(mode="json", exclude_unset=True)
    assert held == {**raw, "created_at": made.created_at.isoformat()}
    assert made == type(made).model_validate(held)


@given(data=st.data())
@SETTINGS
def test_any_damaged_state_file_reads_or_is_one_line_invalid(
    tenant: TenantPaths, data: st.DataObject
) -> None:
    COUNTS["state files"] += 1
    doc = state_doc()
    key = data.draw(st.sampled_from(sorted(doc)))
    payload = data.draw(_mutations(dump(doc)) | json_values.map(lambda v: dump({**doc, key: v})))
    tenant.state.write_bytes(payload)
    try:
        state = load_state(tenant, DEFAULT_STEPS)
    except jsonfile.InvalidInput as exc:
        assert "\n" not in str(exc)
        return
    assert state is not None
    # Nothing coerced; the optional keys the file leaves out (``pause``, ...) keep their defaults.
    assert state.model_dump(mode="json", exclude_unset=True) == json.loads(payload)
    assert state == type(state).model_validate(json.loads(payload))


def test_zz_the_generated_figures_are_recorded_as_counted(tmp_path: Path) -> None:
    """Runs last in this module (name order without randomisation, or on its own worker)."""
    if not COUNTS:
        pytest.skip("the generated tests ran on another worker")
    rows = [
        (f"{what} (examples)", n, "no exception but the one-line error")
        for what, n in sorted(COUNTS.items())
    ]
    record(
        "1c-bad-input-hypothesis",
        "Bad input generated by hypothesis, straight into the readers",
        rows,
    )

    written = json.loads((FIGURES / f"1c-bad-input-hypothesis.{SETTING}.json").read_text())
    assert [(r["what"], r["value"], r["target"]) for r in written["rows"]] == rows
    assert set(COUNTS) <= {"decision files", "env overrides", "state files", "tenant ids"}
