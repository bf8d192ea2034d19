"""Playbook shim: ``python tools/operate/kpi_engine.py --tenant <id>`` = ``canary kpi``.

Works with any ``python3`` from a checkout: it hands over to the project's ``.venv`` (see _playbook.py).
"""

from __future__ import annotations

import sys

from _playbook import run

if __name__ == "__main__":
    sys.exit(run("kpi"))
