"""Should this notice take the new dispatch path? The dispatch service asks once per notice.

The answer depends only on the tenant, the notice id, the quota and the kill switch, so every
worker (and every language, see ``docs/dispatch-api.md``) agrees on it without talking to the
others, and a notice inside the canary at 25 % stays inside at 50 % (the bucket does not depend
on the quota). This module imports no pydantic when it is given a plain dict: it is called on
the hot path of a service that may not otherwise load pytest-canary's models.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pytest_canary.core.tenants import TENANT_PATTERN, is_tenant_id

if TYPE_CHECKING:
    from pytest_canary.core.models import OperateState

__all__ = ["BUCKETS", "bucket_of_utf8", "dispatch_bucket", "should_dispatch"]

BUCKETS = 100
"""Buckets are whole percent: a quota of 25 admits buckets 0 to 24."""


def dispatch_bucket(tenant: str, notice_id: str) -> int:
    """The notice's bucket in [0, 100): the first four bytes of
    ``sha256(utf8(tenant + "\\0" + notice_id))`` as a big-endian unsigned integer, modulo 100.
    """
    return bucket_of_utf8(f"{tenant}\0{notice_id}".encode())


def bucket_of_utf8(joined: bytes) -> int:
    """:func:`dispatch_bucket` of the UTF-8 bytes ``tenant + "\\0" + notice_id``, already joined
    (the KPI engine reads notice ids as bytes and assigns millions of them a day)."""
    return int.from_bytes(hashlib.sha256(joined).digest()[:4], "big") % BUCKETS


def should_dispatch(state: OperateState | Mapping[str, Any], notice_id: str) -> bool:
    """True when ``notice_id`` goes through the new dispatch code for ``state``'s tenant.

    ``state`` is an :class:`~pytest_canary.core.models.OperateState` or a mapping with at least
    ``tenant``, ``quota`` and ``kill_switch`` (other keys, such as a whole parsed
    ``operate_state.json``, are ignored). Bad input raises :class:`ValueError`, never a guess:
    a dispatcher that cannot read its state must not send on the canary path by accident.
    """
    tenant, quota, kill_switch = _read_state(state)
    if not isinstance(notice_id, str) or not notice_id:
        raise ValueError(f"notice_id must be a non-empty string, got {notice_id!r}")
    if kill_switch or quota <= 0:
        return False
    try:
        return dispatch_bucket(tenant, notice_id) < quota
    except UnicodeEncodeError:
        raise ValueError("notice_id is not encodable as UTF-8 (lone surrogate)") from None


def _read_state(state: object) -> tuple[str, int, bool]:
    if isinstance(state, Mapping):
        return _read_mapping(state)
    models = sys.modules.get("pytest_canary.core.models")
    # An OperateState can only exist once its module was imported, so this check never loads it.
    if models is not None and isinstance(state, models.OperateState):
        return state.tenant, state.quota, state.kill_switch
    raise ValueError(
        f"state must be an OperateState or a dict with tenant, quota and kill_switch, "
        f"not {type(state).__name__}"
    )


def _read_mapping(state: Mapping[Any, Any]) -> tuple[str, int, bool]:
    missing = [key for key in ("tenant", "quota", "kill_switch") if key not in state]
    if missing:
        raise ValueError(f"state: missing field(s) {', '.join(missing)}")
    tenant, quota, kill_switch = state["tenant"], state["quota"], state["kill_switch"]
    if not is_tenant_id(tenant):
        raise ValueError(
            f"state: field tenant: {tenant!r} is not a tenant id ({TENANT_PATTERN}, not 'all')"
        )
    if isinstance(quota, float) and math.isfinite(quota) and quota.is_integer():
        quota = int(quota)
    if isinstance(quota, bool) or not isinstance(quota, int) or not 0 <= quota <= 100:
        raise ValueError(f"state: field quota: {quota!r} is not a whole number in [0, 100]")
    if not isinstance(kill_switch, bool):
        raise ValueError(f"state: field kill_switch: {kill_switch!r} is not true or false")
    return tenant, quota, kill_switch
