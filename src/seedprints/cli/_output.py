"""Who owns stdout: results go there (human text or one JSON object); progress and hints go to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

from rich.console import Console


class Output:
    """Prints a verb's result in the chosen mode; progress and notes on stderr unless --json or --quiet."""

    def __init__(self, json_mode: bool, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        # tables keep their full width when piped (rich would assume 80 columns); no markup or emoji codes, so
        # paths, names and hashes such as "[b1ea42ba16e808d9]" print exactly as they are
        plain = dict(highlight=False, markup=False, emoji=False, soft_wrap=True)
        self.stdout = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160, **plain)
        self.stderr = Console(file=sys.stderr, **plain)

    @property
    def progress(self) -> bool:
        """Show progress (a bar on a terminal, periodic lines in a log): never under --json or --quiet."""
        return not (self.json_mode or self.quiet)

    def result(self, payload: dict[str, Any], human: Callable[[Console], None]) -> None:
        """Emit the result: ``{"schema_version": 1, **payload}`` under --json, else the human rendering."""
        if self.json_mode:
            sys.stdout.write(json.dumps({"schema_version": 1, **payload}, indent=2, allow_nan=False) + "\n")
        else:
            human(self.stdout)

    def hint(self, message: str) -> None:
        """A note for humans on stderr (silent under --json and --quiet)."""
        if not (self.json_mode or self.quiet):
            self.stderr.print(message)
