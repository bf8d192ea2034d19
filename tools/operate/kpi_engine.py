"""Playbook shim: ``python tools/operate/kpi_engine.py --tenant <id>`` = ``canary kpi``.

Runs from a checkout without installing: the repo's ``src`` goes first on the import path.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from pytest_canary.cli import main

if __name__ == "__main__":
    sys.exit(main(["kpi", *sys.argv[1:]]))
