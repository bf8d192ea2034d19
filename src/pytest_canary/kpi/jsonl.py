"""Read dispatch events from a JSONL file: one JSON object per line, streamed in 4 MiB blocks.

Two readers give the same counts. The fast one handles a block whose every line is in the
canonical form (the key order of :func:`event_line`, no spaces, one offset in the whole block):
one regular expression checks every line and yields a short key per line (tenant, event type and
the time to the minute, which is all the window needs since it starts and ends on whole minutes),
and a ``Counter`` counts the keys in C. Any other block (keys in another order, spaces, escapes,
extra keys, naive times, a bad line) goes through ``json.loads`` line by line, which also names
the first bad line. Memory stays flat: one block, and at most ~130,000 distinct keys not yet
classified (tenants x event types x minutes; a day of one tenant has 11,520).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_canary.core.jsonfile import STRICT_DECODER
from pytest_canary.core.tenants import is_tenant_id
from pytest_canary.dispatch import bucket_of_utf8
from pytest_canary.kpi.cohorts import QuotaTimeline, check_cohort
from pytest_canary.kpi.events import (
    EVENT_TYPES,
    EventError,
    Tally,
    Window,
    check_event,
    parse_ts,
)
from pytest_canary.store import files

BLOCK = 1 << 22
MAX_LINE = 1 << 22
_PENDING_LIMIT = 1 << 17

_S = rb'[^"\\\x00-\x1f]'  # a character of a JSON string that needs no escape
_FAST = re.compile(
    rb'(?m)^\{"tenant":"(' + _S + rb'++","event":"' + _S + rb'++","ts":"'
    rb"\d{4}-\d\d-\d\dT\d\d:\d\d):[0-5]\d(?:\.\d++)?+(?:Z|[+-]\d\d:\d\d)?+"
    rb'","notice_id":"' + _S + rb'++"(?:,"recipient":(?:"' + _S + rb'*+"|null))?+\}\n'
)
# The same lines, with the notice id as a second group: for splitting the counts by cohort.
_FAST_COHORT = re.compile(
    _FAST.pattern.replace(rb'","notice_id":"' + _S + rb"++", rb'","notice_id":"(' + _S + rb"++)")
)
_START = b'{"tenant":"'
_NOTICE = b'","notice_id":"'
_EVENT_SEP = b'","event":"'
_TS_SEP = b'","ts":"'

Progress = Callable[[int], None]
_OTHER = ("", 0, 0)
"""The classification of another tenant's key: not counted per cohort."""


def event_line(
    tenant: str, event: str, ts: str, notice_id: str, recipient: str | None = None
) -> str:
    """One event in the canonical form the fast reader takes (with its newline)."""
    fields: dict[str, Any] = {"tenant": tenant, "event": event, "ts": ts, "notice_id": notice_id}
    if recipient is not None:
        fields["recipient"] = recipient
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False) + "\n"


def tally_jsonl(
    path: Path,
    tenant: str,
    window: Window,
    progress: Progress | None = None,
    timeline: QuotaTimeline | None = None,
) -> Tally:
    """Count ``tenant``'s events in ``path``; every line of the file must be a valid event.

    With a ``timeline`` the counts are also split by cohort (:mod:`pytest_canary.kpi.cohorts`).
    """
    try:
        return _read(path, _Reader(tenant, window, fast=True, timeline=timeline), progress)
    except _BadKey:
        # A canonical line holds a bad value (an unknown event, no such day): read it all again
        # line by line, which names the first bad line.
        return _read(path, _Reader(tenant, window, fast=False, timeline=timeline), progress)


def _read(path: Path, reader: _Reader, progress: Progress | None) -> Tally:
    try:
        handle = os.fdopen(files.open_regular(path), "rb")
    except OSError as exc:
        raise EventError(f"{path}: {files.refusal(exc)}") from None
    with handle:
        rest = b""
        while True:
            try:
                block = handle.read(BLOCK)
            except OSError as exc:
                raise EventError(f"{path}: cannot be read ({exc.strerror})") from None
            if not block:
                break
            data = rest + block
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) > MAX_LINE:
                raise EventError(f"line {reader.lines + 1}: longer than {MAX_LINE >> 20} MiB")
            rest = data[cut:]
            if cut:
                reader.feed(data, cut)
                if progress is not None:
                    progress(reader.tally.events_read)
        if rest:
            reader.feed(rest + b"\n", len(rest) + 1)
    reader.flush()
    return reader.tally


