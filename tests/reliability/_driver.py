"""Run many ``canary`` commands and pytest runs in one process, each with its own output files.

Starting the console script costs most of a second; the bad-input campaign runs thousands of
commands, so a few of these drivers run them in-process instead (``cli.main`` and
``pytest.main``, the functions the console scripts call). Usage::

    python _driver.py jobs.json results.json

``jobs.json`` is a list of ``{"id", "cwd", "env", "kind": "cli" | "pytest", "argv"}``; ``env``
maps names to a value or ``null`` (unset). Each job's stdout and stderr are captured at the
file-descriptor level; an exception that escapes is recorded with its traceback, which the
campaign counts as a crash.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any


def _run(job: dict[str, Any]) -> dict[str, Any]:
    import pytest

    from pytest_canary import cli

    saved_env = {name: os.environ.get(name) for name in job["env"]}
    for name, value in job["env"].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    saved_cwd = os.getcwd()
    os.chdir(job["cwd"])
    sys.stdout.flush()
    sys.stderr.flush()
    keep = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        crash = None
        try:
            if job["kind"] == "pytest":
                code: Any = int(pytest.main(list(job["argv"])))
            else:
                code = cli.main(list(job["argv"]))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:
            code = None
            crash = traceback.format_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(keep[0], 1)
            os.dup2(keep[1], 2)
            os.close(keep[0])
            os.close(keep[1])
            os.chdir(saved_cwd)
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        out.seek(0)
        err.seek(0)
        return {
            "id": job["id"],
            "code": code,
            "crash": crash,
            "out": out.read().decode("utf-8", "replace"),
            "err": err.read().decode("utf-8", "replace"),
        }


def main() -> int:
    jobs = json.loads(Path(sys.argv[1]).read_text())
    results = [_run(job) for job in jobs]
    Path(sys.argv[2]).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
