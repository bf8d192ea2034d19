"""Recording a decision: its JSON and Markdown files and its audit line, under the lock."""

from __future__ import annotations

from pytest_canary.core import jsonfile
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.records import Decision
from pytest_canary.store.atomic import sweep_temps, write_atomic
from pytest_canary.store.audit import append_audit
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.lock import LOCK_TIMEOUT, state_lock


def record_decision(
    paths: TenantPaths,
    decision: Decision,
    markdown: str,
    *,
    lock_timeout: float = LOCK_TIMEOUT,
) -> None:
    """Write ``<date>_decision.json`` and ``.md`` atomically, then a ``DECISION`` audit line.

    Under the tenant lock, so the audit chain is extended by one writer at a time. Not fsynced: a
    decision changes no state and the same inputs give it again (same ``decision_id``); the rename
    keeps each file whole, and the rollout's fsync of the audit log flushes this line too.
    """
    if decision.tenant != paths.tenant:
        raise CanaryUsageError(
            f"decision for tenant {decision.tenant!r} cannot be recorded under {paths.dir}"
        )
    with state_lock(paths, lock_timeout):
        paths.check(paths.canary_dir)
        json_path = paths.check(paths.decision_json(decision.date))
        md_path = paths.check(paths.decision_md(decision.date))
        for target in (json_path, md_path):
            sweep_temps(target)
        write_atomic(json_path, jsonfile.model_bytes(decision), label="decision", durable=False)
        write_atomic(md_path, markdown.encode(), label="decision-md", durable=False)
        append_audit(
            paths,
            "DECISION",
            {
                "date": decision.date.isoformat(),
                "decision": decision.decision,
                "decision_id": decision.decision_id,
                "trace_id": decision.trace_id,
                "reasons": list(decision.reasons),
            },
            decision.created_at,
            durable=False,
        )
