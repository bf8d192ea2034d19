"""The Markdown and terminal text a person reads: decision first, every gate, worst first."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from _report_fixtures import decision, gate, rollout
from pytest_canary.core.records import InputRecord
from pytest_canary.render import report


def _table_rows(markdown: str) -> list[str]:
    """The header and body rows of the first table (its separator row left out)."""
    rows: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            if not line.startswith("| ---"):
                rows.append(line)
        elif rows:
            break
    return rows


def _split_cells(row: str) -> list[str]:
    """Cells of a Markdown table row, honouring escaped pipes."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


# --- decision_markdown ----------------------------------------------------------------------


def test_decision_markdown_starts_with_tenant_and_decision_word() -> None:
    text = report.decision_markdown(decision("acme", "GO_25"))

    first = text.splitlines()[0]
    assert first == "## acme — GO_25"
    assert "2024-05-02" in text.splitlines()[2]
    assert "- quota: 10 % → 25 %" in text
    assert "- kill switch: off → off" in text


def test_decision_markdown_has_one_table_row_per_gate_in_order() -> None:
    text = report.decision_markdown(decision())

    rows = _table_rows(text)
    assert rows[0].startswith("| gate | value | threshold | backout above | verdict | source |")
    gate_rows = rows[1:]
    assert [_split_cells(r)[0] for r in gate_rows] == [
        "Fehlerquote (error_rate)",
        "Hard-Bounce-Rate (hard_bounce_rate)",
        "DLQ-Tiefe (dlq_depth)",
        "Retry-Tiefe (retry_depth)",
        "Mindestvolumen (min_volume)",
    ]
    assert all(len(_split_cells(r)) == 6 for r in gate_rows)


def test_decision_markdown_formats_rates_as_percent_and_counts_as_ints() -> None:
    gates = [
        gate(value=0.031, status="hold"),
        gate("dlq_depth", label="DLQ-Tiefe", value=12.0, threshold=10.0, backout_threshold=20.0),
        gate(
            "min_volume",
            label="Mindestvolumen",
            value=None,
            op=">=",
            threshold=3.0,
            backout_threshold=None,
            status="error",
        ),
    ]
    text = report.decision_markdown(decision(word="HOLD", gates=gates, reasons=["x"]))

    rate, depth, volume = (_split_cells(r) for r in _table_rows(text)[1:])
    assert rate[1:5] == ["3.1 % (0.031)", "≤ 2 % (0.02)", "4 % (0.04)", "HOLD"]
    assert depth[1:4] == ["12", "≤ 10", "20"]
    assert volume[1:5] == ["—", "≥ 3", "—", "ERROR"]


def test_decision_markdown_escapes_pipes_and_newlines_in_cells() -> None:
    g = gate(label="a|b", source="gates/x.toml\n| injected | row |")
    text = report.decision_markdown(decision(gates=[g]))

    rows = _table_rows(text)
    assert len(rows) == 2  # header and one gate: the newline did not start a row
    cells = _split_cells(rows[1])
    assert len(cells) == 6
    assert cells[0] == "a\\|b (error_rate)"
    assert cells[5] == "gates/x.toml \\| injected \\| row \\|"


def test_decision_markdown_marks_shadow_gates() -> None:
    g = gate("new_gate", label="Neu", shadow=True, status="hold", value=0.5)
    text = report.decision_markdown(decision(gates=[gate(), g]))

    shadow_row = _split_cells(_table_rows(text)[2])
    assert "[shadow]" in shadow_row[0]
    assert shadow_row[4] == "HOLD (shadow, not counted)"


def test_decision_markdown_orders_decision_table_reasons_ids_trend() -> None:
    d = decision(
        word="BACKOUT",
        quota=50,
        reasons=["error_rate 5 % above backout 4 %", "second\nline"],
        inputs=[
            InputRecord(
                name="kpis",
                path="acme/2024-05-02.json",
                sha256=None,
                valid=False,
                error="error_rate: must be a number",
            )
        ],
    )
    text = report.decision_markdown(d, trend="xychart-beta\n  line [1, 2]")

    order = [
        text.index("## acme — BACKOUT"),
        text.index("- quota: 50 % → 10 %"),
        text.index("| gate |"),
        text.index("### Reasons"),
        text.index("- second line"),
        text.index("trace id: `0123456789abcdef0123456789abcdef`"),
        text.index("decision id:"),
        text.index("```mermaid\nxychart-beta"),
    ]
    assert order == sorted(order)
    assert "- kill switch: off → on (recommended on)" in text
    assert "- kpis: INVALID, `acme/2024-05-02.json`: error_rate: must be a number" in text
    assert text.rstrip().endswith("```")


