"""Where dispatch events come from: a JSONL file, a SQLite database or a PostgreSQL server.

A source is named by a URL (``file:///x.jsonl`` or a plain path, ``sqlite:///x.sqlite``,
``postgresql://user@host/db``) and counts one tenant's events into a
:class:`~pytest_canary.kpi.events.Tally`. The databases aggregate in SQL (``GROUP BY`` over the
tenant's rows, served by the index on ``(tenant, event, ts)``), so no row crosses into Python.
The table schemas are in the SQLite and PostgreSQL modules and in docs/kpi-engine.md.

A source is one module of this package with a class that has ``location``, ``shown`` and
``tally`` (:class:`Source`), and class attributes saying which URL schemes, ``scheme:path``
prefixes and file name endings are its; adding one is that module and one line in
:data:`SOURCES`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Protocol
from urllib.parse import unquote, urlsplit

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.kpi.cohorts import QuotaTimeline
from pytest_canary.kpi.events import Tally, Window
from pytest_canary.kpi.jsonl import Progress
from pytest_canary.kpi.sources.jsonl import JsonlSource
from pytest_canary.kpi.sources.postgresql import PostgresSource
from pytest_canary.kpi.sources.sqlite import SqliteSource
from pytest_canary.kpi.sources.table import redact


class Source(Protocol):
    """Where a tenant's dispatch events are, and how to count them."""

    kind: ClassVar[str]
    url_schemes: ClassVar[tuple[str, ...]]
    """``scheme://...`` URLs this source takes whole (a database's connection URL)."""
    path_schemes: ClassVar[tuple[str, ...]]
    """``scheme:path`` prefixes whose path is a file of this source."""
    suffixes: ClassVar[tuple[str, ...]]
    """File name endings that say a plain path is a file of this source."""

    def __init__(self, location: str) -> None: ...

    @property
    def location(self) -> str:
        """A file's path, or a database's connection URL."""
        ...

    @property
    def shown(self) -> str:
        """The source for messages and the KPI file: a password is never shown."""
        ...

    def tally(
        self,
        tenant: str,
        window: Window,
        progress: Progress | None = None,
        timeline: QuotaTimeline | None = None,
    ) -> Tally:
        """Count ``tenant``'s events against ``window``, split by cohort when a ``timeline`` is
        given; :class:`~pytest_canary.kpi.events.EventError` on bad input."""
        ...


SOURCES: tuple[type[Source], ...] = (PostgresSource, SqliteSource, JsonlSource)
"""The sources ``--source`` can name; the first whose suffix matches a ``file:`` path wins."""
DEFAULT_FILE_SOURCE: type[Source] = JsonlSource
"""What a ``file:`` URL without a known ending is."""
_GENERIC_FILE_SCHEME = "file"


def parse_source(text: str, cwd: Path) -> Source:
    """A :class:`Source` from a URL or a plain path; :class:`CanaryUsageError` when unclear."""
    if not text.strip():
        raise CanaryUsageError("--source: empty; give a file path or a URL")
    lowered = text.lower()
    for source in SOURCES:
        if lowered.startswith(tuple(f"{scheme}://" for scheme in source.url_schemes)):
            return source(text)
    scheme, _, rest = text.partition(":")
    owner = next((s for s in SOURCES if scheme.lower() in s.path_schemes), None)
    if owner is not None:
        path = _url_path(text, rest)
        if scheme.lower() == _GENERIC_FILE_SCHEME:
            owner = _by_suffix(path) or DEFAULT_FILE_SOURCE
        return owner(str(cwd / path))
    if "://" in text:
        raise CanaryUsageError(
            f"--source {redact(text)!r}: unknown scheme; use a JSONL path,"
            " file:///path.jsonl, sqlite:///path.sqlite or postgresql://user@host/db"
        )
    path = Path(text)
    by_suffix = _by_suffix(path)
    if by_suffix is None:
        raise CanaryUsageError(
            f"--source {text!r}: cannot tell the kind of file from its name; name it *.jsonl or"
            " *.sqlite, or write file:///path or sqlite:///path"
        )
    return by_suffix(str(cwd / path))


def _by_suffix(path: Path) -> type[Source] | None:
    name = path.name.lower()
    return next((s for s in SOURCES if s.suffixes and name.endswith(s.suffixes)), None)


def _url_path(text: str, rest: str) -> Path:
    """The path of ``file:`` and ``sqlite:`` URLs: ``///abs``, ``////abs`` or a relative ``:rel``."""
    if rest.startswith("//"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise CanaryUsageError(f"--source {text!r}: a file URL names no host; use ///path")
        if parts.query or parts.fragment:
            raise CanaryUsageError(f"--source {text!r}: a file URL takes no ?query or #fragment")
        raw = "/" + unquote(parts.path).lstrip("/")
    else:
        raw = unquote(rest)
    if not raw.strip("/"):
        raise CanaryUsageError(f"--source {text!r}: names no file")
    return Path(raw)
