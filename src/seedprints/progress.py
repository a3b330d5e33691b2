"""Progress of long work on stderr: a live bar on a terminal, plain periodic lines in a log or a pipe.

A log gets a line every ``PLAIN_EVERY_S`` seconds (none for work that finishes sooner) and a last line
when the work that printed one is done, so a job's log shows it is alive without filling up.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator

PLAIN_EVERY_S = 10.0


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    """Progress over ``total`` items on stderr (a no-op when disabled); yields ``advance(count)``."""
    if not enabled:
        yield lambda advance: None
    elif sys.stderr.isatty():
        with _live_bar(total, label) as advance:
            yield advance
    else:
        with _plain_lines(total, label) as advance:
            yield advance


@contextlib.contextmanager
def _live_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A transient rich bar; the label is plain text (a model path may hold brackets)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda advance: bar.advance(task, advance)


@contextlib.contextmanager
def _plain_lines(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """One ``label: done/total (pct%), elapsed`` line on stderr every ``PLAIN_EVERY_S`` seconds, and one at the end
    if any was printed."""
    start = time.monotonic()
    state = {"done": 0, "last": start, "lines": 0}

    def line() -> None:
        now = time.monotonic()
        share = f" ({100 * state['done'] // total}%)" if total else ""
        print(f"{label}: {state['done']}/{total}{share}, {now - start:.0f} s elapsed", file=sys.stderr, flush=True)
        state["last"], state["lines"] = now, state["lines"] + 1

    def advance(count: int) -> None:
        state["done"] += count
        if time.monotonic() - state["last"] >= PLAIN_EVERY_S:
            line()

    yield advance
    if state["lines"]:
        line()
