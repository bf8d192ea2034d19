"""canary backtest: past KPI dates decided again with other gates, against the decisions recorded.

The recorded history is made once per module by real ``canary cycle`` runs (beta holds on its
error rate on 2026-11-24 and goes to 25 % on 2026-11-25; 2026-11-23 was never decided); each test
works on its own copy.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from _evidence_fixtures import RELATIVE_TOML, split_kpis
from _plugin_fixtures import CanaryRoot, canary_script, run

HELD, WENT = "2026-11-24", "2026-11-25"
LOOSE = '[gates.error_rate]\nmax = 0.05\nlabel = "Fehlerquote"\n'
STRICT = "[gates.error_rate]\nmax = 0.0005\n"
CUSTOM_GATE = textwrap.dedent(
    """
    import pytest

    @pytest.mark.canary_gate(severity="hold")
    def test_no_soft_bounce_storm(canary_kpis):
        assert (canary_kpis.soft_bounces or 0) < 100, "soft bounce storm"
    """
)


def _cycle(root: Path, date: str, *extra: str) -> None:
    done = run(
        [canary_script(), "cycle", "--tenant", "all", "--root", str(root), "--date", date, *extra],
        cwd=root.parent,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("recorded")
    root = CanaryRoot(base / "root")
    root.path.mkdir()
    root.tenant("beta", date="2026-11-23")
    root.tenant("beta", date=HELD, error_rate=0.031)
    root.tenant("beta", date=WENT)
    _cycle(root.path, HELD)
    _cycle(root.path, WENT)
    assert root.decision("beta", HELD)["decision"] == "HOLD"
    assert root.decision("beta", WENT)["decision"] == "GO_25"
    return root.path


@pytest.fixture
def history(recorded: Path, tmp_path: Path) -> CanaryRoot:
    root = tmp_path / "root"
    shutil.copytree(recorded, root)
    return CanaryRoot(root)


def _backtest(root: CanaryRoot, gates: str | None, *args: str) -> tuple[int, str, str]:
    command = [canary_script(), "backtest", "--root", str(root.path), *args]
    if gates is not None:
        path = root.path.parent / "pr-gates.toml"
        path.write_text(gates)
        command += ["--gates", str(path)]
    done = run(command, cwd=root.path.parent)
    return done.returncode, done.stdout, done.stderr


def _rows(out: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in out.splitlines()
        if line.startswith("| ") and not line.startswith(("| tenant", "| ---"))
    ]


def test_looser_gates_show_the_held_day_that_would_have_gone(history: CanaryRoot) -> None:
    before = history.snapshot()

    code, out, err = _backtest(
        history, LOOSE, "--tenant", "beta", "--since", "2026-11-23", "--until", "2026-11-26"
    )

    assert (code, err) == (0, "")
    assert _rows(out) == [
        ["beta", HELD, "HOLD", "GO_25", "error_rate 0.031: hold → pass (<= 0.02 → 0.05)"]
    ]
    assert (
        "3 day(s) of 1 tenant(s) decided again: 1 would change, 1 unchanged,"
        " 1 without a readable recorded decision (not compared)."
    ) in out
    assert "Custom gates (pytest functions) are not run by the backtest" in out
    assert history.snapshot() == before  # nothing written under the root


def test_stricter_gates_show_the_go_that_would_have_held(history: CanaryRoot) -> None:
    code, out, _ = _backtest(history, STRICT, "--tenant", "all", "--since", WENT, "--until", WENT)

    assert code == 0
    assert _rows(out) == [
        ["beta", WENT, "GO_25", "HOLD", "error_rate 0.001: pass → hold (<= 0.02 → 0.0005)"]
    ]


def test_the_same_gates_change_nothing(history: CanaryRoot) -> None:
    code, out, _ = _backtest(history, None, "--tenant", "beta", "--since", "2026-11-01")

    assert code == 0
    assert _rows(out) == []
    assert "No recorded decision would change." in out
    assert "2 unchanged" in out


def test_a_past_day_is_judged_against_its_recorded_base(history: CanaryRoot) -> None:
    # The state is at 25 % now; the held day was judged at 10 %, so it would have gone to 25 %.
    assert history.state("beta")["quota"] == 25  # type: ignore[index]

    _, out, _ = _backtest(history, LOOSE, "--tenant", "beta", "--since", HELD, "--until", HELD)

    assert _rows(out)[0][3] == "GO_25"


def test_custom_gates_keep_their_recorded_verdict(tmp_path: Path) -> None:
    root = CanaryRoot(tmp_path / "root")
    root.path.mkdir()
    root.tenant("beta", date=HELD, error_rate=0.031, soft_bounces=500)
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "test_custom_gates.py").write_text(CUSTOM_GATE)
    _cycle(root.path, HELD, "--gates", str(gates))
    recorded = root.decision("beta", HELD)
    assert recorded["decision"] == "HOLD"
    assert {g["name"]: g["status"] for g in recorded["gates"]}[
        "test_no_soft_bounce_storm"
    ] == "hold"

    code, out, _ = _backtest(root, LOOSE, "--tenant", "beta", "--since", HELD, "--until", HELD)

    assert code == 0
    assert _rows(out) == []  # the looser error rate alone does not free a day the custom gate held


def test_bad_dates_are_usage_errors(history: CanaryRoot) -> None:
    code, out, err = _backtest(
        history, None, "--tenant", "beta", "--since", "2026-11-26", "--until", "2026-11-01"
    )
    assert (code, out) == (2, "")
    assert err == "canary backtest: error: --since 2026-11-26 is after --until 2026-11-01\n"

    code, _, err = _backtest(history, None, "--tenant", "beta", "--since", "2026-02-30")
    assert code == 2 and "--since '2026-02-30': no such day" in err


def test_a_corrupt_recorded_decision_is_named_not_compared(history: CanaryRoot) -> None:
    history.decision_file("beta", HELD).write_text("{")

    code, out, _ = _backtest(history, LOOSE, "--tenant", "beta", "--since", HELD, "--until", HELD)

    assert code == 0
    assert _rows(out) == []
    assert f"- beta {HELD}: " in out and "not JSON" in out


def test_a_relative_gate_shows_in_the_backtest_like_any_gate(tmp_path: Path) -> None:
    root = CanaryRoot(tmp_path / "root")
    root.path.mkdir()
    # The canary fails 2.9 % of its attempts, control 0.5 %: the tenant's 0.7 % passes the plain gate.
    root.tenant("gamma", date=WENT, kpis=split_kpis(canary=(60, 2000), control=(90, 18000)))
    _cycle(root.path, WENT)
    assert root.decision("gamma", WENT)["decision"] == "GO_25"

    code, out, _ = _backtest(root, RELATIVE_TOML, "--tenant", "gamma", "--since", WENT)

    assert code == 0
    assert _rows(out) == [["gamma", WENT, "GO_25", "HOLD", "error_rate_vs_control: new gate, hold"]]
