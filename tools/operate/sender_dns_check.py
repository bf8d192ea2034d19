"""Playbook shim: ``python tools/operate/sender_dns_check.py [options]`` = ``canary dns-check``.

Works with any ``python3`` from a checkout: it hands over to the project's ``.venv`` (see _playbook.py).
Without options it checks every tenant that has an ``ops/sender.json`` (see docs/dns-check.md).
"""

from __future__ import annotations

import sys

from _playbook import run

if __name__ == "__main__":
    sys.exit(run("dns-check"))
