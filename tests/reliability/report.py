"""Print the reliability figures as one Markdown table (``make reliability`` ends with it).

Reads ``.scratch/reliability/<campaign>.<setting>.json``, written by the campaigns' tests::

    python tests/reliability/report.py            # the full setting's figures
    python tests/reliability/report.py quick      # the quick setting's (from ``make test``)

Exits 1 when a figure misses its target (a target of "0" or a plain number must be met exactly).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FIGURES = Path(__file__).resolve().parents[2] / ".scratch" / "reliability"


def _meets(value: object, target: str) -> bool | None:
    if target.isdigit():
        return value == int(target)
    return None  # informational, or a target this table cannot check ("≥ 500 (full)")


def main(argv: list[str]) -> int:
    setting = argv[1] if len(argv) > 1 else "full"
    files = sorted(FIGURES.glob(f"*.{setting}.json"))
    if not files:
        print(f"no figures of the {setting} setting under {FIGURES}; run the campaigns first")
        return 1
    missed = 0
    print("| campaign | figure | value | target | |\n| --- | --- | --- | --- | --- |")
    for path in files:
        payload = json.loads(path.read_text())
        title = f"{payload['title']} ({payload['at'][:10]})"
        for index, row in enumerate(payload["rows"]):
            verdict = _meets(row["value"], row["target"])
            mark = "" if verdict is None else ("ok" if verdict else "**MISSED**")
            missed += verdict is False
            name = title if index == 0 else ""
            print(f"| {name} | {row['what'].strip()} | {row['value']} | {row['target']} | {mark} |")
    print(f"\n{len(files)} campaigns, setting {setting}: {missed} figure(s) missed their target")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
