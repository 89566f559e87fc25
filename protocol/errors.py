"""The one root of the errors the project raises on purpose, and the exit codes they carry.

Every part raises from here, the nodes' agent and ledger as much as the controller, so the CLI
turns any of them into one line a user can act on and its exit code, and a test can catch what
the project means without catching what it does not.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable

EXIT_OK = 0
EXIT_FAILURE = 1            # something failed at run time
EXIT_CONFIG = 2             # a benchmark, inventory, policy, node configuration or results-database setting is wrong
EXIT_NOT_SERVING = 3        # `status`: a node does not serve
EXIT_SLO_MISSED = 4         # a service-level objective was missed
EXIT_AUDIT_FAILED = 5       # the run's audit found a receipt the chains do not bear out
EXIT_NOTHING_CONFIRMED = 6  # a run sent transactions and none was confirmed


def signal_exit_code(signum: int) -> int:
    """As shells report a process a signal ended: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


class HarnessError(Exception):
    """Anything reported as a one-line message and a non-zero exit, without a traceback."""

    exit_code = EXIT_FAILURE


class ConfigError(HarnessError):
    """A file (or setting) is wrong, at this field and line; nothing has been started."""

    exit_code = EXIT_CONFIG

    def __init__(self, path: Path | str, field: str, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.field = field
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a choice is close to ``word``, else ''."""
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