class _BadKey(Exception):
    """A line the fast reader took holds a value it cannot count."""


class _Reader:
    def __init__(
        self, tenant: str, window: Window, *, fast: bool, timeline: QuotaTimeline | None
    ) -> None:
        self.tenant = tenant
        self.timeline = timeline
        # Keys already classified, per UTC offset: (event, bucket, quota in force), or _OTHER.
        self._known: dict[bytes, dict[bytes, tuple[str, int, int]]] = {}
        self.tenant_key = tenant.encode()
        self.window = window
        self.fast = fast
        self.tally = Tally()
        self.lines = 0
        # Keys counted but not yet classified, per UTC offset; flushed before they grow too many.
        self._pending: dict[bytes, Counter[bytes]] = {}
        self._pending_keys = 0
        self._tenants: set[str] = set()

    def feed(self, data: bytes, end: int) -> None:
        """Count the complete lines of ``data[:end]`` (which ends with a newline)."""
        n = data.count(b"\n", 0, end)
        if not (self.fast and self._fast(data, end, n)):
            self._slow(data[:end])
        self.lines += n

    # --- the fast reader ---------------------------------------------------------------------

    def _fast(self, data: bytes, end: int, n: int) -> bool:
        """Count the canonical lines of ``data[:end]``; ``False`` (nothing counted) otherwise."""
        if not data.startswith(_START):  # not canonical: spare the regular expression's scan
            return False
        if not data.isascii():
            try:
                data[:end].decode("utf-8")
            except UnicodeDecodeError:
                return False
        pairs: list[tuple[bytes, bytes]] = []
        if self.timeline is None:
            keys = _FAST.findall(data, 0, end)
        else:
            pairs = _FAST_COHORT.findall(data, 0, end)
            keys = [key for key, _ in pairs]
        if len(keys) != n:
            return False
        offset = _first_offset(data)
        # Strings hold no '"', so the literal occurs once per line, right after the time's offset.
        if offset is None or data.count(offset + _NOTICE, 0, end) != n:
            return False
        pending = self._pending.get(offset)
        if pending is None:
            pending = self._pending[offset] = Counter()
        before = len(pending)
        pending.update(keys)  # counts in C
        self._pending_keys += len(pending) - before
        if pairs:
            self._split_fast(pairs, offset)
        self.tally.events_read += n
        if self._pending_keys > _PENDING_LIMIT:
            self.flush()
        return True

    def _split_fast(self, pairs: list[tuple[bytes, bytes]], offset: bytes) -> None:
        """Count our tenant's canonical lines per cohort: the notice's dispatch bucket against
        the quota in force in the line's minute (cached per key, as the minute is in the key)."""
        assert self.timeline is not None
        known = self._known.setdefault(offset, {})
        prefix = self.tenant_key + b"\0"
        canary: Counter[tuple[str, int]] = Counter()
        control: Counter[tuple[str, int]] = Counter()
        for key, notice in pairs:
            seen = known.get(key)
            if seen is None:
                seen = known[key] = self._key_quota(key, offset)
            if seen is _OTHER:
                continue
            event, bucket, quota = seen
            if quota and bucket_of_utf8(prefix + notice) < quota:
                canary[(event, bucket)] += 1
            else:
                control[(event, bucket)] += 1
        split = self.tally.split()
        for name, counts in (("canary", canary), ("control", control)):
            split[name].counts.update(counts)

    def _key_quota(self, key: bytes, offset: bytes) -> tuple[str, int, int]:
        """(event, bucket, quota in force) of our tenant's key; ``_OTHER`` for another's."""
        assert self.timeline is not None
        found = self._classify(key, offset)
        if found is None:
            return _OTHER
        return (*found, self.timeline.quota_at(_minute(key, offset)))

    def flush(self) -> None:
        """Classify the pending keys into the tally; :class:`_BadKey` when one is not valid."""
        for offset, pending in self._pending.items():
            for key, count in pending.items():
                found = self._classify(key, offset)
                if found is not None:
                    self.tally.add(found[0], found[1], count)
        self._pending.clear()
        self._pending_keys = 0

    def _classify(self, key: bytes, offset: bytes) -> tuple[str, int] | None:
        """(event, bucket) of our tenant's key, ``None`` for another tenant's."""
        tenant, _, rest = key.partition(_EVENT_SEP)
        event, _, minute = rest.partition(_TS_SEP)
        try:
            if not is_tenant_id(tenant.decode()):
                raise ValueError("not a tenant id")
            name = check_event(event.decode())
            instant = dt.datetime.fromisoformat((minute + offset).decode())
        except ValueError:
            raise _BadKey from None
        if tenant != self.tenant_key:
            return None
        # The window starts and ends on whole minutes, so the minute decides the bucket.
        return name, self.window.bucket(instant)

    # --- the general reader ------------------------------------------------------------------

    def _slow(self, chunk: bytes) -> None:
        tenant, tenants, bucket = self.tenant, self._tenants, self.window.bucket
        timeline = self.timeline
        found: list[tuple[str, int]] = []
        number, read = self.lines, 0
        for raw in chunk.split(b"\n")[:-1]:
            number += 1
            if not raw.strip():
                continue
            line = _parse_line(raw, number, tenants)
            read += 1
            if line.tenant == tenant:
                where = bucket(line.instant)
                found.append((line.event, where))
                if timeline is not None:
                    cohort = line.cohort or _derived(timeline, line, number)
                    self.tally.split()[cohort].add(line.event, where)
        self.tally.counts.update(found)
        self.tally.events_read += read


