"""Errors a user can act on: which file, which line, which field, what was expected."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable


class HarnessError(Exception):
    """Anything the CLI reports as a one-line message and a non-zero exit, without a traceback."""

    exit_code = 1


class ConfigError(HarnessError):
    """A benchmark, inventory or policy file is wrong; nothing has been started."""

    exit_code = 2

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
