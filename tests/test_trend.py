"""The trend in the decision Markdown: 14 days of each gate against its threshold, as Mermaid."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _plugin_fixtures import GOOD_KPIS, CanaryRoot, canary_script, run
from pytest_canary.render.trend import trend_chart
from pytest_canary.store.layout import TenantPaths
from pytest_canary.store.readers import kpi_history, kpi_values

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)

D = dt.date(2026, 11, 26)


def _day(back: int) -> dt.date:
    return D - dt.timedelta(days=back)


def test_chart_shows_values_as_bars_and_the_threshold_as_a_line() -> None:
    history = [(_day(0), {"error_rate": 0.031}), (_day(1), {"error_rate": 0.004})]

    chart = trend_chart(history, {"error_rate": 0.02})

    assert chart == "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            '    title "error_rate: bars = value, line = threshold 0.02 (2026-11-25 to 2026-11-26)"',
            '    x-axis ["11-25", "11-26"]',
            '    y-axis "error_rate" 0 --> 0.0341',
            "    bar [0.004, 0.031]",
            "    line [0.02, 0.02]",
            "```",
        ]
    )


def test_one_chart_per_thresholded_series_with_its_own_dates() -> None:
    history = [
        (_day(2), {"dlq_depth": 3.0, "error_rate": 0.01}),
        (_day(1), {"dlq_depth": 12.0}),
        (_day(0), {"dlq_depth": 4.0, "error_rate": 0.02}),
    ]

    chart = trend_chart(history, {"dlq_depth": 10.0, "error_rate": 0.02, "retry_depth": 50.0})

    assert chart is not None
    assert chart.count("xychart-beta") == 2  # retry_depth has no values: no chart
    assert '    x-axis ["11-24", "11-25", "11-26"]\n    y-axis "dlq_depth" 0 --> 13.2' in chart
    assert "    bar [3, 12, 4]\n    line [10, 10, 10]" in chart
    assert '    x-axis ["11-24", "11-26"]' in chart  # error_rate had no value on 11-25


def test_no_chart_without_a_trend() -> None:
    assert trend_chart([], {"error_rate": 0.02}) is None
    assert trend_chart([(D, {"error_rate": 0.01})], {"error_rate": 0.02}) is None
    assert trend_chart([(D, {"a": 1.0}), (_day(1), {"a": 2.0})], {"b": 1.0}) is None
    nan = [(D, {"a": float("nan")}), (_day(1), {"a": 2.0})]
    assert trend_chart(nan, {"a": 1.0}) is None


def test_a_label_cannot_break_out_of_the_chart() -> None:
    history = [(D, {'x"]\n```': 1.0}), (_day(1), {'x"]\n```': 2.0})]

    chart = trend_chart(history, {'x"]\n```': 1.0})

    assert chart is not None and chart.count("`") == 6  # the fence's own, nothing more
    assert '    title "x: bars' in chart and '    y-axis "x" 0' in chart


# --- in the decision Markdown, through a real run ---------------------------------------------


def _decide(root: CanaryRoot) -> str:
    done = run(
        [canary_script(), "decide", "--tenant", "acme", "--date", str(D), "--root", str(root.path)],
        cwd=root.path.parent,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return (root.path / "acme" / "canary" / f"{D.isoformat()}_decision.md").read_text()


def _chart(markdown: str, gate: str) -> str:
    found = re.search(rf'```mermaid\n[^`]*title "{gate}:[^`]*```', markdown)
    assert found, markdown
    return found.group(0)


def test_the_decision_markdown_shows_the_last_14_days(canary_root: CanaryRoot) -> None:
    for back in range(1, 15):  # 14 earlier days; the oldest falls outside the window
        canary_root.tenant("acme", date=_day(back).isoformat(), error_rate=back / 1000)
    (canary_root.path / "acme" / f"{_day(5).isoformat()}.json").write_text("{not json")
    canary_root.tenant("acme", date=D.isoformat(), error_rate=0.031)

    markdown = _decide(canary_root)

    assert "### Trend" in markdown
    assert markdown.count("xychart-beta") == 5  # one per built-in threshold gate
    chart = _chart(markdown, "error_rate")
    bars = [0.013, 0.012, 0.011, 0.01, 0.009, 0.008, 0.007, 0.006, 0.004, 0.003, 0.002, 0.001]
    assert f"bar [{', '.join(f'{b:g}' for b in bars)}, 0.031]" in chart  # 11-21 was corrupt
    assert '"11-13"' in chart and '"11-12"' not in chart and '"11-21"' not in chart
    assert "line [" + ", ".join(["0.02"] * 13) + "]" in chart
    hard = _chart(markdown, "hard_bounce_rate")
    assert "bar [" + ", ".join(["0.001"] * 13) + "]" in hard  # 1 / 1000, as the gate computes it


def test_no_trend_without_earlier_kpi_files(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", date=D.isoformat())
    canary_root.tenant("acme", date=_day(14).isoformat())  # outside the 14-day window

    markdown = _decide(canary_root)

    assert "### Trend" not in markdown and "mermaid" not in markdown


def test_another_tenants_file_is_not_its_history(canary_root: CanaryRoot) -> None:
    canary_root.tenant("acme", date=D.isoformat())
    canary_root.tenant("acme", date=_day(1).isoformat(), kpis={**GOOD_KPIS, "tenant": "beta"})

    markdown = _decide(canary_root)

    assert "### Trend" not in markdown


def test_no_earlier_kpi_file_can_break_the_decision(canary_root: CanaryRoot) -> None:
    folder = canary_root.tenant("acme", date=D.isoformat())
    odd = [
        '{"error_rate": 0.01, "dlq_depth": 1' + "0" * 400 + "}",  # an int beyond any float
        "[" * 100_000 + "]" * 100_000,  # nested too deeply for the parser
        '{"error_rate": NaN, "dlq_depth": Infinity}',
        "\xff\xfe not UTF-8",
        '{"error_rate": true, "dlq_depth": "3"}',
    ]
    for back, text in enumerate(odd, start=1):
        (folder / f"{_day(back).isoformat()}.json").write_bytes(text.encode("latin-1"))
    canary_root.tenant("acme", date=_day(9).isoformat(), error_rate=0.002)

    markdown = _decide(canary_root)

    # Day 1's error rate is readable, its dlq_depth is not; the other odd files are left out.
    assert "bar [0.002, 0.01, 0.001]" in _chart(markdown, "error_rate")
    assert '    x-axis ["11-17", "11-26"]' in _chart(markdown, "dlq_depth")
    assert "inf" not in markdown and "nan" not in markdown


def test_an_earlier_file_is_read_as_strictly_as_the_decision_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "2026-11-25.json"
    path.write_text('{"error_rate": 0.5, "error_rate": 0.01}')  # which one would be judged?
    assert kpi_values(path, "acme", _day(1)) is None
    path.write_text('{"error_rate": 1.5, "dlq_depth": 3, "custom": 2.5}')  # a rate above 1
    assert kpi_values(path, "acme", _day(1)) == {"dlq_depth": 3.0, "custom": 2.5}
    assert kpi_values(tmp_path / "2026-11-24.json", "acme", _day(2)) is None


def test_an_earlier_file_that_links_out_of_the_root_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "root" / "acme").mkdir(parents=True)
    paths = TenantPaths.open(tmp_path / "root", "acme")
    outside = tmp_path / "elsewhere.json"
    outside.write_text('{"dlq_depth": 3}')
    (paths.dir / f"{_day(1)}.json").symlink_to(outside)
    (paths.dir / f"{_day(3)}.json").write_text('{"dlq_depth": 4}')
    (paths.dir / f"{_day(2)}.json").symlink_to(paths.dir / f"{_day(3)}.json")  # inside: read

    assert kpi_history(paths, D, 14) == [
        (_day(3), {"dlq_depth": 4.0}),
        (_day(2), {"dlq_depth": 4.0}),
    ]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=64), _JSON.map(lambda v: json.dumps(v).encode())))
def test_reading_any_earlier_file_never_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "2026-11-25.json"
    path.write_bytes(content)

    values = kpi_values(path, "acme", _day(1))

    assert values is None or all(isinstance(v, float) and v == v for v in values.values())


@given(
    history=st.lists(
        st.tuples(
            st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 12, 31)),
            st.dictionaries(st.sampled_from(["a", "b"]), st.floats(allow_nan=True), max_size=2),
        ),
        max_size=14,
    ),
    threshold=st.floats(min_value=0, max_value=1e6),
)
def test_a_chart_is_well_formed_for_any_history(
    history: list[tuple[dt.date, dict[str, float]]], threshold: float
) -> None:
    chart = trend_chart(history, {"a": threshold})

    if chart is not None:
        assert chart.startswith("```mermaid\nxychart-beta\n") and chart.endswith("\n```")
        bars = chart.split("bar [")[1].split("]")[0].split(", ")
        line = chart.split("line [")[1].split("]")[0].split(", ")
        assert len(bars) == len(line) >= 2 and "nan" not in chart
