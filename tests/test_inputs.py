"""The input readers (docs/file-formats.md): KPI file, blocklist and operate state, from real files.

A reader never raises on what a user or an upstream job can get wrong: it returns a reading whose
problems are one line each, naming the file and the field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from _engine_fixtures import DATE, GOOD_KPIS, hard_bounce, history_entry, kpis, review, state
from pytest_canary.core.readings import (
    blocklist_from_bytes,
    kpis_from_bytes,
    kpis_from_object,
    state_from_bytes,
)
from pytest_canary.store.readers import display_path, read_blocklist, read_kpis, read_state

STEPS = (10, 25, 50, 100)


def _kpi_file(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "acme" / f"{DATE}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


def _file(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


# --- KPI file ---------------------------------------------------------------------------------


def test_a_valid_kpi_file_is_read_with_its_hash(tmp_path: Path) -> None:
    path = _kpi_file(tmp_path, kpis(tenant="acme", date="2024-05-02", region="eu"))

    reading = read_kpis(path, "acme", DATE)

    assert reading.valid and reading.present
    assert reading.problems() == []
    assert reading.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert reading.values == {**GOOD_KPIS}
    assert reading.model is not None
    assert reading.model.notices_sent == 1000
    assert reading.contents is not None and reading.contents["region"] == "eu"


def test_integral_floats_are_counts(tmp_path: Path) -> None:
    path = _kpi_file(tmp_path, kpis(notices_sent=5.0, hard_bounces=0.0, dlq_depth=1e2, errors=3.0))

    reading = read_kpis(path, "acme", DATE)

    assert reading.valid
    assert reading.values["notices_sent"] == 5
    assert reading.values["dlq_depth"] == 100
    assert reading.model is not None
    assert isinstance(reading.model.notices_sent, int)


def test_integer_rates_zero_and_one_are_valid(tmp_path: Path) -> None:
    for rate in (0, 1):
        reading = read_kpis(_kpi_file(tmp_path, kpis(error_rate=rate)), "acme", DATE)
        assert reading.valid
        assert reading.values["error_rate"] == rate


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("notices_sent", True, "not bool"),
        ("hard_bounces", False, "not bool"),
        ("error_rate", True, "not bool"),
        ("dlq_depth", 2.5, "whole number"),
        ("retry_depth", "5", "not str"),
        ("notices_sent", None, "not NoneType"),
        ("dlq_depth", [1], "not list"),
        ("dlq_depth", {"value": 1}, "not dict"),
        ("dlq_depth", -1, "greater than or equal to 0"),
        ("error_rate", 1.5, "must be a fraction in [0, 1] (0.03 is 3 %), got 1.5"),
        ("error_rate", -0.01, "must be a fraction in [0, 1] (0.03 is 3 %), got -0.01"),
        ("error_rate", "2%", "not str"),
        ("errors", 2.5, "whole number"),
        ("soft_bounces", -3, "greater than or equal to 0"),
        ("soft_bounces", True, "not bool"),
        ("generated_at", "yesterday", "datetime"),
    ],
)
def test_a_mistyped_field_is_named_with_the_file(
    tmp_path: Path, field: str, value: Any, expected: str
) -> None:
    path = _kpi_file(tmp_path, {**GOOD_KPIS, field: value})

    reading = read_kpis(path, "acme", DATE)

    assert not reading.valid
    assert reading.model is None
    assert list(reading.field_errors) == [field]
    assert expected in reading.field_errors[field]
    (problem,) = reading.problems()
    assert problem.startswith(f"{reading.path}: field {field}: ")
    assert problem.count(reading.path) == 1
    assert "\n" not in problem


def test_the_other_fields_stay_readable_beside_a_bad_one(tmp_path: Path) -> None:
    path = _kpi_file(tmp_path, kpis(retry_depth="many", dlq_depth=7))

    reading = read_kpis(path, "acme", DATE)

    assert reading.values["dlq_depth"] == 7
    assert "retry_depth" not in reading.values
    assert set(reading.field_errors) == {"retry_depth"}


@pytest.mark.parametrize(
    "field", ["notices_sent", "error_rate", "hard_bounces", "dlq_depth", "retry_depth"]
)
def test_every_required_field_is_required(tmp_path: Path, field: str) -> None:
    reading = read_kpis(_kpi_file(tmp_path, kpis(**{field: None})), "acme", DATE)

    assert reading.field_errors == {field: "missing (required)"}


def test_more_hard_bounces_than_notices_is_invalid(tmp_path: Path) -> None:
    reading = read_kpis(_kpi_file(tmp_path, kpis(notices_sent=3, hard_bounces=4)), "acme", DATE)

    assert not reading.valid
    assert "more than notices_sent" in reading.field_errors["hard_bounces"]
    assert reading.values["notices_sent"] == 3


def test_equal_hard_bounces_and_notices_is_valid(tmp_path: Path) -> None:
    reading = read_kpis(_kpi_file(tmp_path, kpis(notices_sent=3, hard_bounces=3)), "acme", DATE)

    assert reading.valid


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty file"),
        (b"  \n", "empty file"),
        (b"{", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b"null", "expected a JSON object, got NoneType"),
        (b"42", "expected a JSON object, got int"),
        (b'{"notices_sent": NaN}', "NaN is not a number JSON allows"),
        (b'{"error_rate": Infinity}', "Infinity is not a number JSON allows"),
        (b'{"error_rate": -Infinity}', "-Infinity is not a number JSON allows"),
        (b'{"dlq_depth": 1, "dlq_depth": 30}', "duplicate key 'dlq_depth'"),
        (b'{"a": {"b": 1, "b": 2}}', "duplicate key 'b'"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (json.dumps(kpis(tenant="globex")).encode(), "field tenant is 'globex', not 'acme'"),
        (json.dumps(kpis(date="2024-05-01")).encode(), "field date is '2024-05-01'"),
        (json.dumps(kpis(date=20240502)).encode(), "field date is "),
    ],
    ids=["empty", "blank", "truncated", "not-utf8", "bom", "list", "null", "number", "nan",
         "infinity", "minus-infinity", "duplicate", "nested-duplicate", "deep", "other-tenant",
         "other-date", "date-number"],
)  # fmt: skip
def test_an_unreadable_kpi_file_is_one_problem_naming_it(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = _kpi_file(tmp_path, content)

    reading = read_kpis(path, "acme", DATE)

    assert reading.present and not reading.valid
    assert reading.model is None
    (problem,) = reading.problems()
    assert problem.startswith(reading.path)
    assert expected in problem
    assert "\n" not in problem
    assert reading.sha256 == hashlib.sha256(content).hexdigest()


def test_a_missing_kpi_file_is_named_with_its_date(tmp_path: Path) -> None:
    path = tmp_path / "acme" / f"{DATE}.json"

    reading = read_kpis(path, "acme", DATE)

    assert (reading.present, reading.valid, reading.sha256) == (False, False, None)
    assert reading.problems() == [
        f"{reading.path}: KPI file missing for 2024-05-02; the folder has no KPI file at all"
    ]


def test_a_folder_or_a_dangling_link_in_place_of_the_kpi_file_is_invalid(tmp_path: Path) -> None:
    folder = tmp_path / "a" / f"{DATE}.json"
    folder.mkdir(parents=True)
    link = tmp_path / "b" / f"{DATE}.json"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "nowhere.json")

    as_folder = read_kpis(folder, "acme", DATE)
    as_link = read_kpis(link, "acme", DATE)

    assert "is a folder" in as_folder.problems()[0]
    assert as_link.present and not as_link.valid
    assert "cannot be read" in as_link.problems()[0]


def test_kpis_from_a_hook_are_validated_like_a_file() -> None:
    good = kpis_from_object(dict(GOOD_KPIS), "hook", "acme", DATE, None)
    bad = kpis_from_object([GOOD_KPIS], "hook", "acme", DATE, None)
    mistyped = kpis_from_object(kpis(dlq_depth=True), "hook", "acme", DATE, None)

    assert good.valid and good.sha256 is None
    assert bad.problems() == ["hook: expected a JSON object, got list"]
    assert mistyped.problems() == ["hook: field dlq_depth: must be a whole number, not bool"]  # fmt: skip


# --- blocklist --------------------------------------------------------------------------------


def test_no_blocklist_is_valid_and_absent(tmp_path: Path) -> None:
    reading = read_blocklist(tmp_path / "ops" / "blocklist.json", DATE)

    assert (reading.present, reading.valid, reading.summary, reading.sha256) == (
        False,
        True,
        None,
        None,
    )


@pytest.mark.parametrize("wrap", [True, False], ids=["object", "bare-list"])
def test_a_blocklist_is_summarised_without_addresses(tmp_path: Path, wrap: bool) -> None:
    entries = [
        {**hard_bounce("2024-05-02T08:00:00+02:00"), "address": "max@example.org"},
        hard_bounce("2024-05-01T08:00:00+02:00"),
        {"reason": "complaint", "address": "erika@example.org"},
        {"reason": "manual", "added_at": "2024-05-02T08:00:00+02:00"},
    ]
    path = _file(tmp_path, "ops/blocklist.json", {"entries": entries} if wrap else entries)

    reading = read_blocklist(path, DATE)

    assert reading.valid and reading.present
    assert reading.summary is not None
    assert reading.summary.model_dump() == {
        "entries": 4,
        "by_reason": {"hard_bounce": 2, "complaint": 1, "manual": 1},
        "hard_bounces_on_date": 1,
    }
    dumped = reading.summary.model_dump_json()
    assert "example.org" not in dumped
    assert "ab" * 32 not in dumped


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{", "not JSON"),
        (b"{}", "expected {'entries': [...]}"),
        (b'"entries"', "expected {'entries': [...]}"),
        (b"[1]", "entry 0 is not an object"),
        (b'[{"added_at": "2024-05-02T08:00:00Z"}]', "entry 0: reason must be a string"),
        (b'[{"reason": 7}]', "entry 0: reason must be a string"),
        (b'[{"reason": "manual"}, {"reason": "hard_bounce"}]', "entry 1: hard_bounce without"),
        (b'[{"reason": "hard_bounce", "added_at": null}]', "entry 0: hard_bounce without"),
        (b'[{"reason": "hard_bounce", "added_at": "2.5.2024"}]', "entry 0: hard_bounce without"),
        (b'[{"reason": "hard_bounce", "added_at": "2024-02-30T00:00:00"}]', "entry 0"),
        (b'{"entries": [], "entries": [{}]}', "duplicate key"),
    ],
)
def test_a_corrupt_blocklist_is_one_line_naming_the_file(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = _file(tmp_path, "ops/blocklist.json", content)

    reading = read_blocklist(path, DATE)

    assert not reading.valid
    assert reading.summary is None
    assert reading.error is not None
    assert reading.error.startswith(reading.path)
    assert expected in reading.error
    assert "\n" not in reading.error
    assert reading.sha256 == hashlib.sha256(content).hexdigest()


# --- operate state ----------------------------------------------------------------------------


def test_no_state_file_is_valid_and_absent(tmp_path: Path) -> None:
    reading = read_state(tmp_path / "operate_state.json", "acme", STEPS)

    assert (reading.present, reading.valid, reading.state) == (False, True, None)


def test_a_state_file_with_history_and_review_is_read(tmp_path: Path) -> None:
    content = state(
        quota=25,
        serial=2,
        review=review(),
        history=[history_entry(serial=2, decision="GO_25", decision_id="cd" * 32)],
    )
    path = _file(tmp_path, "operate_state.json", content)

    reading = read_state(path, "acme", STEPS)

    assert reading.valid and reading.state is not None
    assert (reading.state.quota, reading.state.serial) == (25, 2)
    assert reading.state.review is not None and reading.state.review.by == "oncall"
    assert reading.state.history[0].kpi_date == dt.date(2024, 5, 2)
    assert reading.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("content", "steps", "expected"),
    [
        (b"", STEPS, "empty file"),
        (b"{", STEPS, "not JSON"),
        (b"[]", STEPS, "(top level)"),
        (state(tenant="globex"), STEPS, "tenant is 'globex', not 'acme'"),
        (state(quota=30), STEPS, "quota 30 is not one of the steps 10, 25, 50, 100"),
        (state(quota=25), (5, 50, 100), "quota 25 is not one of the steps 5, 50, 100"),
        (state(quota=101), STEPS, "field quota"),
        ({**state(), "extra": True}, STEPS, "field extra"),
        ({**state(), "serial": -1}, STEPS, "field serial"),
        ({**state(), "kill_switch": "no"}, STEPS, "field kill_switch"),
        ({**state(), "kill_switch": 0}, STEPS, "field kill_switch"),
        ({**state(), "quota": "25"}, STEPS, "field quota"),
        ({**state(), "schema_version": 2}, STEPS, "field schema_version"),
        ({**state(), "updated_at": "2024-05-02T10:00:00"}, STEPS, "field updated_at"),
        ({**state(), "tenant": "ALL"}, STEPS, "field tenant"),
        ({**state(), "tenant": "all"}, STEPS, "reserved"),
        ({**state(), "review": {"by": "x"}}, STEPS, "field review"),
        (state(history=[{"serial": 1}]), STEPS, "field history.0"),
        (
            state(history=[history_entry(serial=1, decision="MAYBE", decision_id="cd" * 32)]),
            STEPS,
            "field history.0.decision",
        ),
        (
            state(history=[history_entry(serial=1, decision="GO_25", decision_id="short")]),
            STEPS,
            "field history.0.decision_id",
        ),
    ],
)
def test_an_invalid_state_is_one_line_naming_the_file(
    tmp_path: Path, content: Any, steps: tuple[int, ...], expected: str
) -> None:
    path = _file(tmp_path, "operate_state.json", content)

    reading = read_state(path, "acme", steps)

    assert reading.present and not reading.valid
    assert reading.state is None
    assert reading.error is not None
    assert reading.error.startswith(reading.path)
    assert expected in reading.error
    assert "\n" not in reading.error


@pytest.mark.parametrize("field", ["notices_sent", "error_rate", "dlq_depth"])
def test_an_integer_beyond_any_float_is_invalid_not_a_crash(tmp_path: Path, field: str) -> None:
    path = _kpi_file(tmp_path, json.dumps(kpis(**{field: 10**400})).encode())

    reading = read_kpis(path, "acme", DATE)

    assert not reading.valid
    assert "must be a finite number" in reading.field_errors[field]


def test_a_bad_extra_key_is_ignored_but_cannot_feed_a_gate(tmp_path: Path) -> None:
    path = _kpi_file(tmp_path, json.dumps(kpis(custom_metric=10**400)).encode())

    reading = read_kpis(path, "acme", DATE)

    assert reading.valid  # other keys are allowed and ignored (docs/file-formats.md)
    assert "custom_metric" not in reading.values
    assert "must be a finite number" in reading.unusable["custom_metric"]


def test_a_blocklist_reason_outside_the_contract_is_counted_but_never_named(tmp_path: Path) -> None:
    entries = [
        {"reason": "jane.doe@example.org", "added_at": "2024-05-02T08:00:00+02:00"},
        {"reason": "complaint", "added_at": "2024-05-02T08:00:00+02:00"},
    ]
    path = tmp_path / "blocklist.json"
    path.write_text(json.dumps({"entries": entries}))

    reading = read_blocklist(path, DATE)

    assert reading.summary is not None
    assert reading.summary.by_reason == {"other": 1, "complaint": 1}
    assert "example.org" not in reading.summary.model_dump_json()


# --- files and bytes read alike -----------------------------------------------------------------

_PAYLOADS = [
    json.dumps(GOOD_KPIS).encode(),
    json.dumps(kpis(error_rate="high", dlq_depth=3)).encode(),
    b'{"notices_sent": 1000,',
    b"\xef\xbb\xbf{}",
    json.dumps([hard_bounce(f"{DATE}T08:00:00+02:00")]).encode(),
    json.dumps(state(quota=25, serial=1, review=review())).encode(),
    json.dumps(state(quota=30)).encode(),
]


@pytest.mark.parametrize("payload", _PAYLOADS, ids=range(len(_PAYLOADS)))
def test_a_file_reads_as_its_bytes_parse(tmp_path: Path, payload: bytes) -> None:
    """What the engine's tests build from bytes in memory is what the readers make of the file."""
    kpi_path, blocklist_path = (
        _file(tmp_path, "k.json", payload),
        _file(tmp_path, "b.json", payload),
    )
    state_path = _file(tmp_path, "s.json", payload)

    assert read_kpis(kpi_path, "acme", DATE) == kpis_from_bytes(
        payload, display_path(kpi_path), "acme", DATE
    )
    assert read_blocklist(blocklist_path, DATE) == blocklist_from_bytes(
        payload, display_path(blocklist_path), DATE
    )
    assert read_state(state_path, "acme", STEPS) == state_from_bytes(
        payload, display_path(state_path), "acme", STEPS
    )
