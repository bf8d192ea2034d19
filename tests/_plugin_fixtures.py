"""Builders shared by the plugin, CLI and shim tests: a canary root, and how to run ``canary``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from _engine_fixtures import GOOD_KPIS

REPO = Path(__file__).resolve().parents[1]
DATE = "2026-11-26"
TRACE = "0123456789abcdef0123456789abcdef"


class CanaryRoot:
    """A canary root under ``tmp_path``: tenant folders with KPI, blocklist and state files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def tenant(
        self,
        tenant: str = "acme",
        *,
        date: str = DATE,
        kpis: dict[str, Any] | str | None = None,
        state: dict[str, Any] | str | None = None,
        blocklist: Any = None,
        **changes: Any,
    ) -> Path:
        """Create (or update) a tenant folder and return it.

        ``kpis``: the KPI object (default: ``GOOD_KPIS`` with ``changes``; a change to ``None``
        drops the field), or raw text written as is. ``state``: fields over the initial state, or
        raw text; ``None`` writes no state file. ``blocklist``: any JSON value, or ``None``.
        """
        folder = self.path / tenant
        folder.mkdir(parents=True, exist_ok=True)
        if kpis is None:
            kpis = {k: v for k, v in {**GOOD_KPIS, **changes}.items() if v is not None}
        _write(folder / f"{date}.json", kpis)
        if state is not None:
            if isinstance(state, dict):
                state = {"schema_version": 1, "tenant": tenant, "quota": 10, **state}
            _write(folder / "operate" / "operate_state.json", state)
        if blocklist is not None:
            _write(folder / "ops" / "blocklist.json", blocklist)
        return folder

    def state_file(self, tenant: str = "acme") -> Path:
        return self.path / tenant / "operate" / "operate_state.json"

    def state(self, tenant: str = "acme") -> dict[str, Any] | None:
        """The tenant's state as written, ``None`` when there is no state file."""
        path = self.state_file(tenant)
        return json.loads(path.read_text()) if path.exists() else None

    def decision_file(self, tenant: str = "acme", date: str = DATE) -> Path:
        return self.path / tenant / "canary" / f"{date}_decision.json"

    def decision(self, tenant: str = "acme", date: str = DATE) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.decision_file(tenant, date).read_text())
        return result

    def audit(self, tenant: str = "acme") -> list[dict[str, Any]]:
        path = self.path / tenant / "canary" / "audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def snapshot(self) -> dict[str, bytes]:
        """Every file and folder under the root with its bytes: to prove nothing was written."""
        return {
            p.relative_to(self.path).as_posix(): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(self.path.rglob("*"))
        }


def _write(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else json.dumps(content, indent=2)
    path.write_text(text, encoding="utf-8")


def canary_script() -> str:
    """The installed console script ``canary`` of this environment."""
    beside = Path(sys.executable).with_name("canary")
    found = str(beside) if beside.exists() else shutil.which("canary")
    assert found, "the canary console script is not installed"
    return found


INNER_ADDOPTS = "-p no:hypothesispytest -p no:randomly"
"""Options of every inner pytest a test starts as a process (``canary decide``, a workflow step):
plugins no inner run needs that cost each process a noticeable part of its run. hypothesis's
imports all of hypothesis at the end of every run (about a second); pytest-randomly imports numpy
to reseed it (a tenth). Inner runs in this process (``pytester.runpytest``) keep pytest-randomly,
so the gates' order is still shuffled there. Every test gets them as ``PYTEST_ADDOPTS``; pytester
clears that variable, so ``run_inner`` passes them itself."""


def run(
    command: list[str], *, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command, and check that it never shows a user a traceback."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def run_inner(
    pytester: Any,
    root: CanaryRoot,
    *args: str,
    tenants: tuple[str, ...] = ("acme",),
    subprocess: bool = False,
) -> Any:
    """Run an inner pytest (``pytester``) on ``root`` for ``tenants`` on DATE, ``args`` appended.

    Path options go as ``--opt=value``: a separate value that is an existing path would move the
    inner run's rootdir. No run may show a traceback or an internal error.
    """
    argv = ["-p", "no:cacheprovider", f"--canary-root={root.path}", f"--canary-date={DATE}"]
    for tenant in tenants:
        argv += ["--canary-tenant", tenant]
    argv += list(args)
    in_process = not subprocess
    result = (
        pytester.runpytest(*argv)
        if in_process
        else pytester.runpytest_subprocess(*INNER_ADDOPTS.split(), *argv)
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    return result
