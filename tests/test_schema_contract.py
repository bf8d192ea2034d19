"""The published JSON Schemas say what the models say, to a validator that is not ours.

Every schema is Draft 2020-12 with only keywords of that draft (a stray ``ge`` is ignored by every
validator, so a limit would silently not be enforced); files generated from a schema are valid to
the model; and for the files other teams write, a KPI file and a blocklist, the schema's verdict
equals the verdict of ``canary validate``. What a schema cannot know is left out and named:
the file's own tenant and date (from its path), ``hard_bounces <= notices_sent`` (two fields),
whether a time's day exists in the calendar.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from pytest_canary.core.jsonfile import InvalidInput
from pytest_canary.core.readings import kpis_from_object, summarise_blocklist
from pytest_canary.core.schema import SCHEMA_MODELS
from pytest_canary.core.tenants import TENANT_PATTERN

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = {
    name: json.loads((REPO / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))
    for name in SCHEMA_MODELS
}
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
GOOD_KPIS = {
    "notices_sent": 1000,
    "error_rate": 0.01,
    "hard_bounces": 10,
    "dlq_depth": 2,
    "retry_depth": 5,
}
DATE = dt.date(2026, 11, 26)

# Draft 2020-12's keywords (core, applicator, validation, format, content, meta-data, unevaluated).
_KEYWORDS = set(
    [
        "$schema",
        "$id",
        "$ref",
        "$defs",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$vocabulary",
        "$comment",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "dependentSchemas",
        "prefixItems",
        "items",
        "contains",
        "properties",
        "patternProperties",
        "additionalProperties",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "type",
        "enum",
        "const",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "required",
        "dependentRequired",
        "format",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "title",
        "description",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "examples",
    ]
)
_MAPS = {"properties", "$defs", "patternProperties", "dependentSchemas"}
_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
_DATA = {"enum", "const", "default", "examples", "required", "dependentRequired"}


def _unknown_keywords(schema: Any, where: str) -> list[str]:
    if not isinstance(schema, dict):
        return []
    found = [f"{where}/{key}" for key in schema if key not in _KEYWORDS]
    for key, value in schema.items():
        if key in _MAPS:
            for name, sub in value.items():
                found += _unknown_keywords(sub, f"{where}/{key}/{name}")
        elif key in _LISTS:
            for index, sub in enumerate(value):
                found += _unknown_keywords(sub, f"{where}/{key}/{index}")
        elif key not in _DATA:
            found += _unknown_keywords(value, f"{where}/{key}")
    return found


def _validator(name: str) -> Draft202012Validator:
    # Formats asserted, as check-jsonschema does by default.
    return Draft202012Validator(SCHEMAS[name], format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("name", sorted(SCHEMA_MODELS))
def test_every_schema_is_draft_2020_12_with_only_its_keywords(name: str) -> None:
    schema = SCHEMAS[name]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:pytest-canary:schema:{name}:v1"
    assert _unknown_keywords(schema, name) == []


def test_closed_models_forbid_other_keys_in_their_schema() -> None:
    for name, model in SCHEMA_MODELS.items():
        closed = model.model_config.get("extra") == "forbid"
        assert (SCHEMAS[name].get("additionalProperties") is False) == closed, name


def test_every_date_has_a_pattern() -> None:
    text = json.dumps(SCHEMAS)
    assert '"format": "date",' in text
    for schema in SCHEMAS.values():
        _assert_dates_have_patterns(schema)


def _assert_dates_have_patterns(schema: Any) -> None:
    if isinstance(schema, dict):
        if schema.get("format") == "date":
            assert schema["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
        for value in schema.values():
            _assert_dates_have_patterns(value)
    elif isinstance(schema, list):
        for value in schema:
            _assert_dates_have_patterns(value)


def _kpi_verdict(raw: dict[str, Any]) -> bool:
    """What ``canary validate`` says of this KPI file, written under its own tenant and date."""
    tenant = raw.get("tenant")
    tenant = tenant if isinstance(tenant, str) else "acme"
    try:
        date = dt.date.fromisoformat(raw["date"]) if isinstance(raw.get("date"), str) else DATE
    except ValueError:
        date = DATE
    return kpis_from_object(raw, "k.json", tenant, date, None).problems() == []


def _model_verdict(model: type[BaseModel], raw: Any) -> bool:
    try:
        model.model_validate_json(json.dumps(raw), strict=True)  # as the rollout reads them
    except ValidationError:
        return False
    return True


@pytest.fixture(scope="module")
def real_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    """Every kind of file, as a real cycle over the demo tenants writes them."""
    root = tmp_path_factory.mktemp("cycle") / "root"
    shutil.copytree(REPO / "demo" / "data", root)
    canary = Path(sys.executable).parent / "canary"
    for args in (
        ["cycle", "--tenant", "all", "--date", "2026-11-26"],
        ["kill", "--tenant", "beta", "--by", "M. Muster", "--note", "DLQ grows"],
    ):
        subprocess.run(
            [str(canary), *args, "--root", str(root)],
            cwd=root.parent,
            capture_output=True,
            check=False,
        )
    found: dict[str, list[Any]] = {
        "operate_state": _load(root.glob("*/operate/operate_state.json")),
        "decision": _load(root.glob("*/canary/*_decision.json")),
        "rollout_log": _load(root.glob("*/canary/*_rollout_log.json")),
        "control_log": _load(root.glob("*/canary/*_kill_log.json")),
        "blocklist": _load(root.glob("*/ops/blocklist.json")),
        "audit_line": [
            json.loads(line)
            for path in root.glob("*/canary/audit.jsonl")
            for line in path.read_text(encoding="utf-8").splitlines()
        ],
    }
    assert all(found.values()), {name: len(files) for name, files in found.items()}
    return found


def _load(paths: Any) -> list[Any]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(paths)]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and index path into a JSON value, the containers' own paths included."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, sub in value.items():
            found += _leaves(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found += _leaves(sub, (*path, index))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the item at ``path`` set to ``new`` (dropped when DROP)."""
    copy = json.loads(json.dumps(value))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    if new is DROP:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


