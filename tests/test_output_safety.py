"""Nothing bad gets out: what a GitHub runner, a Markdown renderer or a terminal makes of the output.

``runner_commands`` reads an output as the GitHub runner does (a ``::`` at the start of a line
after whitespace, ``##[`` anywhere, nothing between ``::stop-commands::TOKEN`` and ``::TOKEN::``),
so each test asserts on the commands GitHub would run, not on a guess at the wording.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from _plugin_fixtures import DATE, CanaryRoot, canary_script, run, run_inner

HOSTILE = "x\n::error title=Deploy approved::ok\u2028::add-mask::acme ##[add-mask]acme"
TIMEOUT = 60  # seconds: a test that would hang fails instead


def runner_commands(output: str) -> list[str]:
    """The lines a GitHub runner takes for workflow commands, in order."""
    commands: list[str] = []
    resume: str | None = None
    for line in re.split(r"\r\n|\r|\n", output):
        text = line.lstrip()
        if resume is not None:
            if text == resume:
                commands.append(text)
                resume = None
            continue
        if text.startswith("::") or "##[" in line:
            commands.append(text)
            match = re.fullmatch(r"::stop-commands::(\S+)", text)
            if match:
                resume = f"::{match.group(1)}::"
    return commands


def own_commands_only(output: str) -> list[str]:
    """The runner's commands, each checked to be one the project prints itself."""
    commands = runner_commands(output)
    for command in commands:
        assert re.fullmatch(
            r"::stop-commands::[0-9a-f]{32}|::[0-9a-f]{32}::|::(error|warning) title=canary[^\n]*",
            command,
        ), command
    return commands


