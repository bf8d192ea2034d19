"""How often each error-rate gate decides wrongly, over simulated days with known true rates.

Each simulated day a tenant at the first step (10 % quota) sends ``volume`` notices; each goes to
the canary with probability 0.10, and fails with the true rate of its cohort (control: 0.5 %).
The real engine (``pytest_canary.core.engine.decide``, on KPI objects with cohorts) decides the day
with three gate files: the built-in gates (**fixed** threshold: error rate ≤ 2 %, backout above
4 %), the same with ``evidence = "wilson"`` on ``error_rate``, and the built-in gates plus a
**relative** gate (``compare = "control"``, ``max_diff = 0.01``, ``backout_diff = 0.05``). The
other built-in gates always pass (no bounces, empty queues). Scenarios by the canary's true rate:

- ``same`` (0.5 %): the right decision is GO; a BACKOUT (or a HOLD) is false;
- ``worse`` (3 %, 2.5 points above control, inside the backout margin): the right one is HOLD;
- ``broken`` (10 %): the right one is BACKOUT.

    .venv/bin/python benchmarks/evidence_sim.py [--days 2000] [--seed 7]

Prints the Markdown tables of docs/evidence-gates.md. numpy draws the days (a dev dependency);
decisions of identical days are computed once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from pytest_canary.core.case import Case
from pytest_canary.core.engine import decide
from pytest_canary.core.gates import GateSet
from pytest_canary.core.readings import BlocklistReading, StateReading, kpis_from_object
from pytest_canary.store.gates import GateConfig

VOLUMES = (3, 10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000)
QUOTA = 0.10
CONTROL_RATE = 0.005
SCENARIOS = {"same": 0.005, "worse": 0.03, "broken": 0.10}
GATE_FILES = {
    "fixed": "",
    "wilson": '[gates.error_rate]\nevidence = "wilson"\n',
    "relative": (
        '[gates.error_rate_vs_control]\nmetric = "error_rate"\ncompare = "control"\n'
        "max_diff = 0.01\nbackout_diff = 0.05\n"
    ),
}
RELATIVE_GATE = "error_rate_vs_control"
INCONCLUSIVE = "?"
"""Appended to the decision word when the relative gate was inconclusive (skipped)."""
DATE = dt.date(2026, 11, 26)
CREATED = dt.datetime(2026, 11, 26, 7, 30, tzinfo=dt.UTC)


def _cohort(errors: int, attempts: int) -> dict[str, Any]:
    return {
        "notices_sent": attempts - errors,
        "errors": errors,
        "error_rate": errors / attempts if attempts else 0.0,
        "hard_bounces": 0,
        "dlq_depth": 0,
        "retry_depth": 0,
    }


def _kpis(day: tuple[int, int, int, int]) -> dict[str, Any]:
    x1, n1, x0, n0 = day
    return {
        **_cohort(x1 + x0, n1 + n0),
        "cohorts": {"canary": _cohort(x1, n1), "control": _cohort(x0, n0)},
    }


class Judge:
    """The engine's decision word for a simulated day, per gate file (memoised)."""

    def __init__(self, folder: Path) -> None:
        self.gates: dict[str, GateSet] = {}
        for name, text in GATE_FILES.items():
            path = folder / f"{name}.toml"
            path.write_text(text, "utf-8")
            self.gates[name] = GateConfig.load([path]).for_tenant("acme", {})
        self._memo: dict[tuple[str, tuple[int, int, int, int]], str] = {}

    def __call__(self, gates: str, day: tuple[int, int, int, int]) -> str:
        key = (gates, day)
        word = self._memo.get(key)
        if word is None:
            case = Case(
                tenant="acme",
                date=DATE,
                kpis=kpis_from_object(_kpis(day), "simulated", "acme", DATE, None),
                blocklist=BlocklistReading("none", False, None),
                state=StateReading("none", False, None),
                gates=self.gates[gates],
                trace_id="0" * 32,
                created_at=CREATED,
            )
            decision = decide(case)
            word = "GO" if decision.is_go else decision.decision
            relative = next((g for g in decision.gates if g.name == RELATIVE_GATE), None)
            if relative is not None and relative.status == "skipped":
                word += INCONCLUSIVE
            self._memo[key] = word
        return word


def simulate(days: int, seed: int) -> dict[tuple[str, int, str], Counter[str]]:
    """(scenario, volume, gates) → how often each decision came out."""
    rng = np.random.default_rng(seed)
    results: dict[tuple[str, int, str], Counter[str]] = {}
    with tempfile.TemporaryDirectory() as folder:
        judge = Judge(Path(folder))
        for scenario, canary_rate in SCENARIOS.items():
            for volume in VOLUMES:
                n1 = rng.binomial(volume, QUOTA, size=days)
                x1 = rng.binomial(n1, canary_rate)
                x0 = rng.binomial(volume - n1, CONTROL_RATE)
                sampled = [
                    (int(a), int(b), int(c), volume - int(b))
                    for a, b, c in zip(x1, n1, x0, strict=True)
                ]
                for gates in GATE_FILES:
                    results[(scenario, volume, gates)] = Counter(judge(gates, d) for d in sampled)
    return results


def _share(counter: Counter[str], *words: str) -> str:
    total = sum(counter.values())
    value = sum(n for w, n in counter.items() if w.rstrip(INCONCLUSIVE) in words) / total
    return f"{value:.1%}" if value else "0"


def _conclusive(counter: Counter[str]) -> str:
    total = sum(counter.values())
    value = sum(n for w, n in counter.items() if not w.endswith(INCONCLUSIVE)) / total
    return f"{value:.1%}" if value else "0"


def tables(results: dict[tuple[str, int, str], Counter[str]]) -> str:
    rows = {
        "same": ("false BACKOUT", ("BACKOUT",), "HOLD", ("HOLD",)),
        "worse": ("false GO", ("GO",), "BACKOUT", ("BACKOUT",)),
        "broken": ("false GO", ("GO",), "not BACKOUT", ("GO", "HOLD")),
    }
    out = []
    for scenario, (first, first_words, second, second_words) in rows.items():
        rate = SCENARIOS[scenario]
        out.append(
            f"\n**Canary {rate:.1%}, control {CONTROL_RATE:.1%}** ({scenario}): "
            f"{first} / {second}, fixed · Wilson · relative\n"
        )
        out.append(
            f"| notices/day | {first}: fixed | Wilson | relative | {second}: fixed | Wilson"
            " | relative | relative gate conclusive |"
        )
        out.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for volume in VOLUMES:
            cells = [f"{volume:,}"]
            for words in (first_words, second_words):
                cells += [_share(results[(scenario, volume, g)], *words) for g in GATE_FILES]
            cells.append(_conclusive(results[(scenario, volume, "relative")]))
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=2000, help="simulated days per cell")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"{args.days:,} simulated days per cell, seed {args.seed}")
    print(tables(simulate(args.days, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
