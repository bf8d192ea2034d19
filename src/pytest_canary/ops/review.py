"""Recording a review: the re-entry after a BACKOUT or a kill, written like every state change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pytest_canary.core.errors import RolloutRefused
from pytest_canary.core.models import OperateState
from pytest_canary.core.transitions import review_text, reviewed
from pytest_canary.ops.rollout import DEFAULT_STEPS, locked_state, require_aware, why, write_state
from pytest_canary.store.audit import append_audit
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.lock import LOCK_TIMEOUT
from pytest_canary.store.logs import brief


def record_review(
    paths: TenantPaths,
    *,
    by: str,
    note: str,
    now: dt.datetime,
    lock_timeout: float = LOCK_TIMEOUT,
    steps: Sequence[int] = DEFAULT_STEPS,
) -> OperateState:
    """Record a review (docs/contract.md: re-entry after a BACKOUT): the next GO may clear the kill switch.

    ``by`` and ``note`` must each be one non-empty line without an e-mail address (usage error,
    checked before anything is touched). A state the decision and the rollout would not accept
    (corrupt, a quota off ``steps``, at odds with its history) is refused; a missing one is the
    initial state at ``steps[0]``. Writes the state (serial + 1, a ``REVIEW`` history entry),
    then a ``REVIEW`` audit line.
    """
    require_aware(now)
    who, text = review_text(by, note)
    with locked_state(paths, steps, now, lock_timeout) as held:
        new = reviewed(held.state, by=who, note=text, now=now)
        write_state(paths, new)
        fields = {
            "by": who,
            "note": text,
            "serial": new.serial,
            "after": brief(new.snapshot),
        }
        try:
            append_audit(paths, "REVIEW", fields, now)
        except OSError as exc:
            raise RolloutRefused(
                f"{paths.tenant}: the review was recorded in the state (serial {new.serial}) but"
                f" its audit line could not be written ({why(exc)})"
            ) from None
        return new
