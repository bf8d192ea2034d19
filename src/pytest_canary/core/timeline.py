"""A tenant's timeline as data: what ``canary history`` shows, built by ``ops/history.py``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One entry of the timeline."""

    serial: int
    at: str
    event: str  # the decision word for a rollout (GO_25, BACKOUT, ...), else KILL, PAUSE ...
    by: str | None
    why: str
    trace_id: str | None
    from_quota: int
    to_quota: int
    kill_switch: bool
    audited: bool  # an audit line records this change


@dataclass
class Timeline:
    tenant: str
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # empty: consistent

    @property
    def consistent(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "events": [asdict(event) for event in self.events],
            "consistent": self.consistent,
            "problems": list(self.problems),
        }
