"""``python -m pytest_canary.cli``: the ``canary`` command without its console script."""

import sys

from pytest_canary.cli import main

sys.exit(main())
