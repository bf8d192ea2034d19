"""The errors a user can cause; each is shown as one line, never a traceback."""

from __future__ import annotations


class CanaryUsageError(Exception):
    """Bad option, variable, tenant id, path or gate file: pytest exits 4, the CLI 2."""


class RolloutRefused(Exception):
    """The rollout or review will not touch the state (corrupt, stale, foreign, locked): exit 4."""


class CannotWrite(Exception):
    """A file could not be written (a full disk, no permission): the CLI exits 1."""

    @classmethod
    def from_os_error(cls, exc: OSError) -> CannotWrite:
        where = f" {exc.filename}" if exc.filename else ""
        return cls(f"cannot write{where}: {exc.strerror or exc}")


class UnreadableDecision(RolloutRefused):
    """A decision file that is not one the engine wrote (not JSON, a bad field): refused.

    ``problem`` is the one line that says what is wrong with the file, without the refusal's
    consequence, for a reader that only reports it (``canary status``).
    """

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}; nothing was written")
        self.problem = problem
