"""The hashed lock the workflows install (``make lock``) agrees with pyproject.toml.

Offline: every runtime dependency of the package (and the build backend) is pinned there, at a
version its specifier allows, and every pin carries hashes, so ``pip install --require-hashes``
installs exactly what was locked. A changed dependency in pyproject.toml fails here until
``make lock`` has been run.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / ".github" / "requirements" / "canary.txt"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)")


def _pins() -> dict[str, tuple[str, int]]:
    """Name → (version, number of hashes) of every pin in the lock."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def _wanted() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    extra = (REPO / ".github" / "requirements" / "canary.in").read_text(encoding="utf-8")
    lines = [line for line in extra.splitlines() if line.strip() and not line.startswith("#")]
    return [Requirement(text) for text in [*project["project"]["dependencies"], *lines]]


def test_every_dependency_is_locked_at_a_version_pyproject_allows() -> None:
    pins = _pins()
    for requirement in _wanted():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in {LOCK.name}: run make lock"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{LOCK.name} pins {name}=={version}, pyproject wants {requirement}: run make lock"
        )


def test_every_pin_has_hashes_for_require_hashes() -> None:
    pins = _pins()
    assert pins
    assert {name: hashes for name, (_, hashes) in pins.items() if hashes == 0} == {}


def test_the_lock_says_how_to_regenerate_it() -> None:
    assert "#    make lock" in LOCK.read_text(encoding="utf-8").splitlines()[1]