def canary(root: CanaryRoot, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **env}
    done = subprocess.run(
        [canary_script(), *args],
        cwd=root.path.parent,
        env=environ,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def inert_markdown(text: str) -> None:
    """Render ``text`` as GitHub does (CommonMark, tables, strikethrough, autolinks): no HTML."""
    parser = MarkdownIt("gfm-like", {"linkify": True})
    parser.linkify.set({"fuzzy_link": False})  # GitHub links only www. and scheme:// text
    for token in parser.parse(text):
        assert token.type not in ("html_block", "html_inline"), token
        for child in token.children or []:
            assert child.type not in ("html_inline", "link_open", "image", "s_open", "em_open"), (
                child,
                text,
            )


# --- workflow commands ------------------------------------------------------------------------


def test_rollout_prints_a_hostile_reason_on_one_line_that_starts_no_command(
    canary_root: CanaryRoot,
) -> None:
    canary_root.tenant("acme", error_rate=0.031)
    decided = canary(canary_root, "decide", "--root", str(canary_root.path), "--date", DATE,
                     "--tenant", "acme")  # fmt: skip
    assert decided.returncode == 1, decided.stdout + decided.stderr
    path = canary_root.decision_file()
    data = json.loads(path.read_text())
    data["reasons"] = [HOSTILE]  # reasons are not part of the decision id
    path.write_text(json.dumps(data))

    done = canary(canary_root, "rollout", "--root", str(canary_root.path), "--tenant", "acme",
                  GITHUB_ACTIONS="true")  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert runner_commands(done.stdout + done.stderr) == []
    shown = [line for line in done.stdout.splitlines() if "add-mask" in line]
    assert shown == [
        "  x ::error title=Deploy approved::ok ::add-mask::acme ##\u200b[add-mask]acme"
    ]


def test_quiet_pytest_run_prints_each_annotation_at_the_start_of_a_line(
    pytester: pytest.Pytester, canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary_root.tenant("acme", dlq_depth=37)
    canary_root.tenant("beta", error_rate=0.031)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    for quiet in ("-q", "-qq"):
        result = run_inner(pytester, canary_root, quiet, tenants=("acme", "beta"), subprocess=True)
        commands = own_commands_only(result.stdout.str())
        assert commands[0].startswith("::stop-commands::")
        assert commands[2].startswith("::error title=canary acme%3A BACKOUT::")
        assert commands[3].startswith("::warning title=canary beta%3A HOLD::")


def test_decide_keeps_hostile_gate_text_away_from_the_runner(
    pytester: pytest.Pytester, canary_root: CanaryRoot
) -> None:
    canary_root.tenant("acme", error_rate=0.031)
    gates = canary_root.path.parent / "gates.toml"
    label = HOSTILE.replace("\n", "\\n").replace("\u2028", "\\u2028")
    gates.write_text(f'[gates.error_rate]\nlabel = "{label}"\n', encoding="utf-8")

    done = canary(canary_root, "decide", "--root", str(canary_root.path), "--date", DATE,
                  "--tenant", "acme", "--gates", str(gates), GITHUB_ACTIONS="true")  # fmt: skip

    assert done.returncode == 1, done.stdout + done.stderr
    commands = own_commands_only(done.stdout + done.stderr)
    assert len(commands) == 3  # stop, resume, the HOLD warning


def test_refused_go_is_an_error_annotation_and_the_summary_says_why(
    pytester: pytest.Pytester, canary_root: CanaryRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary_root.tenant("acme")
    state = canary_root.state_file()
    # After the decision, before its rollout, the state moves on: the GO is stale and refused.
    pytester.makepyfile(
        moves_state=f"""
        import json, pathlib

        def pytest_canary_decision(decision, config):
            path = pathlib.Path({str(state)!r})
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({{"schema_version": 1, "tenant": "acme", "quota": 25,
                "kill_switch": False, "serial": 3, "last_decision_id": None,
                "updated_at": "2026-11-25T08:00:00+01:00", "review": None, "history": []}}))
        """
    )
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    result = run_inner(
        pytester, canary_root, "-p", "moves_state", "--canary-rollout", subprocess=True
    )

    assert result.ret == 1
    commands = own_commands_only(result.stdout.str())
    assert commands[-1].startswith("::error title=canary acme%3A rollout refused::")
    text = summary.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| acme |"))
    assert "refused: " in row
    assert "## acme — rollout REFUSED" in text
    inert_markdown(text)


# --- Markdown ---------------------------------------------------------------------------------


def test_hostile_reviewer_renders_as_text_in_the_decision_and_the_step_summary(
    canary_root: CanaryRoot, tmp_path: Path
) -> None:
    by = "<img src=x onerror=alert(1)> [Approve](https://evil.example) ![i](x.png) www.evil.example"
    canary_root.tenant("acme", dlq_depth=37)
    summary = tmp_path / "summary.md"
    args = ("--root", str(canary_root.path), "--tenant", "acme")
    assert canary(canary_root, "cycle", *args, "--date", DATE).returncode == 3
    reviewed = canary(canary_root, "review", *args, "--by", by, "--note", "[x](javascript:y)")
    assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr
    canary_root.tenant("acme")

    done = canary(canary_root, "decide", *args, "--date", DATE, GITHUB_STEP_SUMMARY=str(summary))

    assert done.returncode == 0, done.stdout + done.stderr
    decision_md = canary_root.decision_file().with_suffix(".md").read_text(encoding="utf-8")
    assert "evil" in decision_md
    for text in (decision_md, summary.read_text(encoding="utf-8")):
        inert_markdown(text)


# --- no hangs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["kpi", "blocklist", "state"])
def test_a_fifo_as_an_input_is_a_hold_not_a_hang(canary_root: CanaryRoot, which: str) -> None:
    folder = canary_root.tenant("acme")
    target = {
        "kpi": folder / f"{DATE}.json",
        "blocklist": folder / "ops" / "blocklist.json",
        "state": folder / "operate" / "operate_state.json",
    }[which]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    os.mkfifo(target)

    done = canary(canary_root, "decide", "--root", str(canary_root.path), "--date", DATE,
                  "--tenant", "acme")  # fmt: skip

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{target.name}: is a FIFO (named pipe), expected a file" in done.stdout


@pytest.mark.parametrize("variable", ["GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"])
def test_a_fifo_as_a_github_file_is_a_one_line_warning_not_a_hang(
    canary_root: CanaryRoot, tmp_path: Path, variable: str
) -> None:
    canary_root.tenant("acme")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    done = canary(canary_root, "decide", "--root", str(canary_root.path), "--date", DATE,
                  "--tenant", "acme", **{variable: str(fifo)})  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    warning = f"canary: {variable} {fifo}: is a FIFO (named pipe), expected a file"
    assert done.stdout.count(warning) == 1


def test_a_fifo_or_an_oversized_gate_file_is_a_usage_error(
    canary_root: CanaryRoot, tmp_path: Path
) -> None:
    canary_root.tenant("acme")
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (16 * 1024 * 1024 + 1))
    for gates, why in (
        (fifo, "is a FIFO (named pipe), expected a file"),
        (big, "larger than 16 MiB"),
    ):
        done = canary(canary_root, "decide", "--root", str(canary_root.path), "--date", DATE,
                      "--tenant", "acme", "--gates", str(gates))  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        assert why in done.stdout + done.stderr


# --- one-line errors --------------------------------------------------------------------------


def test_schema_into_a_path_under_a_file_is_a_one_line_usage_error(tmp_path: Path) -> None:
    done = run([canary_script(), "schema", "--out", "/dev/null/x"], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "canary schema: error: --out /dev/null/x: cannot write /dev/null/x (Not a directory);"
        " name a folder"
    ]


# --- saying it once, saying it right ----------------------------------------------------------


def test_a_missing_kpi_file_is_one_reason_naming_the_newest_kpi_date(
    canary_root: CanaryRoot,
) -> None:
    folder = canary_root.tenant("acme", date="2026-11-20")

    done = canary(canary_root, "decide", "--root", str(canary_root.path), "--date", DATE,
                  "--tenant", "acme")  # fmt: skip

    assert done.returncode == 1, done.stdout + done.stderr
    reasons = canary_root.decision()["reasons"]
    missing = [r for r in reasons if "KPI file missing" in r]
    assert len(missing) == 1
    assert missing[0].endswith(
        "the newest is of 2026-11-20 (--canary-date 2026-11-20 in pytest,"
        " --date 2026-11-20 in canary decide/cycle would use it)"
    )
    assert not any("not judged" in r for r in reasons)
    summary = next(line for line in done.stdout.splitlines() if line.startswith("acme: HOLD"))
    assert summary.count("KPI file missing") == 1
    assert len(summary) < 400
    assert (folder / f"{DATE}.json").exists() is False


def test_decide_says_what_would_change_and_that_nothing_was_applied(
    canary_root: CanaryRoot,
) -> None:
    canary_root.tenant("acme", dlq_depth=37)

    done = canary(canary_root, "decide", "--root", str(canary_root.path), "--date", DATE,
                  "--tenant", "acme")  # fmt: skip

    assert done.returncode == 3, done.stdout + done.stderr
    assert (
        "acme: BACKOUT (would set quota 10 → 10, kill switch off → on;"
        " nothing applied until rollout or cycle): "
    ) in done.stdout
    assert canary_root.state() is None
