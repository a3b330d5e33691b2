"""What Ctrl-C says: by default that nothing was written under the final output name; a verb that keeps its work so
far (``fingerprint``'s partial file) registers a note that says how much is kept and that the same command resumes."""

from __future__ import annotations

from typing import Callable

NOTHING_WRITTEN = "interrupted; nothing was written under the final output name"
_notes: list[Callable[[], str | None]] = []


def on_interrupt(note: Callable[[], str | None]) -> None:
    """Have an interruption of this run say ``note()`` (when it returns a line) instead of the default message."""
    _notes.append(note)


def reset() -> None:
    """Forget the notes of a previous run (the CLI may run several times in one process)."""
    _notes.clear()


def message() -> str:
    """The line an interruption prints after ``Error: ``."""
    said = [line for line in (note() for note in _notes) if line]
    return said[-1] if said else NOTHING_WRITTEN
