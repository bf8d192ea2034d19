"""should_dispatch: the dispatch service's view of a rollout, checked as its developers use it."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pytest_canary
from pytest_canary.core.models import OperateState
from pytest_canary.dispatch import dispatch_bucket, should_dispatch

# The reference vectors of docs/dispatch-api.md: (tenant, notice id, sha256 prefix, bucket).
VECTORS = [
    ("acme", "N-000001", "608bf4ba", 90),
    ("acme", "N-000002", "946590b6", 50),
    ("acme", "notice-42", "3647e860", 8),
    ("beta-gmbh", "N-000001", "c6c9f633", 31),
    ("acme", "Mahnung-ÄÖÜ-7", "17407264", 56),
]

notice_ids = st.text(min_size=1, max_size=40).filter(lambda s: s.encode("utf-8", "ignore") != b"")
tenants = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z").filter(lambda t: t != "all")


def _state(quota: int, kill_switch: bool = False, tenant: str = "acme") -> dict[str, Any]:
    return {"tenant": tenant, "quota": quota, "kill_switch": kill_switch}


@pytest.mark.parametrize(("tenant", "notice_id", "prefix", "bucket"), VECTORS)
def test_reference_vectors_match_the_documented_buckets(
    tenant: str, notice_id: str, prefix: str, bucket: int
) -> None:
    assert dispatch_bucket(tenant, notice_id) == bucket
    assert int(prefix, 16) % 100 == bucket
    assert should_dispatch(_state(bucket + 1, tenant=tenant), notice_id)
    assert not should_dispatch(_state(bucket, tenant=tenant), notice_id)


def test_the_documented_vectors_are_the_ones_in_the_doc() -> None:
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "dispatch-api.md").read_text("utf-8")
    for tenant, notice_id, prefix, bucket in VECTORS:
        assert f"| `{tenant}` | `{notice_id}` | `{prefix}` | {bucket} |" in doc


def test_kill_switch_stops_every_notice_even_at_full_quota() -> None:
    state = _state(100, kill_switch=True)
    assert not any(should_dispatch(state, f"N-{i}") for i in range(500))


def test_quota_zero_sends_nothing_and_quota_hundred_sends_everything() -> None:
    ids = [f"N-{i}" for i in range(1000)]
    assert not any(should_dispatch(_state(0), i) for i in ids)
    assert all(should_dispatch(_state(100), i) for i in ids)


@given(notice_id=notice_ids, tenant=tenants, a=st.integers(0, 100), b=st.integers(0, 100))
def test_a_notice_inside_at_a_lower_quota_stays_inside_at_a_higher_one(
    notice_id: str, tenant: str, a: int, b: int
) -> None:
    low, high = min(a, b), max(a, b)
    if should_dispatch(_state(low, tenant=tenant), notice_id):
        assert should_dispatch(_state(high, tenant=tenant), notice_id)


@given(notice_id=notice_ids, tenant=tenants)
def test_bucket_is_a_whole_percent_and_the_same_on_every_call(notice_id: str, tenant: str) -> None:
    bucket = dispatch_bucket(tenant, notice_id)
    assert 0 <= bucket < 100
    assert dispatch_bucket(tenant, notice_id) == bucket


@pytest.mark.parametrize("quota", [10, 25, 50])
def test_share_of_notices_inside_roughly_matches_the_quota(quota: int) -> None:
    inside = sum(should_dispatch(_state(quota), f"notice-{i:06d}") for i in range(10_000))
    # Binomial standard deviation at 50 % over 10,000 ids is 50; allow five of them.
    assert abs(inside - quota * 100) < 250


def test_tenants_get_independent_buckets() -> None:
    ids = [f"N-{i}" for i in range(2000)]
    same = sum(dispatch_bucket("acme", i) == dispatch_bucket("beta", i) for i in ids)
    assert same < 100  # about 20 expected by chance; equal buckets would mean the tenant is ignored


def test_operate_state_model_and_dict_give_the_same_answers() -> None:
    model = OperateState(tenant="acme", quota=25, kill_switch=False)
    full_dict = model.model_dump(mode="json")  # a whole parsed operate_state.json works too
    for i in range(300):
        assert should_dispatch(model, f"N-{i}") == should_dispatch(full_dict, f"N-{i}")
    assert not should_dispatch(OperateState(tenant="acme", quota=100, kill_switch=True), "N-1")


def test_integral_float_quota_is_accepted() -> None:
    assert should_dispatch(_state(25), "notice-42") == should_dispatch(
        {"tenant": "acme", "quota": 25.0, "kill_switch": False}, "notice-42"
    )


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({"tenant": "acme", "quota": 25}, "kill_switch"),
        ({"quota": 25, "kill_switch": False}, "tenant"),
        (_state(101), "quota"),
        (_state(-1), "quota"),
        ({"tenant": "acme", "quota": 2.5, "kill_switch": False}, "quota"),
        ({"tenant": "acme", "quota": "25", "kill_switch": False}, "quota"),
        ({"tenant": "acme", "quota": True, "kill_switch": False}, "quota"),
        ({"tenant": "acme", "quota": float("nan"), "kill_switch": False}, "quota"),
        ({"tenant": "acme", "quota": 25, "kill_switch": "false"}, "kill_switch"),
        ({"tenant": "acme", "quota": 25, "kill_switch": 0}, "kill_switch"),
        (_state(25, tenant="all"), "tenant"),
        (_state(25, tenant="Acme"), "tenant"),
        (_state(25, tenant="acme\0x"), "tenant"),
        ([("tenant", "acme")], "OperateState"),
        (None, "OperateState"),
    ],
)
def test_bad_state_is_refused_with_a_value_error_naming_the_field(state: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        should_dispatch(state, "N-1")


@pytest.mark.parametrize("notice_id", ["", 42, None, b"N-1", "N-\udc80"])
def test_bad_notice_id_is_refused(notice_id: Any) -> None:
    with pytest.raises(ValueError, match="notice_id"):
        should_dispatch(_state(100), notice_id)


def test_the_dispatch_check_imports_no_pydantic() -> None:
    code = "import sys, pytest_canary.dispatch; print(sorted(m for m in sys.modules if m.startswith('pydantic')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"


def test_package_exports_should_dispatch() -> None:
    assert pytest_canary.should_dispatch is should_dispatch


def test_dispatching_from_a_dict_imports_no_pydantic() -> None:
    code = (
        "import sys\n"
        "from pytest_canary import should_dispatch\n"
        "should_dispatch({'tenant': 'acme', 'quota': 50, 'kill_switch': False}, 'N-1')\n"
        "assert 'pydantic' not in sys.modules, 'pydantic was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