def test_decision_markdown_says_when_no_gate_ran() -> None:
    text = report.decision_markdown(decision(word="HOLD", gates=[], reasons=["no KPI file"]))
    assert "No gate ran." in text
    assert "| gate |" not in text


# --- rollout_markdown -----------------------------------------------------------------------


def test_rollout_markdown_shows_outcome_before_after_and_trace() -> None:
    text = report.rollout_markdown(rollout(reasons=["all gates passed"]))

    assert text.splitlines()[0] == "## acme — rollout APPLIED"
    assert "changed yes" in text
    rows = {_split_cells(r)[0]: _split_cells(r)[1:] for r in _table_rows(text)[1:]}
    assert rows["quota"] == ["10 %", "25 %"]
    assert rows["kill switch"] == ["off", "off"]
    assert rows["serial"] == ["3", "4"]
    assert "- all gates passed" in text
    assert "trace id: `0123456789abcdef0123456789abcdef`" in text


def test_rollout_markdown_of_refusal_has_no_after_state() -> None:
    text = report.rollout_markdown(
        rollout(outcome="refused", after=None, reasons=["stale: base quota 10, state 25"])
    )
    rows = {_split_cells(r)[0]: _split_cells(r)[1:] for r in _table_rows(text)[1:]}
    assert rows["quota"] == ["10 %", "—"]
    assert "changed no" in text
    assert "- stale: base quota 10, state 25" in text


# --- summary_markdown and terminal_lines ----------------------------------------------------


def _mixed() -> list:  # type: ignore[type-arg]
    return [
        decision("zeta", "GO_50", quota=25),
        decision("beta", "HOLD", quota=25, reasons=["error_rate 3.1 % > 2 %", "dlq 12 > 10"]),
        decision("acme", "GO_25"),
        decision("omega", "BACKOUT", quota=50, reasons=["dlq_depth 25 > backout 20"]),
        decision("alpha", "HOLD", quota=10, reasons=["KPI file missing"]),
    ]


def test_summary_markdown_lists_worst_first_with_details_of_non_go() -> None:
    text = report.summary_markdown(_mixed())

    rows = [_split_cells(r) for r in _table_rows(text)[1:]]
    assert [r[0] for r in rows] == ["omega", "alpha", "beta", "acme", "zeta"]
    assert rows[0] == ["omega", "BACKOUT", "50 % → 10 %", "dlq_depth 25 > backout 20"]
    assert rows[3][3] == "—"
    assert "5 tenant(s): 1 BACKOUT, 2 HOLD, 1 GO_25, 1 GO_50" in text
    details = text[text.index("---\n") :]
    assert "## omega — BACKOUT" in details and "## beta — HOLD" in details
    assert "## acme — GO_25" not in details


def test_summary_markdown_shows_rollouts_and_details_refusals() -> None:
    logs = {
        "acme": rollout(outcome="refused", after=None, reasons=["decision too old"]),
        "zeta": rollout("zeta", "GO_50", before=(25, False), after=(50, False)),
    }
    text = report.summary_markdown(_mixed(), logs)

    rows = {_split_cells(r)[0]: _split_cells(r) for r in _table_rows(text)}
    assert rows["tenant"] == ["tenant", "decision", "quota", "rollout", "first reason"]
    assert rows["acme"][3] == "refused: decision too old"
    assert rows["zeta"][3] == "applied"
    assert rows["beta"][3] == "—"
    assert "## acme — rollout REFUSED" in text


def test_summary_markdown_of_no_decision() -> None:
    assert "No tenant was decided." in report.summary_markdown([])


def test_terminal_lines_one_per_tenant_worst_first() -> None:
    logs = {"acme": rollout(), "beta": rollout("beta", "HOLD", outcome="unchanged")}
    lines = report.terminal_lines(_mixed(), logs)

    assert lines == [
        "omega: BACKOUT (would set quota 50 → 10, kill switch off → on; nothing applied until"
        " rollout or cycle): dlq_depth 25 > backout 20",
        "alpha: HOLD (no change: quota 10): KPI file missing",
        "beta: HOLD (quota 25 → 25) [unchanged]: error_rate 3.1 % > 2 %; dlq 12 > 10",
        "acme: GO_25 (quota 10 → 25) [applied]",
        "zeta: GO_50 (would set quota 25 → 50; nothing applied until rollout or cycle)",
    ]