DROP = object()


def _integral_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


@pytest.mark.parametrize(
    "name", ["operate_state", "decision", "rollout_log", "control_log", "audit_line"]
)
@SETTINGS
@given(data=st.data())
def test_a_schema_judges_a_changed_written_file_as_its_model_does(
    real_files: dict[str, list[Any]], name: str, data: st.DataObject
) -> None:
    """One key of a real file changed, dropped, or added: the schema agrees with the model."""
    original = data.draw(st.sampled_from(real_files[name]))
    path = data.draw(st.sampled_from(_leaves(original)))
    new = data.draw(st.just(DROP) | field_values | tenant_values | date_values)
    changed = _replaced(original, path, new)
    if data.draw(st.booleans()):
        changed["unexpected_key"] = 1
    # JSON Schema's data model has one kind of number: 25.0 is the integer 25 to it, while the
    # rollout reads its own files strictly and refuses 25.0 where it wrote 25.
    assume(not _integral_float(new))
    assert _validator(name).is_valid(changed) == _model_verdict(SCHEMA_MODELS[name], changed), (
        path,
        new,
    )


# The values an upstream job gets wrong: percentages, negatives, strings, booleans, nulls.
field_values = (
    st.integers(min_value=-3, max_value=120)
    | st.integers(min_value=10**307, max_value=10**310)
    | st.floats(min_value=-2, max_value=120, allow_nan=False)
    | st.sampled_from([0.0, 1.0, 2.5, 5.0, 0.02, 3, -0.0, 1e300, 2**53 + 0.0])
    | st.booleans()
    | st.none()
    | st.text(max_size=4)
    | st.just([1])
    | st.just({"value": 1})
)
kpi_fields = st.sampled_from(
    [*GOOD_KPIS, "errors", "soft_bounces", "tenant", "date", "generated_at"]
)
tenant_values = st.from_regex(TENANT_PATTERN, fullmatch=True) | st.sampled_from(["all", "Acme"])
date_values = st.dates().map(dt.date.isoformat) | st.sampled_from(["2026-02-30", "26.11.2026"])


@SETTINGS
@given(
    field=kpi_fields,
    value=field_values | tenant_values | date_values,
    drop=st.booleans(),
)
def test_the_kpi_schema_judges_a_bad_field_as_canary_validate_does(
    field: str, value: Any, drop: bool
) -> None:
    raw = dict(GOOD_KPIS)
    if drop:
        raw.pop(field, None)
    else:
        raw[field] = value
    hard, sent = raw.get("hard_bounces"), raw.get("notices_sent")
    if _is_count(hard) and _is_count(sent):
        assume(hard <= sent)  # two fields: not for a schema
    assert _validator("kpis").is_valid(raw) == _kpi_verdict(raw), raw


