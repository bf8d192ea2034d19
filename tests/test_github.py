"""What a GitHub Actions run gets: a capped step summary, parseable outputs, escaped annotations."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from _report_fixtures import decision, rollout
from pytest_canary.render import github

MIB = 1024 * 1024


def _unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_property(text: str) -> str:
    text = text.replace("%3A", ":").replace("%2C", ",")
    return _unescape_data(text)


def _parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """Split ``::level key=value,...::message`` the way the runner does."""
    match = re.fullmatch(r"::(\w+) ([^:]*)::(.*)", line, flags=re.DOTALL)
    assert match, line
    props = dict(part.split("=", 1) for part in match.group(2).split(","))
    return (
        match.group(1),
        {k: _unescape_property(v) for k, v in props.items()},
        _unescape_data(match.group(3)),
    )


def _parse_outputs(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT file back: ``name=value`` and ``name<<DELIM`` ... ``DELIM``."""
    values: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            else:
                raise AssertionError(f"no closing delimiter for {name}")
            values[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            values[name] = value
    return values


# --- step summary -----------------------------------------------------------------------------


def test_step_summary_is_appended_after_existing_content(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("# earlier step", encoding="utf-8")

    github.append_step_summary(path, "## acme — GO_25\n")

    assert path.read_text(encoding="utf-8") == "# earlier step\n\n## acme — GO_25\n"


def test_step_summary_creates_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    github.append_step_summary(path, "## acme — HOLD\n")
    assert path.read_text(encoding="utf-8") == "## acme — HOLD\n"


def test_step_summary_stays_under_one_mib_when_file_is_nearly_full(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_bytes(b"x" * (MIB - 100))

    github.append_step_summary(path, "## big\n" + "| row | ü |\n" * 50_000)

    data = path.read_bytes()
    assert len(data) < MIB
    assert data.decode("utf-8").endswith(github.TRUNCATION_NOTE)


def test_step_summary_truncates_large_markdown_on_a_line_and_char_boundary(
    tmp_path: Path,
) -> None:
    path = tmp_path / "summary.md"
    markdown = "".join(f"| tenant{i} | HOLD | Fehlerquote ü€ |\n" for i in range(60_000))

    github.append_step_summary(path, markdown)

    data = path.read_bytes()
    assert MIB - 1024 < len(data) < MIB
    text = data.decode("utf-8")  # strict: no character was cut in half
    body = text.removesuffix(github.TRUNCATION_NOTE)
    assert body != text
    assert body.splitlines()[-1].endswith("€ |")
    assert markdown.startswith(body)


def test_step_summary_closes_a_code_fence_it_cuts(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    markdown = "## trend\n\n```mermaid\n" + "line 1\n" * 200_000 + "```\n"

    github.append_step_summary(path, markdown)

    text = path.read_text(encoding="utf-8")
    assert text.endswith(github.TRUNCATION_NOTE)  # the note is outside the fence, so it shows
    assert text.removesuffix(github.TRUNCATION_NOTE).endswith("\n```")
    assert len(text.encode()) < MIB


def test_step_summary_of_full_file_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_bytes(b"x" * (MIB - 10))

    github.append_step_summary(path, "## acme — GO_25\n")

    assert path.read_bytes() == b"x" * (MIB - 10)


@given(st.text(), st.integers(min_value=0, max_value=200))
def test_fit_never_exceeds_budget_or_splits_a_character(markdown: str, budget: int) -> None:
    data = github._fit(markdown, budget)
    assert len(data) <= budget
    data.decode("utf-8")


# --- outputs ----------------------------------------------------------------------------------


def test_outputs_for_one_tenant_have_decision_and_decisions(tmp_path: Path) -> None:
    path = tmp_path / "output"
    path.write_text("earlier=1\n", encoding="utf-8")

    github.write_outputs(path, {"acme": "GO_25"})

    text = path.read_text(encoding="utf-8")
    assert text == 'earlier=1\ndecision=GO_25\ndecisions={"acme":"GO_25"}\n'
    values = _parse_outputs(text)
    assert values["decision"] == "GO_25"
    assert json.loads(values["decisions"]) == {"acme": "GO_25"}


def test_outputs_for_many_tenants_have_only_decisions(tmp_path: Path) -> None:
    path = tmp_path / "output"

    github.write_outputs(path, {"beta": "HOLD", "acme": "BACKOUT"})

    values = _parse_outputs(path.read_text(encoding="utf-8"))
    assert "decision" not in values
    assert json.loads(values["decisions"]) == {"acme": "BACKOUT", "beta": "HOLD"}


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_output_entry_round_trips_any_value(value: str) -> None:
    value = value.replace("\r", "")  # the runner reads lines; CR only matters as a separator
    entry = github._output_entry("name", value)
    assert _parse_outputs(entry) == {"name": value}


# --- annotations ------------------------------------------------------------------------------


def test_annotations_backout_is_error_hold_is_warning_worst_first() -> None:
    lines = github.annotation_lines(
        [
            decision("zeta", "HOLD", quota=25, reasons=["error_rate 3.1 % > 2 %"]),
            decision("acme", "GO_25"),
            decision("beta", "BACKOUT", quota=50, reasons=["dlq_depth 25 > 20"]),
            decision("alpha", "HOLD", reasons=["KPI file missing"]),
        ]
    )

    parsed = [_parse_command(line) for line in lines]
    assert [(level, props["title"]) for level, props, _ in parsed] == [
        ("error", "canary beta: BACKOUT"),
        ("warning", "canary alpha: HOLD"),
        ("warning", "canary zeta: HOLD"),
    ]
    assert parsed[0][2] == "quota 50 → 10, kill switch on: dlq_depth 25 > 20"
    assert parsed[2][2] == "quota 25 → 25: error_rate 3.1 % > 2 %"


def test_annotations_report_a_refused_rollout_as_error() -> None:
    logs = {"acme": rollout(outcome="refused", after=None, reasons=["stale: decide again"])}
    lines = github.annotation_lines([decision("acme", "GO_25")], logs)
    assert [_parse_command(line)[1:] for line in lines] == [
        ({"title": "canary acme: rollout refused"}, "rollout of GO_25 refused: stale: decide again")
    ]


def test_annotations_are_at_most_ten_and_say_how_many_more() -> None:
    decisions = [decision(f"h{i:02d}", "HOLD", reasons=["low"]) for i in range(20)]
    decisions += [decision(f"b{i:02d}", "BACKOUT", quota=25, reasons=["dlq"]) for i in range(3)]

    lines = github.annotation_lines(decisions)

    assert len(lines) == github.MAX_ANNOTATIONS
    titles = [_parse_command(line)[1]["title"] for line in lines]
    assert titles[:4] == [
        "canary b00: BACKOUT",
        "canary b01: BACKOUT",
        "canary b02: BACKOUT",
        "canary h00: HOLD",
    ]
    assert titles[-1] == "canary: more tenants"
    assert _parse_command(lines[-1])[2].startswith("14 more tenant(s) need attention")


def test_annotations_escape_percent_newlines_colons_and_commas() -> None:
    d = decision("acme", "HOLD", reasons=["error rate 100%\nof notices", "a:b,c\r"])
    (line,) = github.annotation_lines([d])

    assert "\n" not in line and "\r" not in line  # reasons are flattened to one line
    assert "100%25 of notices" in line
    _level, _props, message = _parse_command(line)
    assert message == "quota 10 → 10: error rate 100% of notices; a:b,c"


def test_command_escapes_title_and_message() -> None:
    line = github._command("error", "canary acme: HOLD, 5%\nagain", "50%\r\nx: y, z")
    assert line == "::error title=canary acme%3A HOLD%2C 5%25%0Aagain::50%25%0D%0Ax: y, z"


@given(st.text())
def test_escaped_message_round_trips(text: str) -> None:
    escaped = github.escape_data(text)
    assert "\n" not in escaped and "\r" not in escaped
    assert _unescape_data(escaped) == text


@given(st.text())
def test_escaped_property_round_trips(text: str) -> None:
    escaped = github.escape_property(text)
    assert not set(escaped) & set("\r\n:,")
    assert _unescape_property(escaped) == text


# --- emit_files -------------------------------------------------------------------------------


def test_emit_files_writes_summary_and_outputs(tmp_path: Path) -> None:
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    written: list[str] = []
    decisions = [decision("acme", "GO_25"), decision("beta", "HOLD", reasons=["low volume"])]

    github.emit_files(
        decisions,
        {"acme": rollout()},
        {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)},
        written.append,
    )

    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## Canary decisions")
    assert "## beta — HOLD" in text
    values = _parse_outputs(output.read_text(encoding="utf-8"))
    assert json.loads(values["decisions"]) == {"acme": "GO_25", "beta": "HOLD"}
    assert written == []


def test_emit_files_outside_actions_does_nothing(tmp_path: Path) -> None:
    written: list[str] = []
    github.emit_files([decision("beta", "HOLD", reasons=["x"])], None, {}, written.append)
    assert written == []
    assert list(tmp_path.iterdir()) == []


def test_emit_files_reports_unwritable_file_in_one_line(tmp_path: Path) -> None:
    written: list[str] = []
    output = tmp_path / "output"
    github.emit_files(
        [decision()],
        None,
        {
            "GITHUB_STEP_SUMMARY": str(tmp_path / "missing" / "summary.md"),
            "GITHUB_OUTPUT": str(output),
        },
        written.append,
    )
    assert len(written) == 1
    assert written[0].startswith("canary: GITHUB_STEP_SUMMARY ")
    assert written[0].endswith(": cannot be written (No such file or directory)")
    assert _parse_outputs(output.read_text(encoding="utf-8"))["decision"] == "GO_25"
