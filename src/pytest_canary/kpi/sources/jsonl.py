"""The JSONL source: a file of one event per line, read by :mod:`pytest_canary.kpi.jsonl`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pytest_canary.kpi.cohorts import QuotaTimeline
from pytest_canary.kpi.events import Tally, Window
from pytest_canary.kpi.jsonl import Progress, tally_jsonl
from pytest_canary.kpi.sources.base import SourceBase


@dataclass(frozen=True)
class JsonlSource(SourceBase):
    """A JSONL file of dispatch events."""

    kind: ClassVar[str] = "jsonl"
    path_schemes: ClassVar[tuple[str, ...]] = ("file",)
    suffixes: ClassVar[tuple[str, ...]] = (".jsonl", ".ndjson", ".json")

    def tally(
        self,
        tenant: str,
        window: Window,
        progress: Progress | None = None,
        timeline: QuotaTimeline | None = None,
    ) -> Tally:
        return tally_jsonl(Path(self.location), tenant, window, progress, timeline)