def _is_count(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def test_a_percentage_is_refused_by_the_kpi_schema() -> None:
    errors = list(_validator("kpis").iter_errors({**GOOD_KPIS, "error_rate": 3}))
    assert [e.message for e in errors] == ["3 is greater than the maximum of 1.0"]
    assert sys.float_info.max >= SCHEMAS["kpis"]["properties"]["notices_sent"]["maximum"]


KPI_VARIANTS: dict[str, dict[str, Any]] = {
    "good": GOOD_KPIS,
    "full": {
        **GOOD_KPIS,
        "tenant": "acme",
        "date": "2026-11-26",
        "errors": 10,
        "soft_bounces": 3,
        "generated_at": "2026-11-26T07:25:00+01:00",
        "window_start": "2026-11-25T07:30:00+01:00",
    },
    "integral_float": {**GOOD_KPIS, "dlq_depth": 2.0},
    "percentage": {**GOOD_KPIS, "error_rate": 3},
    "negative": {**GOOD_KPIS, "retry_depth": -1},
    "fraction": {**GOOD_KPIS, "dlq_depth": 2.5},
    "boolean": {**GOOD_KPIS, "notices_sent": True},
    "string": {**GOOD_KPIS, "hard_bounces": "10"},
    "missing": {k: v for k, v in GOOD_KPIS.items() if k != "retry_depth"},
    "reserved_tenant": {**GOOD_KPIS, "tenant": "all"},
    "no_such_day": {**GOOD_KPIS, "date": "2026-02-30"},
    "timestamp": {**GOOD_KPIS, "generated_at": 1764138300},
}


def _refused_by_both(name: str, files: Iterable[Path]) -> tuple[set[Path], set[Path], str]:
    """The files check-jsonschema refuses with the schema, those ``canary validate`` refuses, and
    what both said."""
    paths = [str(path) for path in files]
    bin_dir = Path(sys.executable).parent
    schema = REPO / "schemas" / f"{name}.schema.json"
    checked = subprocess.run(
        [str(bin_dir / "check-jsonschema"), "--schemafile", str(schema), "-o", "json", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    validated = subprocess.run(
        [str(bin_dir / "canary"), "validate", "--quiet", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    by_schema = {Path(e["filename"]) for e in json.loads(checked.stdout)["errors"]}
    by_canary = {Path(path) for path in paths if path in validated.stdout}
    return by_schema, by_canary, checked.stdout + validated.stdout


def test_check_jsonschema_and_canary_validate_agree_on_kpi_files(tmp_path: Path) -> None:
    """Good and bad KPI files, checked as a KPI producer would, with the published schema."""
    files = {}
    for name, content in KPI_VARIANTS.items():
        tenant = "all" if name == "reserved_tenant" else "acme"
        day = "2026-02-30" if name == "no_such_day" else "2026-11-26"
        path = tmp_path / name / tenant / f"{day}.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(content), encoding="utf-8")
        files[name] = path
    refused_by_schema, refused_by_canary, said = _refused_by_both("kpis", files.values())

    invalid = {name for name, path in files.items() if path in refused_by_schema}
    assert invalid == set(KPI_VARIANTS) - {"good", "full", "integral_float"}
    assert refused_by_canary == refused_by_schema, said


@pytest.mark.parametrize("name", ["operate_state", "decision", "rollout_log", "control_log"])
def test_a_version_written_as_true_is_refused_by_the_schema_and_the_model(
    real_files: dict[str, list[Any]], name: str
) -> None:
    """``true == 1`` in Python: a literal version must still refuse a boolean, as JSON Schema does."""
    original = real_files[name][0]
    assert original["schema_version"] == 1
    changed = {**original, "schema_version": True}
    assert not _validator(name).is_valid(changed)
    assert not _model_verdict(SCHEMA_MODELS[name], changed)


# A blocklist as other jobs write it: both forms, any reason, a hard bounce only with its time.
HARD_BOUNCE = {"reason": "hard_bounce", "added_at": "2026-11-26T06:10:00+01:00", "hash": "ab"}
BLOCKLIST_VARIANTS: dict[str, Any] = {
    "object": {"entries": [HARD_BOUNCE, {"reason": "complaint"}], "source": "crm"},
    "bare_list": [HARD_BOUNCE, {"reason": "manual", "added_at": "2026-11-26T06:10:00Z"}],
    "empty_list": [],
    "berlin_time": [{"reason": "hard_bounce", "added_at": "2026-11-26T06:10:00"}],
    "other_reason_any_time": [{"reason": "complaint", "added_at": "yesterday-ish"}],
    "unknown_reason": [{"reason": "spam-trap"}],
    "hard_bounce_without_time": [{"reason": "hard_bounce"}],
    "hard_bounce_null_time": {"entries": [{"reason": "hard_bounce", "added_at": None}]},
    "hard_bounce_german_time": [{"reason": "hard_bounce", "added_at": "02.05.2024 10:00"}],
    "hard_bounce_unix_time": [{"reason": "hard_bounce", "added_at": 1764138300}],
    "hard_bounce_date_only": [{"reason": "hard_bounce", "added_at": "2026-11-26"}],
    "reason_not_text": [{"reason": 7}],
    "no_reason": [{"added_at": "2026-11-26T06:10:00Z"}],
    "entry_not_object": [1],
    "entries_not_a_list": {"entries": "none"},
    "no_entries": {"items": []},
    "neither_object_nor_list": "entries",
}
BLOCKLISTS_ACCEPTED = {
    "object",
    "bare_list",
    "empty_list",
    "berlin_time",
    "other_reason_any_time",
    "unknown_reason",
}


def test_check_jsonschema_and_canary_validate_agree_on_blocklists(tmp_path: Path) -> None:
    """Good and bad blocklists, as the job that keeps them would check them with the schema."""
    files = {}
    for name, content in BLOCKLIST_VARIANTS.items():
        path = tmp_path / name / "acme" / "ops" / "blocklist.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(content), encoding="utf-8")
        files[name] = path
    refused_by_schema, refused_by_canary, said = _refused_by_both("blocklist", files.values())

    refused = {name for name, path in files.items() if path in refused_by_canary}
    assert refused == set(BLOCKLIST_VARIANTS) - BLOCKLISTS_ACCEPTED, said
    assert refused_by_schema == refused_by_canary, said


def _blocklist_verdict(raw: Any) -> bool:
    try:
        summarise_blocklist(raw, "blocklist.json", DATE)
    except InvalidInput:
        return False
    return True


_entry_values = st.fixed_dictionaries(
    {},
    optional={
        "reason": st.sampled_from(["hard_bounce", "complaint", "manual", "spam-trap"])
        | field_values,
        "added_at": st.datetimes(min_value=dt.datetime(1900, 1, 1)).map(dt.datetime.isoformat)
        | st.sampled_from(["2026-11-26T06:10:00Z", "2026-11-26", "26.11.2026", ""])
        | field_values,
        "hash": st.text(max_size=4),
    },
)


@SETTINGS
@given(
    entries=st.lists(_entry_values | field_values, max_size=4),
    form=st.sampled_from(["object", "list", "other"]),
)
def test_the_blocklist_schema_judges_a_blocklist_as_the_reader_does(
    entries: list[Any], form: str
) -> None:
    """Of a time, the schema knows its form, not its calendar: ``2026-02-30T...`` is the reader's."""
    raw: Any = {"entries": entries} if form == "object" else entries
    if form == "other":
        raw = {"items": entries}
    assert _validator("blocklist").is_valid(raw) == _blocklist_verdict(raw), raw


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("decision", ("date",)),
        ("rollout_log", ("date",)),
        ("control_log", ("date",)),
        ("operate_state", ("history", 0, "kpi_date")),
    ],
)
@pytest.mark.parametrize("written", ["0", 0, "20261126", "2026-11-26T07:30:00+01:00"])
def test_a_date_that_is_not_iso_text_is_refused_by_the_schema_and_the_model(
    real_files: dict[str, list[Any]], name: str, path: tuple[str | int, ...], written: object
) -> None:
    """pydantic would read ``"0"`` as a Unix timestamp (1970-01-01); the schema says ``format: date``."""
    original = next(f for f in real_files[name] if _has(f, path))
    changed = _replaced(original, path, written)
    assert not _validator(name).is_valid(changed)
    assert not _model_verdict(SCHEMA_MODELS[name], changed)


def _has(document: Any, path: tuple[str | int, ...]) -> bool:
    for key in path:
        try:
            document = document[key]
        except (KeyError, IndexError, TypeError):
            return False
    return document is not None
