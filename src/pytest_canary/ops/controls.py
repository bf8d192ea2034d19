"""The operator's controls: kill, pause and resume a tenant by hand, without a decision.

Written like a rollout, with its helpers (``rollout.py`` stays the one place that knows how the
state file is read and written): under the tenant's lock the state (serial + 1, a history entry),
then the control log of the day (JSON and Markdown), then an audit line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pytest_canary.core.errors import RolloutRefused
from pytest_canary.core.models import ControlEvent
from pytest_canary.core.records import ControlLog
from pytest_canary.core.transitions import (
    killed,
    paused,
    resumed,
    review_text,
)
from pytest_canary.ops.rollout import (
    DEFAULT_STEPS,
    locked_state,
    require_aware,
    why,
    write_state,
)
from pytest_canary.render.controls import control_markdown
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.lock import LOCK_TIMEOUT
from pytest_canary.store.logs import record_action
from pytest_canary.store.settings import BERLIN


def apply_control(
    paths: TenantPaths,
    action: ControlEvent,
    *,
    by: str,
    note: str,
    now: dt.datetime,
    trace: str,
    lock_timeout: float = LOCK_TIMEOUT,
    steps: Sequence[int] = DEFAULT_STEPS,
) -> ControlLog:
    """Kill, pause or resume one tenant by hand, without a decision, under the state lock.

    Recorded like a rollout: the state (serial + 1, a history entry), then the control log
    (JSON and Markdown) and an audit line. Already so (killed, paused, not paused): the state is
    not written, ``changed=false``, and the log and audit line still record the attempt. ``by``
    and ``note`` are validated as for a review, before anything is touched.
    """
    require_aware(now)
    who, text = review_text(by, note)
    with locked_state(paths, steps, now, lock_timeout) as held:
        current = held.state
        if action == "KILL":
            new = killed(current, steps, by=who, note=text, now=now, trace=trace)
        elif action == "PAUSE":
            new = paused(current, by=who, note=text, now=now, trace=trace)
        else:
            new = resumed(current, by=who, note=text, now=now, trace=trace)
        if new is not None:
            write_state(paths, new)
        entry = new.history[-1] if new is not None else None
        log = ControlLog(
            tenant=paths.tenant,
            date=now.astimezone(BERLIN).date(),
            action=action,
            trace_id=trace,
            at=now,
            by=who,
            note=text,
            outcome="applied" if new is not None else "unchanged",
            changed=new is not None,
            before=current.snapshot,
            after=(new or current).snapshot,
            reasons=[entry.reasons[0] if entry else _UNCHANGED[action]],
        )
        _record_control(paths, log)
        return log


_UNCHANGED = {
    "KILL": "already killed: kill switch on at the first step, no review; nothing to do",
    "PAUSE": "already paused; nothing to do",
    "RESUME": "not paused; nothing to do",
}


def _record_control(paths: TenantPaths, log: ControlLog) -> None:
    try:
        record_action(paths, log, lambda: control_markdown(log), {"by": log.by, "note": log.note})
    except OSError as exc:
        done = f"the state was written (serial {log.after.serial})" if log.changed else "unchanged"
        raise RolloutRefused(
            f"{paths.tenant}: {log.action.lower()}: {done}, but its log or audit line could not"
            f" be written ({why(exc)})"
        ) from None
