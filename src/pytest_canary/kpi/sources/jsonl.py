"""The JSONL source: a file of one event per line, read by :mod:`pytest_canary.kpi.jsonl`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pytest_canary.kpi.cohorts import QuotaTimeline
from pytest_canary.kpi.events import Tally, Window
from pytest_canary.kpi.jsonl import Progress, tally_jsonl


@dataclass(frozen=True)
class JsonlSource:
    """A JSONL file of dispatch events."""

    location: str
    kind: ClassVar[str] = "jsonl"
    url_schemes: ClassVar[tuple[str, ...]] = ()
    path_schemes: ClassVar[tuple[str, ...]] = ("file",)
    suffixes: ClassVar[tuple[str, ...]] = (".jsonl", ".ndjson", ".json")

    @property
    def shown(self) -> str:
        return f"file://{Path(self.location)}"

    def tally(
        self,
        tenant: str,
        window: Window,
        progress: Progress | None = None,
        timeline: QuotaTimeline | None = None,
    ) -> Tally:
        return tally_jsonl(Path(self.location), tenant, window, progress, timeline)
