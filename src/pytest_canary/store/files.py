"""Opening a file someone else named: never blocking, never anything but a regular file.

A FIFO in place of a KPI file, or a ``GITHUB_STEP_SUMMARY`` naming one without a reader, would
block ``open()`` forever; a device would never end. Every file read from the root, every gate
file and every file GitHub names is opened here: with ``O_NONBLOCK`` (a FIFO opens at once or
fails), then ``fstat`` on the open descriptor (no race with a rename), and anything that is not
a regular file is refused with one line before a byte is read or written.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from pytest_canary.core.jsonfile import InvalidInput

MAX_INPUT_BYTES = 16 * 1024 * 1024
"""The most any input file may hold (bytes): a KPI file, a state, a gate file ..."""

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


class NotRegularFile(OSError):
    """The path names something other than a regular file; ``str()`` says what it is."""


def open_regular(path: Path, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """A descriptor of the regular file at ``path``, opened without blocking.

    Raises :class:`NotRegularFile` for a folder, FIFO, socket or device, :class:`OSError` when it
    cannot be opened. ``O_NONBLOCK`` is cleared once the file is known to be regular.
    """
    fd = os.open(path, flags | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0), mode)
    try:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind != stat.S_IFREG:
            raise NotRegularFile(f"is {_KINDS.get(kind, 'not a regular file')}, expected a file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def refusal(exc: OSError, verb: str = "read") -> str:
    """Why a file could not be opened, in words: the end of a one-line message."""
    if isinstance(exc, NotRegularFile):
        return str(exc)
    if isinstance(exc, IsADirectoryError):
        return "is a folder, expected a file"
    if exc.errno == errno.ENXIO:  # opened for writing without blocking: a FIFO with no reader
        return "is a FIFO (named pipe) with no reader, expected a file"
    return f"cannot be {verb} ({exc.strerror or exc})"


def read_raw(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Up to ``limit`` + 1 bytes of the regular file at ``path``: the one read of a whole file.

    Raises :class:`OSError` as it comes (``FileNotFoundError``, :class:`NotRegularFile` ...), for
    callers that handle a missing file or an unreadable one themselves.
    """
    with os.fdopen(open_regular(path), "rb") as handle:
        return handle.read(limit + 1)


def read_bytes(path: Path, where: str | None = None, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit``, or :class:`InvalidInput`.

    A missing file raises :class:`InvalidInput` too (callers that allow one check first).
    """
    label = where or str(path)
    try:
        data = read_raw(path, limit)
    except OSError as exc:
        raise InvalidInput(f"{label}: {refusal(exc)}") from None
    if len(data) > limit:
        raise InvalidInput(f"{label}: larger than {limit // (1024 * 1024)} MiB")
    return data


def read_text(path: Path, where: str | None = None, limit: int = MAX_INPUT_BYTES) -> str:
    """:func:`read_bytes` decoded as UTF-8, or :class:`InvalidInput` naming the first bad byte."""
    data = read_bytes(path, where, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where or path}: not UTF-8 (byte {exc.start})") from None
