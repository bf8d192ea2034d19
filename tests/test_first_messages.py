"""The messages a new user meets first: rates as percentages, and a broken JSON file."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _plugin_fixtures import canary_script, run
from pytest_canary.ops.validate import validate_paths

GOOD = {
    "notices_sent": 100,
    "error_rate": 0.01,
    "hard_bounces": 0,
    "dlq_depth": 0,
    "retry_depth": 0,
}


def _validate(tmp_path: Path, text: str) -> tuple[int, list[str]]:
    kpi = tmp_path / "acme" / "2026-11-26.json"
    kpi.parent.mkdir(parents=True, exist_ok=True)
    kpi.write_text(text, encoding="utf-8")
    done = run([canary_script(), "validate", "--quiet", "acme/2026-11-26.json"], cwd=tmp_path)
    return done.returncode, done.stdout.splitlines()


def test_a_rate_written_as_a_percentage_is_refused_saying_rates_are_fractions(
    tmp_path: Path,
) -> None:
    code, lines = _validate(tmp_path, json.dumps({**GOOD, "error_rate": 3}))
    assert code == 1
    assert lines == [
        "acme/2026-11-26.json: field error_rate: must be a fraction in [0, 1] (0.03 is 3 %), got 3"
    ]


def test_a_rate_that_looks_like_a_percentage_is_valid_with_a_warning(tmp_path: Path) -> None:
    code, lines = _validate(tmp_path, json.dumps({**GOOD, "error_rate": 1}))
    assert code == 0
    assert lines == [
        "warning: acme/2026-11-26.json: field error_rate is 1, which means 100 %; rates are"
        " fractions (0.03 is 3 %): if 1 % is meant, write 0.01"
    ]


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rate=st.floats(min_value=0, max_value=1))
def test_only_a_rate_above_one_half_is_warned_about(tmp_path: Path, rate: float) -> None:
    kpi = tmp_path / "acme" / "2026-11-26.json"
    kpi.parent.mkdir(parents=True, exist_ok=True)
    kpi.write_text(json.dumps({**GOOD, "error_rate": rate}), encoding="utf-8")
    warnings: list[str] = []
    problems, _ = validate_paths([kpi], warnings)
    assert problems == []
    assert len(warnings) == (rate > 0.5)


def test_a_json_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    text = '{"notices_sent": 100,\n "error_rate": 0.01, "hard_bounces": 0, "dlq_depth": 0, "retry_depth": 0,\n}'
    code, lines = _validate(tmp_path, text)
    assert code == 1
    assert lines == [
        "acme/2026-11-26.json: not JSON (Expecting property name enclosed in double quotes"
        " at line 3, column 1)"
    ]
