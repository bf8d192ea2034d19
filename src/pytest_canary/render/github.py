"""GitHub Actions: the step summary, step outputs and annotations of a canary run.

The only I/O is appending to the files GitHub names in ``GITHUB_STEP_SUMMARY`` and
``GITHUB_OUTPUT``; the text comes from ``report``. Choices, for the docs:

- The step summary is capped so the file stays under GitHub's 1 MiB per step (a larger one is
  dropped whole by the runner). What does not fit is cut at a line end and replaced by a note;
  since the summary lists tenants worst first, what is cut is the least urgent part.
- Annotations: ``BACKOUT`` and a refused rollout are ``::error``, ``HOLD`` is ``::warning`` (it is
  the safe, do-nothing outcome; the run's exit status already fails the check). At most ten in
  all, worst first; with more than ten tenants to show, the tenth says how many more there are.
- Any file GitHub names that cannot be written is reported as one line through ``write``; the
  decisions and their files are already written, so a broken summary never hides them. A file
  that is not a regular file (a FIFO without a reader would block forever) is not written.
- A pytest run prints its output between :func:`stop_commands`' two lines, then the annotations,
  each on a line of its own: only the project's own commands reach the runner.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pytest_canary.core.records import Decision, RolloutLog
from pytest_canary.render.report import summary_markdown
from pytest_canary.render.text import one_line
from pytest_canary.store.files import open_regular, refusal

STEP_SUMMARY_LIMIT = 1024 * 1024
"""GitHub refuses a step summary of this size or more (bytes)."""
MAX_ANNOTATIONS = 10
"""GitHub shows no more annotations of a step than this."""
TRUNCATION_NOTE = "\n\n**Truncated**: GitHub keeps 1 MiB per step; see the decision files.\n"
_MESSAGE_CAP = 4000


# --- step summary -----------------------------------------------------------------------------


def _utf8_prefix(data: bytes, size: int) -> bytes:
    """The longest prefix of ``data`` of at most ``size`` bytes that ends on a whole character."""
    return data[: max(size, 0)].decode("utf-8", errors="ignore").encode("utf-8")


def _fit(markdown: str, budget: int) -> bytes:
    """``markdown`` as UTF-8 in at most ``budget`` bytes, cut with a note when it does not fit."""
    data = markdown.encode("utf-8")
    if len(data) <= budget:
        return data
    note = TRUNCATION_NOTE.encode("utf-8")
    fence = b"\n```"
    head = _utf8_prefix(data, budget - len(note) - len(fence))
    if b"\n" in head:
        head = head[: head.rindex(b"\n")]
    # A cut inside a code fence would swallow the note; close the fence first.
    fences = sum(1 for line in head.split(b"\n") if line.lstrip().startswith(b"```"))
    if fences % 2:
        head += fence
    result = head + note
    return result if len(result) <= budget else b""


def _open_append(path: Path) -> int:
    """The GitHub file at ``path`` for appending; a FIFO or device is refused, never waited on."""
    return open_regular(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)


def append_step_summary(path: Path, markdown: str) -> None:
    """Append ``markdown`` to the step summary file, keeping the file under 1 MiB."""
    fd = _open_append(path)
    with os.fdopen(fd, "r+b") as handle:
        existing = os.fstat(fd).st_size
        separator = b""
        if existing:
            handle.seek(-1, os.SEEK_END)
            separator = b"\n" if handle.read(1) == b"\n" else b"\n\n"
        budget = STEP_SUMMARY_LIMIT - 1 - existing - len(separator)
        data = _fit(markdown, budget)
        if data:
            handle.write(separator + data)


# --- step outputs -----------------------------------------------------------------------------


def _output_entry(name: str, value: str) -> str:
    """One ``GITHUB_OUTPUT`` entry: ``name=value``, or the delimiter form for a multi-line value."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    while delimiter in value:  # pragma: no cover - a random uuid does not occur by chance
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def write_outputs(path: Path, decisions: Mapping[str, str]) -> None:
    """Append ``decision=`` (exactly one tenant) and ``decisions=`` (JSON, tenant → decision)."""
    entries = []
    if len(decisions) == 1:
        entries.append(_output_entry("decision", next(iter(decisions.values()))))
    compact = json.dumps(dict(decisions), sort_keys=True, separators=(",", ":"))
    entries.append(_output_entry("decisions", compact))
    with os.fdopen(_open_append(path), "ab") as handle:
        handle.write("".join(entries).encode("utf-8"))


