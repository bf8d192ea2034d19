"""Playbook shim: ``python tools/operate/sender_dns_check.py [options]`` = ``canary dns-check``.

Runs from a checkout without installing: the repo's ``src`` goes first on the import path.
Without options it checks every tenant that has an ``ops/sender.json`` (see docs/dns-check.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from pytest_canary.cli import main

if __name__ == "__main__":
    sys.exit(main(["dns-check", *sys.argv[1:]]))
