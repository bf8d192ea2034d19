"""Containment below the resolved root: the lstat walk refuses exactly what a full resolve refuses."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.store.layout import TenantPaths

# What each of the three components below the tenant folder is: a folder, a file, missing, or a
# link to a folder inside the root, to one outside it, to nothing, or to itself (a loop).
KINDS = ("dir", "file", "missing", "link-in", "link-out", "dangling", "loop")


def _build(root: Path, outside: Path, kinds: list[str]) -> Path:
    """``root/acme/c0/c1/c2`` with each component of the given kind; returns that path."""
    here = root / "acme"
    for index, kind in enumerate(kinds):
        here = here / f"c{index}"
        if not here.parent.is_dir() or here.parent.is_symlink():
            break  # nothing can be made below a file, a missing folder or a link
        if kind == "dir":
            here.mkdir()
        elif kind == "file":
            here.write_text("{}")
        elif kind == "link-in":
            here.symlink_to(root / "inside", target_is_directory=True)
        elif kind == "link-out":
            here.symlink_to(outside, target_is_directory=True)
        elif kind == "dangling":
            here.symlink_to(outside / "nothing")
        elif kind == "loop":
            here.symlink_to(here)
    return root / "acme" / "c0" / "c1" / "c2"


def _refused_by_full_resolve(paths: TenantPaths, path: Path) -> bool:
    """The rule as a full ``Path.resolve()`` states it: an existing path or link that leaves root."""
    try:
        return (path.exists() or path.is_symlink()) and not path.resolve().is_relative_to(
            paths.root
        )
    except (RuntimeError, OSError):  # a link loop
        return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=3, max_size=3))
def test_check_refuses_exactly_what_resolve_refuses(kinds: list[str]) -> None:
    with tempfile.TemporaryDirectory() as name:
        base = Path(name).resolve()
        root, outside = base / "root", base / "outside"
        (root / "acme").mkdir(parents=True)
        (root / "inside").mkdir()
        outside.mkdir()
        paths = TenantPaths.open(root, "acme")
        path = _build(root, outside, kinds)
        expected = _refused_by_full_resolve(paths, path)
        try:
            paths.check(path)
            refused = False
        except CanaryUsageError:
            refused = True
        assert refused == expected, kinds
        shutil.rmtree(base)


def test_check_refuses_a_link_out_of_the_root_below_a_real_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "acme" / "canary").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    paths = TenantPaths.open(root, "acme")
    (paths.canary_dir / "audit.jsonl").symlink_to(tmp_path / "elsewhere" / "audit.jsonl")
    (tmp_path / "elsewhere" / "audit.jsonl").write_text("")
    with pytest.raises(CanaryUsageError, match="outside the canary root"):
        paths.check(paths.audit)


def test_check_follows_a_root_reached_through_a_link(tmp_path: Path) -> None:
    (tmp_path / "real" / "acme" / "canary").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    paths = TenantPaths.open(tmp_path / "alias", "acme")
    assert paths.root == (tmp_path / "real").resolve()
    assert paths.check(paths.canary_dir) == paths.canary_dir