# --- annotations ------------------------------------------------------------------------------


def escape_data(text: str) -> str:
    """Escape a workflow command's message (``%``, CR, LF), as the Actions toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value: the message rules plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def stop_commands() -> tuple[str, str]:
    """The pair of lines that stop the runner reading workflow commands, and resume it.

    Between them the runner takes no line for a command: the way GitHub documents to print text
    that is not the project's own (a pytest run's failures, tracebacks, captured output). The
    token is random, so no text printed in between can resume it.
    """
    token = secrets.token_hex(16)
    return f"::stop-commands::{token}", f"::{token}::"


def _command(level: str, title: str, message: str) -> str:
    if len(message) > _MESSAGE_CAP:
        message = message[: _MESSAGE_CAP - 1] + "…"
    return f"::{level} title={escape_property(title)}::{escape_data(message)}"


def _annotation(decision: Decision, log: RolloutLog | None) -> tuple[int, str]:
    """The rank (0 worst) and the command of one tenant that needs attention."""
    d = decision
    quota = f"quota {d.base.quota} → {d.target.quota}"
    reasons = "; ".join(one_line(r) for r in d.reasons)
    if d.decision == "BACKOUT":
        message = f"{quota}, kill switch on: {reasons}"
        return 0, _command("error", f"canary {d.tenant}: BACKOUT", message)
    if log is not None and log.outcome == "refused":
        why = "; ".join(one_line(r) for r in log.reasons) or "no reason given"
        message = f"rollout of {d.decision} refused: {why}"
        return 1, _command("error", f"canary {d.tenant}: rollout refused", message)
    message = f"{quota}: {reasons}" if reasons else quota
    return 2, _command("warning", f"canary {d.tenant}: {d.decision}", message)


def annotation_lines(
    decisions: Sequence[Decision], rollouts: Mapping[str, RolloutLog] | None = None
) -> list[str]:
    """At most ten ``::error``/``::warning`` lines, worst first, then by tenant.

    (Not named ``annotations``: that name is the ``__future__`` feature every module imports.)

    BACKOUT → error, refused rollout → error, HOLD → warning; a GO whose rollout went through
    needs no annotation.
    """
    rollouts = rollouts or {}
    ranked = sorted(
        (rank, d.tenant, command)
        for d in decisions
        if not d.is_go or getattr(rollouts.get(d.tenant), "outcome", None) == "refused"
        for rank, command in [_annotation(d, rollouts.get(d.tenant))]
    )
    lines = [command for _, _, command in ranked]
    if len(lines) <= MAX_ANNOTATIONS:
        return lines
    hidden = len(lines) - (MAX_ANNOTATIONS - 1)
    level = "error" if ranked[MAX_ANNOTATIONS - 1][0] < 2 else "warning"
    more = _command(
        level,
        "canary: more tenants",
        f"{hidden} more tenant(s) need attention; see the step summary and the decision files",
    )
    return [*lines[: MAX_ANNOTATIONS - 1], more]


# --- everything at once -----------------------------------------------------------------------


def emit_files(
    decisions: Sequence[Decision],
    rollouts: Mapping[str, RolloutLog] | None,
    environ: Mapping[str, str],
    write: Callable[[str], None],
) -> None:
    """The step summary and the outputs, each when GitHub's environment names its file."""
    summary_path = environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        try:
            append_step_summary(Path(summary_path), summary_markdown(list(decisions), rollouts))
        except OSError as exc:
            write(f"canary: GITHUB_STEP_SUMMARY {summary_path}: {refusal(exc, 'written')}")
    output_path = environ.get("GITHUB_OUTPUT")
    if output_path:
        try:
            write_outputs(Path(output_path), {d.tenant: d.decision for d in decisions})
        except OSError as exc:
            write(f"canary: GITHUB_OUTPUT {output_path}: {refusal(exc, 'written')}")


def in_actions(environ: Mapping[str, str]) -> bool:
    """Whether this runs as a GitHub Actions step, whose log reads workflow commands."""
    return environ.get("GITHUB_ACTIONS") == "true"
