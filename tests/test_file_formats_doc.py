"""Every example in docs/file-formats.md is valid, to ``canary validate`` and to its JSON Schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from _plugin_fixtures import REPO, canary_script, run

PAGE = (REPO / "docs" / "file-formats.md").read_text(encoding="utf-8")
# Section heading → (schema, where canary validate expects such a file under a tenant folder).
SECTIONS = {
    "KPI file": ("kpis", "acme/2026-11-26.json"),
    "Blocklist": ("blocklist", "acme/ops/blocklist.json"),
    "Operate state": ("operate_state", "acme/operate/operate_state.json"),
    "Decision": ("decision", "acme/canary/2026-11-26_decision.json"),
    "Rollout log": ("rollout_log", "acme/canary/2026-11-26_rollout_log.json"),
    "Control log": ("control_log", "acme/canary/2026-11-27_kill_log.json"),
    "Audit line": ("audit_line", None),
    "Gate file": (None, "gates/example.toml"),
}


def _examples() -> list[tuple[str, int, str, str]]:
    found = []
    for section in re.split(r"^## ", PAGE, flags=re.M)[1:]:
        title = section.split(":")[0].split("\n")[0]
        blocks = re.findall(r"^```(json|toml)\n(.*?)^```", section, flags=re.M | re.S)
        found += [(title, index, kind, text) for index, (kind, text) in enumerate(blocks)]
    return found


EXAMPLES = _examples()


def test_every_file_kind_has_a_section_with_two_examples() -> None:
    titles = [title for title, *_ in EXAMPLES]
    assert set(titles) == set(SECTIONS)
    for title in (
        "KPI file",
        "Blocklist",
        "Operate state",
        "Rollout log",
        "Audit line",
        "Gate file",
    ):
        assert titles.count(title) == 2, title


@pytest.mark.parametrize(("title", "index", "kind", "text"), EXAMPLES, ids=lambda v: str(v)[:12])
def test_an_example_is_valid(tmp_path: Path, title: str, index: int, kind: str, text: str) -> None:
    schema, place = SECTIONS[title]
    if schema is not None:
        validator = Draft202012Validator(
            json.loads((REPO / "schemas" / f"{schema}.schema.json").read_text(encoding="utf-8")),
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        value = json.loads(text)
        if schema == "blocklist" and isinstance(value, list):
            value = {"entries": value}  # the schema describes the object form
        errors = [error.message for error in validator.iter_errors(value)]
        assert errors == [], text
    if place is not None:
        target = tmp_path / place
        target.parent.mkdir(parents=True)
        target.write_text(text, encoding="utf-8")
        done = run([canary_script(), "validate", "--quiet", place], cwd=tmp_path)
        assert (done.returncode, done.stdout) == (0, ""), text
