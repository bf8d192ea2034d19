"""Hostile text through every printer and every Markdown surface: property tests.

The strings mix what breaks each surface: line separators (``\\n``, U+2028 ...), workflow
commands (``::``, ``##[``, ``%0A``), HTML, Markdown links and images, pipes, backticks, block
markers and an address. Fast tests drive the render functions with many examples; one slower test
drives the commands themselves, in a GitHub Actions environment, with a few.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from _plugin_fixtures import DATE, CanaryRoot, canary_script
from _report_fixtures import decision, gate, rollout
from pytest_canary.render import report
from pytest_canary.render.text import flatten, inert, md, md_code, one_line
from test_output_safety import inert_markdown, own_commands_only, runner_commands

ADDRESS = "erika.mustermann@example.org"
PARTS = [
    "\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x1b[31m", "\t",
    "::error title=Deploy approved::ok", "::add-mask::acme", "  ::warning::x", "%0A::error::y",
    "##[add-mask]acme", "::stop-commands::abc",
    "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "&lt;b&gt;", "&#60;i&#62;",
    "[Approve](https://evil.example)", "![i](https://evil.example/i.png)", "<https://evil.example>",
    "www.evil.example", "https://evil.example", "[ref]: https://evil.example",
    "| a | b |", "|---|", "`code`", "```", "~~~", "~~del~~", "_em_", "*em*", "**b**", "$x$",
    "# head", "> quote", "- item", "+ item", "1. item", "===", "---", "\\", "\\[", "  ",
    ADDRESS, "a", "é", "😀",
]  # fmt: skip
hostile = st.lists(st.sampled_from(PARTS) | st.text(max_size=4), min_size=1, max_size=8).map(
    "".join
)


def _rendered_text(text: str) -> str:
    """The text a reader sees when ``text`` (one line of Markdown) is rendered."""
    tokens = MarkdownIt("gfm-like").parseInline(text)
    return "".join(
        child.content
        for token in tokens
        for child in token.children or []
        if child.type in ("text", "code_inline", "softbreak")
    )


@given(hostile)
def test_a_printed_line_is_one_line_that_starts_no_workflow_command(text: str) -> None:
    line = inert(flatten(text))
    assert len(line.splitlines()) <= 1
    assert runner_commands(line) == []


@given(hostile)
def test_markdown_of_outside_text_renders_as_exactly_that_text(text: str) -> None:
    escaped = md(text)
    inert_markdown(escaped)
    inert_markdown(f"- {escaped}")
    inert_markdown(f"| {escaped} |\n| --- |\n| {escaped} |")
    assert _rendered_text(escaped) == one_line(text)
    inert_markdown(md_code(text))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(hostile, hostile)
def test_every_report_surface_renders_hostile_text_inert(a: str, b: str) -> None:
    gates = [gate(label=a, source=b, message=a), gate("dlq_depth", label=b, status="hold")]
    d = decision(word="HOLD", reasons=[a, b], gates=gates)
    log = rollout(outcome="refused", after=None, reasons=[a, b])
    surfaces = [
        report.decision_markdown(d),
        report.rollout_markdown(log),
        report.summary_markdown([d, decision("beta")], {"beta": log}),
    ]
    for text in surfaces:
        inert_markdown(text)
    for line in report.terminal_lines([d], {"acme": log}):
        assert runner_commands(inert(line)) == [] and "\n" not in line
    for g in gates:
        assert "\n" not in report.failure_line(g)


# --- the commands, end to end -------------------------------------------------------------------


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    return output


def _arg(text: str) -> str:
    """``text`` as a command-line argument can hold it: no argument can carry a NUL byte."""
    return text.replace("\x00", "")


def _toml(text: str) -> str:
    """``text`` as a TOML basic string: JSON's escapes, and DEL escaped as TOML wants."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


# A few examples, not shrunk: each runs six commands, and a failure shows its two strings anyway.
@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(a=hostile, b=hostile)
@example(a="Mahn\x00stufe", b="~~del~~\r\n\x00")  # a NUL, which a file holds and argv cannot
def test_hostile_text_in_every_field_reaches_no_runner_no_markdown_and_no_address(
    tmp_path_factory: object, a: str, b: str
) -> None:
    base = Path(str(tmp_path_factory.mktemp("hostile")))  # type: ignore[attr-defined]
    root = CanaryRoot(base / "root")
    review = {"by": a, "note": b, "at": "2026-11-25T09:00:00+01:00"}
    root.tenant("acme", state={"kill_switch": True, "serial": 0, "review": review})
    blocklist = {"entries": [{"reason": a, "address": ADDRESS, "added_at": f"{DATE}T01:00:00"}]}
    root.tenant("beta", dlq_depth=37, blocklist=blocklist)
    gates = base / "gates.toml"
    gates.write_text(f"[gates.error_rate]\nlabel = {_toml(b)}\n", encoding="utf-8")
    events = base / "events.jsonl"
    bad = {"tenant": "acme", "event": a, "ts": b, "notice_id": "n", "recipient": ADDRESS}
    events.write_text(json.dumps(bad) + "\n", encoding="utf-8")
    summary, outputs = base / "summary.md", base / "outputs"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CANARY_", "GITHUB_"))},
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
    }
    canary = canary_script()
    common = ["--root", str(root.path)]
    texts = [
        _run([canary, "cycle", *common, "--tenant", "all", "--date", DATE, "--gates", str(gates)],
             base, env),
        _run([sys.executable, "-m", "pytest", "-p", "canary", "-p", "no:cacheprovider",
              f"--canary-root={root.path}", f"--canary-date={DATE}", f"--canary-gates={gates}",
              "--canary-tenant", "all", "-q"], base, env),
        _run([canary, "review", *common, "--tenant", "beta", "--by", _arg(a), "--note", _arg(b)],
             base, env),
        _run([canary, "status", *common, "--all", "--today", DATE], base, env),
        _run([canary, "kpi", *common, "--tenant", "acme", "--date", DATE, "--source", str(events)],
             base, env),
    ]  # fmt: skip
    decision_file = root.decision_file("beta")
    data = json.loads(decision_file.read_text())
    data["reasons"] = [a, b, ADDRESS]  # a downloaded decision someone edited
    decision_file.write_text(json.dumps(data))
    texts.append(_run([canary, "rollout", *common, "--tenant", "beta"], base, env))

    for text in texts:
        own_commands_only(text)
        assert ADDRESS not in text
    for path in [*root.path.rglob("*.md"), summary]:
        content = path.read_text(encoding="utf-8")
        inert_markdown(content)
        assert ADDRESS not in content
    assert ADDRESS not in summary.read_text(encoding="utf-8") + outputs.read_text(encoding="utf-8")
