"""Outside text made safe to show: one line, inert in a GitHub log, inert in Markdown.

Much of what the project prints came from files other people write (decisions, reviews, gate
files, KPI input) and lands in a terminal, a GitHub log or rendered Markdown. Every such text
goes through one of these functions, so a new message is safe by construction:

- :func:`flatten` and :func:`one_line`: every line break (``\\n``, ``\\r``, U+2028, U+2029,
  U+0085, form feeds ...) and every other control character (a terminal escape sequence, say)
  becomes a space, and runs of whitespace become one space: one message is one line. An e-mail
  address, wherever it came from, is shown as ``(address hidden)``.
- :func:`inert`: a line the GitHub runner reads as plain text. The runner takes a line whose
  text, after leading whitespace, starts with ``::`` for a workflow command, and ``##[`` anywhere
  in a line for one in the older form; such a line is changed just enough to be neither.
- :func:`md`: one line of Markdown that renders as exactly that text: no HTML tag, link, image,
  autolink, emphasis, heading, table cell break or math, in CommonMark and in GitHub's dialect.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# An e-mail address, wherever it came from, is never shown: it is a person's data.
_ADDRESS = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
ADDRESS_HIDDEN = "(address hidden)"
_COMMAND_START = re.compile(r"^(\s*):(?=:)")
_OLD_COMMAND = "##["
_BREAK = "\u200b"  # a zero-width space: the line reads the same, the runner sees no command
# ASCII punctuation with a meaning inline in CommonMark or GFM (emphasis, code, links, images,
# strikethrough, table cells, math, references); a backslash before any of them shows it as is.
# An underscore between two letters or digits never emphasises: ``error_rate`` stays as it is.
_INLINE = re.compile(r"([\\`*\[\]|~$#!@{}]|(?<![^\W_])_|_(?![^\W_]))")
# "<" starts a tag or an autolink only before a letter, "/", "!" or "?", and "&" an entity only
# before a name or number and ";": only those become entities ("<= 0.02" stays as it is).
_ENTITY = re.compile(r"<(?=[A-Za-z/!?])|&(?=#?[0-9A-Za-z]+;)")
_ENTITIES = {"&": "&amp;", "<": "&lt;"}
# What would start a block (heading, quote, list, rule, fence) when the text starts a line.
_BLOCK_START = re.compile(r"^(>|[-+=](?=[-+=\s]|$)|\d{1,9}(?=[.)](?:\s|$)))")
# Autolinks need a literal "://", "www." or "@"; a backslash before each character breaks them
# (also a renderer's "//host" links).
_AUTOLINK = re.compile(r"://|(?<=www)\.", re.IGNORECASE)


def flatten(text: object) -> str:
    """``text`` on one line: each line break or control character becomes a space, and an
    address becomes ``(address hidden)``.

    Spacing is kept (a table's columns stay aligned); :func:`one_line` also collapses it.
    """
    return _ADDRESS.sub(ADDRESS_HIDDEN, _CONTROL.sub(" ", str(text)))


def one_line(text: object) -> str:
    """``text`` on one line with single spaces: for a message or a table cell."""
    return " ".join(flatten(text).split())


def inert(line: str) -> str:
    """``line`` (one line) as a GitHub runner reads plain text: it starts no workflow command."""
    line = _COMMAND_START.sub(lambda m: m.group(1) + ":" + _BREAK, line)
    return line.replace(_OLD_COMMAND, "##" + _BREAK + "[")


def md(text: object) -> str:
    """Outside text as one line of Markdown that renders as that text and nothing else."""
    flat = one_line(text)
    escaped = _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], _INLINE.sub(r"\\\1", flat))
    escaped = _AUTOLINK.sub(lambda m: "".join("\\" + c for c in m.group(0)), escaped)
    return _BLOCK_START.sub(lambda m: _escape_start(m.group(1)), escaped)


def _escape_start(head: str) -> str:
    # "1." starts an ordered list: escape the dot after the digits, not the digits.
    return head + "\\" if head[0].isdigit() else "\\" + head


def md_code(text: object) -> str:
    """Outside text as an inline code span (a path): a backtick in it cannot close it early."""
    flat = one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat.strip() else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
