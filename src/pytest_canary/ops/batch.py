"""Applying the decisions of many tenants in one process: ``canary rollout --tenant all``.

A loop over the single-tenant rollout (:func:`rollout_tenant`, the same function that
``canary rollout --tenant T`` calls), so every check of :func:`rollout.apply_decision` holds for
each tenant, and each tenant is applied under its own state lock. A tenant that cannot be applied
(refused, unknown, unreadable decision) is recorded as ``refused`` with its one-line reason and
the loop goes on: one tenant never blocks another.

With ``decisions`` (a folder of ``<tenant>/<YYYY-MM-DD>_decision.json``, as the gate jobs of the
daily workflow upload them), each decision is first copied into its tenant's ``canary/`` folder,
where ``canary decide`` would have written it, and applied from there: the rollout only ever reads
a decision from inside the root.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pytest_canary.core.errors import CanaryUsageError, RolloutRefused
from pytest_canary.core.models import DECISION_PATTERN
from pytest_canary.core.records import RolloutLog
from pytest_canary.core.tenants import validate_tenant_id
from pytest_canary.ops import rollout
from pytest_canary.ops.verify import verify_decision
from pytest_canary.store import files
from pytest_canary.store.atomic import write_atomic
from pytest_canary.store.gates import GateConfig
from pytest_canary.store.layout import (
    DECISION_FILE,
    DECISION_SUFFIX,
    TenantPaths,
    contained,
    list_tenants,
    name_date,
)
from pytest_canary.store.settings import today_berlin

Outcome = Literal["applied", "unchanged", "refused"]


@dataclass(frozen=True)
class TenantResult:
    """What the batch did for one tenant; one line of the ``--report`` file."""

    tenant: str
    date: str | None
    decision: str | None
    outcome: Outcome
    changed: bool
    reason: str


@dataclass(frozen=True)
class Options:
    """What every tenant's rollout of one batch shares."""

    root: Path
    config: GateConfig
    now: dt.datetime
    max_age: dt.timedelta
    lock_timeout: float


def rollout_tenant(options: Options, tenant: str, decision_file: Path | None) -> RolloutLog:
    """Apply one tenant's decision (``decision_file``, else its newest): ``canary rollout -t T``.

    Raises :class:`RolloutRefused` or :class:`CanaryUsageError` with one line, having written
    nothing.
    """
    paths = TenantPaths.open(options.root, validate_tenant_id(tenant))
    path = (
        rollout.newest_decision_file(paths, today_berlin(options.now))
        if decision_file is None
        else contained(options.root, decision_file)
    )
    decision = rollout.load_decision(path)
    gates = options.config.for_tenant(tenant, os.environ)
    return rollout.apply_decision(
        paths,
        decision,
        steps=list(gates.steps),
        verify=lambda made: verify_decision(paths, made, gates),
        now=options.now,
        max_age=options.max_age,
        lock_timeout=options.lock_timeout,
    )


def rollout_all(
    options: Options, tenants: Sequence[str] | None, decisions: Path | None
) -> list[TenantResult]:
    """Apply each tenant's decision, in tenant order; ``tenants=None`` means every tenant.

    Without ``decisions`` the tenants are those under the root, each with its newest decision;
    with it, those that have a decision in that folder.
    """
    if decisions is not None and not decisions.is_dir():
        raise CanaryUsageError(f"--decisions {decisions}: no such folder")
    results = []
    for tenant, source in _selection(options.root, tenants, decisions):
        results.append(_one(options, tenant, source))
    return results


def _selection(
    root: Path, tenants: Sequence[str] | None, decisions: Path | None
) -> Iterator[tuple[str, Path | None]]:
    if decisions is None:
        for tenant in tenants if tenants is not None else list_tenants(root):
            yield tenant, None
        return
    wanted = set(tenants) if tenants is not None else None
    for folder in sorted(decisions.iterdir()):
        if wanted is not None and folder.name not in wanted:
            continue
        files = sorted(folder.glob(f"*{DECISION_SUFFIX}")) if folder.is_dir() else [folder]
        for file in files:
            yield folder.name, file


def _one(options: Options, tenant: str, source: Path | None) -> TenantResult:
    date = word = None
    try:
        paths = TenantPaths.open(options.root, validate_tenant_id(tenant))
        today = today_berlin(options.now)
        target = (
            rollout.newest_decision_file(paths, today) if source is None else _import(paths, source)
        )
        day = name_date(DECISION_FILE, target.name)
        date, word = (day.isoformat() if day else None), _word(target)
        log = rollout_tenant(options, tenant, target)
    except (RolloutRefused, CanaryUsageError) as exc:
        return TenantResult(tenant, date, word, "refused", False, str(exc))
    outcome: Outcome = "applied" if log.changed else "unchanged"
    return TenantResult(
        tenant, log.date.isoformat(), log.decision, outcome, log.changed, log.reasons[0]
    )


def _import(paths: TenantPaths, source: Path) -> Path:
    """Copy a downloaded decision (and its Markdown) to where ``canary decide`` writes it."""
    day = name_date(DECISION_FILE, source.name)
    if day is None or source.is_symlink() or not source.is_file():
        raise RolloutRefused(f"{source}: not a <YYYY-MM-DD>_decision.json file; skipped")
    copies = [(source, paths.decision_json(day))]
    markdown = source.with_suffix(".md")
    if markdown.is_file() and not markdown.is_symlink():
        copies.append((markdown, paths.decision_md(day)))
    for origin, target in copies:
        try:
            write_atomic(paths.check(target), files.read_raw(origin), label="decision")
        except OSError as exc:
            raise RolloutRefused(
                f"{paths.tenant}: cannot copy {origin} into {target} ({exc.strerror or exc})"
            ) from None
    return paths.decision_json(day)


def _word(path: Path) -> str | None:
    """The decision word, read before the rollout so that a refusal can still name it."""
    try:
        data = json.loads(files.read_raw(path))
    except (OSError, ValueError):
        return None
    word = data.get("decision") if isinstance(data, dict) else None
    return word if isinstance(word, str) and re.fullmatch(DECISION_PATTERN, word) else None


def write_report(path: Path, results: Sequence[TenantResult]) -> None:
    """One JSON object per line and tenant, for scripts (the daily workflow's incidents)."""
    text = "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in results)
    path.write_text(text, encoding="utf-8")


def summary_line(results: Sequence[TenantResult]) -> str:
    counts = {o: sum(r.outcome == o for r in results) for o in ("applied", "unchanged", "refused")}
    return (
        f"canary rollout: {len(results)} tenant(s): {counts['applied']} applied,"
        f" {counts['unchanged']} unchanged, {counts['refused']} refused"
    )
