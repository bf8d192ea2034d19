"""The audit log: appending hash-chained lines, reading them back and verifying the chain.

Writer and readers share one idea of what a complete, chained line is. Each line is a JSON
object ``{"seq", "at", "event", "tenant", "prev", ...}`` where ``prev`` is the sha256 of the line
before (its exact bytes without the newline) and ``seq`` counts up by one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pytest_canary.core import jsonfile
from pytest_canary.core.errors import RolloutRefused
from pytest_canary.core.records import AuditLine
from pytest_canary.store.faults import fault
from pytest_canary.store.files import read_bytes, read_raw
from pytest_canary.store.layout import TenantPaths

MAX_AUDIT_BYTES = 1 << 30
"""An audit log keeps a year of lines: far more than any other file we read, still bounded."""
_AUDIT_KEYS = frozenset({"seq", "at", "event", "tenant", "prev"})


def split_audit(data: bytes) -> tuple[list[bytes], bytes | None]:
    """Complete lines, and the torn tail a crash mid-write left (``None`` when there is none).

    A tail that is a whole, valid line missing only its newline counts as complete.
    """
    if not data:
        return [], None
    parts = data.split(b"\n")
    tail = parts.pop()  # b"" when the file ends with a newline, as every complete write does
    if tail and parse_line(tail) is not None:
        return [*parts, tail], None
    return parts, (tail or None)


def parse_line(raw: bytes) -> dict[str, Any] | None:
    """The line as a dict when it is a complete audit line, else ``None``."""
    return None if line_problem(raw) is not None else json.loads(raw)


def line_problem(raw: bytes) -> str | None:
    """Why ``raw`` is not a complete audit line, or ``None`` when it is one.

    Through the strict decoder, like every file we read: a hostile line (nested thousands deep,
    NaN, a duplicate key) is a problem to report, never a traceback.
    """
    try:
        value = jsonfile.parse_json(raw, "line")
        AuditLine.model_validate(value)
    except jsonfile.InvalidInput as exc:
        return str(exc).removeprefix("line: ")
    except ValidationError as exc:
        return jsonfile.validation_message("line", exc).removeprefix("line: ")
    return None


def require_readable(paths: TenantPaths) -> None:
    """Refuse (one line) unless every complete line of the tenant's audit log can be read.

    A writer checks this before it writes anything: a log it could not extend must not be found
    out after the state was already written. Tolerated, as :func:`verify_audit` tolerates them:
    a torn last line, and a torn line the next line vouches for with ``torn_prev``.
    """
    audit = paths.check(paths.audit)
    try:
        data = read_bytes(audit, limit=MAX_AUDIT_BYTES)
    except jsonfile.InvalidInput as exc:
        if not (audit.exists() or audit.is_symlink()):
            return
        raise RolloutRefused(f"{paths.tenant}: {exc}; nothing was written") from None
    lines, _ = split_audit(data)
    for number, raw in enumerate(lines, start=1):
        problem = line_problem(raw)
        if problem is None:
            continue
        after = parse_line(lines[number]) if number < len(lines) else None
        if after is not None and after.get("torn_prev") == jsonfile.sha256_hex(raw):
            continue
        raise RolloutRefused(
            f"{paths.tenant}: {audit}: line {number} is not a readable audit line ({problem});"
            " nothing was written: restore the line or move the log aside"
        )


def read_audit(path: Path) -> list[dict[str, Any]]:
    """The parseable complete lines of an audit log (for look-ups; :func:`verify_audit` judges)."""
    try:
        data = read_raw(path, MAX_AUDIT_BYTES)
    except FileNotFoundError:
        return []
    lines, _ = split_audit(data)
    return [parsed for raw in lines if (parsed := parse_line(raw)) is not None]


@dataclass(frozen=True)
class AuditVerdict:
    """What ``canary audit verify`` reports: the first line that was changed, removed or moved."""

    ok: bool
    lines: int
    first_bad_line: int | None = None
    problem: str | None = None
    notes: tuple[str, ...] = ()


def verify_audit(path: Path) -> AuditVerdict:
    """Check seq and hash chain line by line; name the first line (1-based) that breaks them.

    A changed line shows as a ``prev`` mismatch on the line after it, so that earlier line is
    named. A removed or moved line shows as a ``seq`` out of order. A torn last line (a crash
    mid-write) is tolerated and noted; so is a torn line that the next line records as
    ``torn_prev``. A log whose first line is a ``PRUNE`` may start past seq 1 (retention removed
    the lines before it). The newest line has no successor to vouch for it: a change there is
    seen only once the next line is appended.
    """
    if not (path.exists() or path.is_symlink()):
        return AuditVerdict(ok=True, lines=0, notes=(f"{path}: no audit log yet",))
    try:
        data = read_bytes(path, limit=MAX_AUDIT_BYTES)
    except jsonfile.InvalidInput as exc:
        return AuditVerdict(ok=False, lines=0, problem=str(exc))
    return verify_audit_bytes(path, data)


def verify_audit_bytes(path: Path, data: bytes) -> AuditVerdict:
    """:func:`verify_audit` of a log already read (``path`` only names it in the problem)."""
    lines, torn = split_audit(data)
    notes: list[str] = []
    prev: tuple[int, bytes, int] | None = None  # line number, raw bytes, seq
    pending_torn: tuple[int, str, str] | None = None  # line number, sha256, why it is unreadable

    def bad(number: int, problem: str) -> AuditVerdict:
        return AuditVerdict(False, len(lines), number, f"{path}: line {number}: {problem}")

    def incomplete(torn: tuple[int, str, str]) -> AuditVerdict:
        return bad(torn[0], f"is not a complete audit line ({torn[2]})")

    for number, raw in enumerate(lines, start=1):
        problem = line_problem(raw)
        if problem is not None:
            if pending_torn is not None:
                return incomplete(pending_torn)
            pending_torn = (number, jsonfile.sha256_hex(raw), problem)
            continue
        parsed: dict[str, Any] = json.loads(raw)
        if pending_torn is not None:
            if parsed.get("torn_prev") != pending_torn[1]:
                return incomplete(pending_torn)
            notes.append(f"line {pending_torn[0]}: torn by a crash mid-write (tolerated)")
            pending_torn = None
        elif "torn_prev" in parsed:
            return bad(number, "records a torn line before it that is not there")
        seq = parsed["seq"]
        if prev is None:
            if parsed["event"] != "PRUNE" and (seq != 1 or parsed["prev"] is not None):
                return bad(number, f"seq {seq} where 1 was expected: earlier lines were removed")
        elif seq != prev[2] + 1:
            what = "removed before it" if seq > prev[2] + 1 else "moved or repeated"
            return bad(number, f"seq {seq} where {prev[2] + 1} was expected: a line was {what}")
        elif parsed["prev"] != jsonfile.sha256_hex(prev[1]):
            return bad(prev[0], f"was changed: its hash is not the prev of line {number}")
        prev = (number, raw, seq)
    if pending_torn is not None:
        return incomplete(pending_torn)
    if torn is not None:
        notes.append(f"line {len(lines) + 1}: incomplete last line (a crash mid-write), ignored")
    return AuditVerdict(ok=True, lines=len(lines), notes=tuple(notes))


def append_audit(
    paths: TenantPaths,
    event: str,
    fields: dict[str, Any],
    at: dt.datetime,
    *,
    durable: bool = True,
) -> AuditLine:
    """Append one complete line, chained to the line before by its sha256 (``prev``), fsynced.

    Hold the tenant lock while calling it: the chain is read, then extended. ``fields`` carry
    ids, decisions, counts and reasons only, never an address. A torn last line (a crash
    mid-write) is left in place, not chained onto: the new line starts on a fresh line, chains to
    the last complete one and records the torn bytes' hash as ``torn_prev``, which
    :func:`verify_audit` accepts. ``durable=False`` leaves the fsync to the next durable line (an
    fsync flushes the whole file), for lines that record no change of state.
    """
    clash = _AUDIT_KEYS & fields.keys()
    if clash:
        raise ValueError(f"audit fields may not set {sorted(clash)}")
    audit = paths.check(paths.audit)
    paths.check(paths.canary_dir).mkdir(exist_ok=True)
    try:  # a FIFO or a folder in its place is refused (an OSError), never waited on
        data = read_raw(audit, MAX_AUDIT_BYTES)
    except FileNotFoundError:
        data = b""
    lines, torn = split_audit(data)
    last = lines[-1] if lines else None
    last_seq = next((parsed["seq"] for raw in reversed(lines) if (parsed := parse_line(raw))), 0)
    record: dict[str, Any] = {
        "seq": last_seq + 1,
        "at": at.isoformat(),
        "event": event,
        "tenant": paths.tenant,
        "prev": jsonfile.sha256_hex(last) if last is not None else None,
        **fields,
    }
    if torn is not None:
        record["torn_prev"] = jsonfile.sha256_hex(torn)
    line = AuditLine.model_validate(record)  # a bug (bad event, naive time) fails before writing
    fresh_line = b"\n" if data and not data.endswith(b"\n") else b""
    payload = fresh_line + jsonfile.canonical_json(record) + b"\n"
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(audit, flags, 0o644)
    try:
        # One write of the whole line: with O_APPEND it lands after whatever is there, in one piece.
        written = os.write(fd, payload)
        while written < len(payload):  # a short write on a full disk: finish it or fail
            written += os.write(fd, payload[written:])
        fault("audit:after-write")
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    return line
