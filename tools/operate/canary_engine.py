"""Playbook shim: ``python tools/operate/canary_engine.py --tenant <id>`` = ``canary decide``.

Runs from a checkout without installing: the repo's ``src`` goes first on the import path.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from pytest_canary.cli import main

if __name__ == "__main__":
    sys.exit(main(["decide", *sys.argv[1:]]))
