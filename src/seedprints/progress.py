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


Advance = Callable[..., None]  # advance(count, note=""): ``count`` more done; ``note`` (e.g. a loss) shown beside


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, label: str, *, unit: str = "items") -> Iterator[Advance]:
    """Progress over ``total`` items (or, with ``unit="bytes"``, bytes) on stderr, a no-op when disabled; yields
    ``advance(count, note="")``."""
    if not enabled:
        yield lambda count, note="": None
    elif sys.stderr.isatty():
        with _live_bar(total, label, unit) as advance:
            yield advance
    else:
        with _plain_lines(total, label, unit) as advance:
            yield advance


@contextlib.contextmanager
def _live_bar(total: int, label: str, unit: str) -> Iterator[Advance]:
    """A transient rich bar; the label is plain text (a model path may hold brackets)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
    )

    count = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), count, TextColumn("{task.fields[note]}",
                  markup=False), TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                  transient=True) as bar:
        task = bar.add_task(label, total=total, note="")

        def advance(done: int, note: str = "") -> None:
            bar.update(task, advance=done, **({"note": note} if note else {}))

        yield advance


@contextlib.contextmanager
def _plain_lines(total: int, label: str, unit: str) -> Iterator[Advance]:
    """One ``label: done/total (pct%), note, elapsed`` line on stderr every ``PLAIN_EVERY_S`` seconds, and one at the
    end if any was printed."""
    start = time.monotonic()
    state: dict = {"done": 0, "last": start, "lines": 0, "note": ""}
    scale, suffix = (1e6, " MB") if unit == "bytes" else (1, "")

    def line() -> None:
        now = time.monotonic()
        share = f" ({100 * state['done'] // total}%)" if total else ""
        done = f"{state['done'] / scale:.0f}/{total / scale:.0f}{suffix}" if scale != 1 else f"{state['done']}/{total}"
        note = f", {state['note']}" if state["note"] else ""
        print(f"{label}: {done}{share}{note}, {now - start:.0f} s elapsed", file=sys.stderr, flush=True)
        state["last"], state["lines"] = now, state["lines"] + 1

    def advance(count: int, note: str = "") -> None:
        state["done"] += count
        state["note"] = note or state["note"]
        if time.monotonic() - state["last"] >= PLAIN_EVERY_S:
            line()

    yield advance
    if state["lines"]:
        line()
