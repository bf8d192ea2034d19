"""The registry of gate kinds: which kind a gate-file table asks for, and its judge.

A plain gate compares one figure with its threshold (the engine does that). Every other kind is
one module here, holding its parameters and one pure evaluation function, plus one line in
:data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.kinds import relative, wilson
from pytest_canary.core.kinds.base import TENANT, GateInputs, GateKind, KindParams, rate_counts

__all__ = ["KINDS", "TENANT", "GateInputs", "GateKind", "KindParams", "rate_counts", "select"]

KINDS: dict[str, GateKind] = {kind.name: kind for kind in (wilson.KIND, relative.KIND)}


def select(values: Mapping[str, Any], where: str) -> GateKind | None:
    """The kind a gate's merged values ask for; ``None`` for a plain threshold gate.

    A key that belongs to no chosen kind is a usage error, so a ``max_ratio`` without
    ``compare = "control"`` is never silently ignored.
    """
    chosen = [kind for kind in KINDS.values() if values.get(kind.selector[0]) == kind.selector[1]]
    if len(chosen) > 1:
        given = " and ".join(f"{k.selector[0]} = {k.selector[1]!r}" for k in chosen)
        raise CanaryUsageError(f"{where}: {given} cannot be combined")
    kind = chosen[0] if chosen else None
    allowed = kind.keys if kind is not None else frozenset()
    for other in KINDS.values():
        for key in sorted(other.keys - allowed):
            if key in values:
                raise CanaryUsageError(
                    f"{where}: {key} needs {other.selector[0]} = {other.selector[1]!r}"
                )
    return kind
