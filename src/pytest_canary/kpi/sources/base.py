"""What every source class has: its location, the names that select it, and how it is shown."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass(frozen=True)
class SourceBase:
    """A source's location and the URL schemes, ``scheme:path`` prefixes and file name endings
    that are its (see :class:`~pytest_canary.kpi.sources.Source`); a subclass adds ``tally``."""

    location: str
    kind: ClassVar[str]
    url_schemes: ClassVar[tuple[str, ...]] = ()
    path_schemes: ClassVar[tuple[str, ...]] = ()
    suffixes: ClassVar[tuple[str, ...]] = ()

    @property
    def shown(self) -> str:
        """A file as ``<its scheme>://<path>``; a source with a secret in its URL hides it."""
        return f"{self.path_schemes[0]}://{Path(self.location)}"
