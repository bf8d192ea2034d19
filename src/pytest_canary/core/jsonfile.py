"""Strict JSON in, canonical JSON out.

Python's ``json`` quietly accepts ``NaN``, ``Infinity`` and duplicate keys (the last one wins).
For files that decide a rollout each of these is a way to slip a wrong value past validation,
so they are refused here, once, for every file and event line we read. Pure: bytes in, values out;
reading the bytes is :func:`pytest_canary.store.files.read_bytes`'s job.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # light on purpose: the KPI engine's JSONL reader decodes with it
    from pydantic import BaseModel, TypeAdapter, ValidationError

_FIELD_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)


class InvalidInput(ValueError):
    """A file (or part of one) a user or an upstream job got wrong; ``str()`` is one line."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):  # the common case, at C speed: millions of JSONL lines go here
        return result
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen:
            # A field name is shown; any other key (an address?) is not echoed into reports.
            shown = repr(key) if _FIELD_NAME.fullmatch(key) else "(a key that is not a field name)"
            raise ValueError(f"duplicate key {shown}")
        seen.add(key)
    raise AssertionError("unreachable: a shorter dict has a repeated key")


STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
"""The one strict decoder: no NaN or infinity, no duplicate keys. ``decode`` raises ValueError."""


def parse_json(data: bytes, where: str) -> Any:
    """Parse ``data`` (UTF-8, no byte-order mark) or raise :class:`InvalidInput` naming ``where``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where}: not UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise InvalidInput(f"{where}: starts with a byte-order mark; save it as plain UTF-8")
    if not text.strip():
        raise InvalidInput(f"{where}: empty file, expected a JSON object")
    try:
        return STRICT_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{where}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    except RecursionError:
        raise InvalidInput(f"{where}: nested too deeply") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace: the form that is hashed into ids and audit chains."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def model_bytes(model: BaseModel) -> bytes:
    """The file form of a model: indented, sorted keys, UTF-8, newline at the end.

    Encoded by pydantic's serializer: the standard library's encoder is pure Python as soon as it
    indents, and a run of 10,000 tenants spent a tenth of its time there. It writes the numbers
    that ``json`` reads back as the same values (``1e-05`` as ``0.00001``).
    """
    return _any_adapter().dump_json(_sorted_keys(model.model_dump(mode="json")), indent=2) + b"\n"


@functools.cache
def _any_adapter() -> TypeAdapter[Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(Any)


def _sorted_keys(value: Any) -> Any:
    """``value`` with every object's keys in sorted order (the serializer keeps dict order)."""
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


def error_text(error: Any) -> str:
    """What one pydantic error says, without the "Value error, " our own validators get."""
    message = str(error["msg"])
    return message.removeprefix("Value error, ") if error["type"] == "value_error" else message


def validation_message(where: str, error: ValidationError) -> str:
    """One line naming the file, the first bad field and what would be valid."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = error.error_count() - 1
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"{where}: field {field}: {error_text(first)}{suffix}"
