"""Who owns stdout: results go there (human text or one JSON object); progress and hints go to stderr."""

from __future__ import annotations

import functools
import json
import sys
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from rich.console import Console

# tables keep their full width when piped (rich would assume 80 columns); no markup or emoji codes, so paths, names
# and hashes such as "[b1ea42ba16e808d9]" print exactly as they are
_PLAIN = dict(highlight=False, markup=False, emoji=False, soft_wrap=True)


class Output:
    """Prints a verb's result in the chosen mode; progress and notes on stderr unless --json or --quiet.

    The two consoles are made on first use, so a verb that prints through neither (``--help``, a usage error)
    never imports rich (start-up: ``bench/bench_startup.py``).
    """

    def __init__(self, json_mode: bool, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet

    @functools.cached_property
    def stdout(self) -> Console:
        """The console results print on."""
        from rich.console import Console

        return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160, **_PLAIN)

    @functools.cached_property
    def stderr(self) -> Console:
        """The console for warnings, hints and progress."""
        from rich.console import Console

        return Console(file=sys.stderr, **_PLAIN)

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
