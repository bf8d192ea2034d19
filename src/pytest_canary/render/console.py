"""The one way the ``canary`` command prints a message: one line, starting no workflow command.

A message often carries text from a file (a reason, a path, a reviewer's name); printed through
:func:`echo` it is one line (see :func:`~pytest_canary.render.text.flatten`) that a GitHub
runner reads as plain text (see :func:`~pytest_canary.render.text.inert`), in every mode: what
is safe in a GitHub log is just as readable in a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from pytest_canary.render.text import flatten, inert


def echo(message: object, *, err: bool = False) -> None:
    """Print ``message`` as one safe line on stdout (``err``: stderr)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(inert(flatten(message).rstrip()) + "\n")


def echo_lines(lines: Iterable[object], *, err: bool = False) -> None:
    """Print each of ``lines`` (a table, a report) as its own safe line."""
    for line in lines:
        echo(line, err=err)
