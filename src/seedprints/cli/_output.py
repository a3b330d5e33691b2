"""Who owns stdout: results go there (human text or one JSON object); progress and hints go to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

from rich.console import Console


class Output:
    """Prints a verb's result in the chosen mode; progress bars only for humans on a terminal."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        # tables keep their full width when piped (rich would assume 80 columns)
        self.stdout = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 160)
        self.stderr = Console(file=sys.stderr, highlight=False, soft_wrap=True)

    @property
    def progress(self) -> bool:
        """Show progress bars: never under --json, and only when stderr is a terminal."""
        return not self.json_mode and sys.stderr.isatty()

    def result(self, payload: dict[str, Any], human: Callable[[Console], None]) -> None:
        """Emit the result: ``{"schema_version": 1, **payload}`` under --json, else the human rendering."""
        if self.json_mode:
            sys.stdout.write(json.dumps({"schema_version": 1, **payload}, indent=2, allow_nan=False) + "\n")
        else:
            human(self.stdout)

    def hint(self, message: str) -> None:
        """A note for humans on stderr (silent under --json)."""
        if not self.json_mode:
            self.stderr.print(message, markup=False)