def test_terminal_lines_show_refused_rollout_reason() -> None:
    logs = {"acme": rollout(outcome="refused", after=None, reasons=["locked by another rollout"])}
    lines = report.terminal_lines([decision()], logs)
    assert lines == ["acme: GO_25 (quota 10 → 25) [refused: locked by another rollout]"]


def test_terminal_lines_stay_compact_for_ten_thousand_tenants() -> None:
    decisions = [decision(f"t{i:05d}", "GO_25") for i in range(9_900)]
    decisions += [decision(f"h{i:03d}", "HOLD", reasons=["low volume"]) for i in range(90)]
    decisions += [decision(f"b{i:02d}", "BACKOUT", quota=25, reasons=["dlq"]) for i in range(10)]

    lines = report.terminal_lines(decisions)

    assert lines[0] == "10000 tenants: 10 BACKOUT, 90 HOLD, 9900 GO_25"
    shown = lines[1:-1]
    assert len(shown) == report.TERMINAL_CAP
    assert all(line.startswith("b") for line in shown[:10])
    assert lines[-1] == "… 50 more (see decision files)"


def test_terminal_lines_many_all_go_show_only_counts() -> None:
    lines = report.terminal_lines([decision(f"t{i:03d}") for i in range(60)])
    assert lines == ["60 tenants: 60 GO_25"]


# --- failure_line ---------------------------------------------------------------------------


def test_failure_line_hold_says_value_threshold_and_source() -> None:
    g = gate(
        value=0.031,
        status="hold",
        source="env CANARY_THRESHOLD_ERROR_RATE",
        message="error rate above the threshold",
    )
    assert report.failure_line(g) == (
        "HOLD: error_rate 0.031 > 0.02 (Fehlerquote; threshold from env "
        "CANARY_THRESHOLD_ERROR_RATE)"
    )


def test_failure_line_backout_compares_with_backout_threshold() -> None:
    g = gate(
        "dlq_depth",
        label="DLQ-Tiefe",
        value=25.0,
        threshold=10.0,
        backout_threshold=20.0,
        status="backout",
        message="",
    )
    assert report.failure_line(g) == (
        "BACKOUT: dlq_depth 25 > 20 (DLQ-Tiefe; backout threshold; hold above 10; "
        "threshold from built-in)"
    )


def test_failure_line_min_volume_and_error_start_with_hold() -> None:
    low = gate(
        "min_volume",
        label="Mindestvolumen",
        value=2.0,
        op=">=",
        threshold=3.0,
        status="hold",
        message="too few notices",
    )
    broken = gate(
        value=None,
        status="error",
        message="error_rate: cannot compute: acme/2024-05-02.json:\nerror_rate missing",
    )
    assert report.failure_line(low).startswith("HOLD: min_volume 2 < 3 (Mindestvolumen;")
    line = report.failure_line(broken)
    assert line.startswith("HOLD: error_rate has no value (Fehlerquote; threshold <= 0.02;")
    assert line.endswith(") — cannot compute: acme/2024-05-02.json: error_rate missing")


def test_failure_line_of_kill_switch_and_custom_gate_says_why() -> None:
    switch = gate(
        "kill_switch",
        label="Kill-Switch",
        kind="kill_switch",
        value=1.0,
        op="==",
        threshold=0.0,
        backout_threshold=None,
        status="hold",
        message="kill switch on and no review recorded since: run `canary review`",
        source="acme/operate/operate_state.json",
    )
    custom = gate(
        "test_no_spike",
        label="test_no_spike",
        kind="custom",
        value=None,
        threshold=None,
        backout_threshold=None,
        status="backout",
        message="test_no_spike: AssertionError: spike\nassert 9 < 5",
        source="gates/test_spike.py",
    )
    assert report.failure_line(switch) == (
        "HOLD: kill_switch (Kill-Switch; from acme/operate/operate_state.json) — kill switch on "
        "and no review recorded since: run `canary review`"
    )
    assert report.failure_line(custom) == (
        "BACKOUT: test_no_spike (from gates/test_spike.py) — AssertionError: spike assert 9 < 5"
    )


def test_failure_line_marks_shadow_gate() -> None:
    line = report.failure_line(gate(status="hold", value=0.5, shadow=True))
    assert "shadow gate, not counted in the decision" in line


@given(st.text())
def test_failure_line_is_always_one_line(message: str) -> None:
    line = report.failure_line(gate(status="error", value=None, message=message, source=message))
    assert "\n" not in line and "\r" not in line
    assert line.startswith("HOLD: ")
