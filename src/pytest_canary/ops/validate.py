"""``canary validate`` and ``canary schema``: every file we read or write, checked by its name.

Files are recognised by name, as they are laid out under the root (docs/contract.md, Files at a
glance; the names are :mod:`pytest_canary.store.layout`'s). In a folder, anything else is skipped;
a file named on the command line that is missing or not one of ours is an error, so the pre-commit
hook and the PR check never pass a typo in silence.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path

from pydantic import BaseModel, ValidationError

from pytest_canary.core import jsonfile
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.models import CONTROL_EVENTS, RATE_FIELDS
from pytest_canary.core.readings import kpis_from_bytes, summarise_blocklist
from pytest_canary.core.records import ControlLog, Decision, RolloutLog
from pytest_canary.core.schema import schema_texts
from pytest_canary.store.files import read_bytes
from pytest_canary.store.gates import GateConfig, gate_files
from pytest_canary.store.layout import (
    BLOCKLIST_FILE,
    DECISION_SUFFIX,
    KPI_FILE,
    ROLLOUT_LOG_SUFFIX,
    STATE_FILE,
    control_log_suffix,
    name_date,
)
from pytest_canary.store.readers import read_state
from pytest_canary.store.settings import Project, today_berlin

_SUFFIX_MODELS: dict[str, type[BaseModel]] = {
    DECISION_SUFFIX: Decision,
    ROLLOUT_LOG_SUFFIX: RolloutLog,
    **{control_log_suffix(action): ControlLog for action in CONTROL_EVENTS},
}


Warn = Callable[[str], None]
Check = Callable[[Path, str, Warn], str | None]
# A rate above this is valid but far more likely a percentage (1 meaning 1 %) than a real rate.
LIKELY_PERCENTAGE = 0.5


def _check_model(model: type[BaseModel]) -> Check:
    def check(path: Path, where: str, warn: Warn) -> str | None:
        data = read_bytes(path, where)
        jsonfile.parse_json(data, where)
        try:
            model.model_validate_json(data, strict=True)  # as the rollout reads them
        except ValidationError as exc:
            return jsonfile.validation_message(where, exc)
        return None

    return check


def _check_kpis(path: Path, where: str, warn: Warn) -> str | None:
    """As :func:`inputs.read_kpis` checks it, with the path shown as it was given."""
    date = name_date(KPI_FILE, path.name)
    if date is None:
        return f"{where}: named for a day that does not exist; name it <YYYY-MM-DD>.json"
    data = read_bytes(path, where)
    reading = kpis_from_bytes(data, where, path.parent.name, date)
    problems = reading.problems()
    for name in RATE_FIELDS:
        rate = reading.values.get(name)
        if rate is not None and rate > LIKELY_PERCENTAGE:
            warn(
                f"{where}: field {name} is {rate:g}, which means {rate * 100:g} %; rates are fractions"
                f" (0.03 is 3 %): if {rate:g} % is meant, write {rate / 100:g}"
            )
    return problems[0] if problems else None


@functools.cache
def _steps(cwd: Path) -> tuple[int, ...]:
    """The steps of the project's gates (read once per folder, found as every command finds them)."""
    try:
        config = GateConfig.load(gate_files(Project.discover().gates(None)))
    except CanaryUsageError:
        config = GateConfig.load([])  # a broken gate file is reported as such, not per state file
    return config.for_tenant(None, {}).steps


def _check_state(path: Path, where: str, warn: Warn) -> str | None:
    """The state as the decision reads it: also its tenant, and its quota on the gates' steps."""
    reading = read_state(path, path.parent.parent.name, _steps(Path.cwd()))
    return reading.error


def _check_blocklist(path: Path, where: str, warn: Warn) -> str | None:
    raw = jsonfile.parse_json(read_bytes(path, where), where)
    summarise_blocklist(raw, where, today_berlin())  # only the entries' shape is checked here
    return None


def _check_gates(path: Path, where: str, warn: Warn) -> str | None:
    try:
        GateConfig.load([path], {path: where})
    except CanaryUsageError as exc:
        return str(exc)
    return None


def checker_for(path: Path) -> Check | None:
    """How to check a file, judged by its name; ``None`` for files that are not ours."""
    name = path.name
    if name == STATE_FILE:
        return _check_state
    for suffix, model in _SUFFIX_MODELS.items():
        if name.endswith(suffix):
            return _check_model(model)
    if KPI_FILE.match(name):
        return _check_kpis
    if name == BLOCKLIST_FILE:
        return _check_blocklist
    if name.endswith(".toml") and path.parent.name == "gates":
        return _check_gates
    return None


KNOWN_NAMES = ", ".join(
    [
        "YYYY-MM-DD.json",
        STATE_FILE,
        BLOCKLIST_FILE,
        *(f"*{s}" for s in _SUFFIX_MODELS),
        "gates/*.toml",
    ]
)


def _expand(paths: Iterable[Path]) -> Iterable[Path]:
    """Each file to check: named ones as named, a folder's known files (the rest is skipped)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and checker_for(p))
        else:
            yield path


def _problem(path: Path, warn: Warn) -> str | None:
    where = str(path)
    check = checker_for(path)
    if not path.exists() and not path.is_symlink():  # the readers take absence as "none yet"
        return f"{where}: no such file"
    if check is None:  # named on purpose: a typo, or a file this command cannot judge
        return f"{where}: not a file canary validate knows (expected {KNOWN_NAMES})"
    try:
        return check(path, where, warn)
    except jsonfile.InvalidInput as exc:
        return str(exc)


def validate_paths(
    paths: Iterable[Path], warnings: list[str] | None = None
) -> tuple[list[str], int]:
    """One line per invalid file, and how many files were checked; ``warnings`` gets one line
    per value that is valid but probably not meant (a rate written as a percentage).

    A named path that does not exist or is not a known kind of file is invalid: pre-commit and
    the PR check pass exactly the files they mean, and a silent pass would hide a typo.
    """
    warn = (warnings if warnings is not None else []).append
    problems: list[str] = []
    checked = 0
    for path in _expand(paths):
        checked += 1
        problem = _problem(path, warn)
        if problem is not None:
            problems.append(problem)
    return problems, checked


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema into ``folder`` (made when missing); one that cannot be is a usage error."""
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in schema_texts().items():
            target = folder / name
            target.write_text(text, encoding="utf-8")
            written.append(target)
    except OSError as exc:
        where = exc.filename or folder
        raise CanaryUsageError(
            f"--out {folder}: cannot write {where} ({exc.strerror or exc}); name a folder"
        ) from None
    return written