def _first_offset(chunk: bytes) -> bytes | None:
    """The UTC offset (``Z`` or ``+HH:MM``) of the first line's time; ``None`` when it has none."""
    end = chunk.find(_NOTICE)
    if chunk[end - 1 : end] == b"Z":
        return b"Z"
    offset = chunk[end - 6 : end]
    return offset if offset[:1] in (b"+", b"-") else None


@dataclass(frozen=True)
class _Line:
    event: str
    tenant: str
    instant: dt.datetime
    notice: str
    cohort: str | None


def _derived(timeline: QuotaTimeline, line: _Line, number: int) -> str:
    try:
        return timeline.cohort(line.notice, line.instant)
    except UnicodeEncodeError:
        raise EventError(f"line {number}: field notice_id: not encodable as UTF-8") from None


def _minute(key: bytes, offset: bytes) -> dt.datetime:
    """The aware time of a fast-reader key (its minute)."""
    return dt.datetime.fromisoformat((key.rpartition(_TS_SEP)[2] + offset).decode())


def _parse_line(raw: bytes, number: int, tenants: set[str]) -> _Line:
    """One line's event, tenant, time, notice and cohort, or :class:`EventError` naming the line
    and field.

    ``tenants`` holds the ids already found valid. Messages never quote the line: it may hold a
    recipient's address.
    """
    try:
        obj = STRICT_DECODER.decode(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EventError(f"line {number}: not UTF-8 (byte {exc.start + 1})") from None
    except json.JSONDecodeError as exc:
        raise EventError(f"line {number}: not JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:
        raise EventError(f"line {number}: {exc}") from None
    except RecursionError:
        raise EventError(f"line {number}: nested too deeply") from None
    try:
        tenant, event, ts = obj["tenant"], obj["event"], obj["ts"]
        notice, recipient = obj["notice_id"], obj.get("recipient")
    except (KeyError, TypeError, AttributeError):
        raise EventError(f"line {number}: {_missing(obj)}") from None
    if tenant.__class__ is not str or tenant not in tenants:  # a list or dict is unhashable
        if not is_tenant_id(tenant):
            raise EventError(f"line {number}: field tenant: must be a tenant id (a-z, 0-9, - or _)")
        tenants.add(tenant)
    if notice.__class__ is not str or not notice:
        raise EventError(f"line {number}: field notice_id: must be a non-empty string")
    if recipient is not None and recipient.__class__ is not str:
        raise EventError(f"line {number}: field recipient: must be a string or null")
    if ts.__class__ is not str:
        raise EventError(f"line {number}: field ts: must be a string, not {type(ts).__name__}")
    try:
        cohort = check_cohort(obj.get("cohort"))
    except ValueError as exc:
        raise EventError(f"line {number}: field cohort: {exc}") from None
    try:
        return _Line(check_event(event), tenant, parse_ts(ts), notice, cohort)
    except ValueError as exc:
        field = "event" if event not in EVENT_TYPES else "ts"
        raise EventError(f"line {number}: field {field}: {exc}") from None


def _missing(obj: Any) -> str:
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    absent = [name for name in ("tenant", "notice_id", "event", "ts") if name not in obj]
    return f"field {absent[0]} is missing"
