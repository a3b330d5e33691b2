"""What every reader of a user's file shares: regular files only, and JSON that fails in one known way.

A FIFO or device given where a file belongs would block a reader forever or read endless bytes,
so readers refuse anything but a regular file (or a folder, where one is allowed) up front, and a value read from
one is shown in a message cut short (:func:`short_repr`). JSON
from a stranger can fail in more ways than ``json.JSONDecodeError``: nesting deep enough to exhaust
the recursion limit, or an integer longer than Python converts (4300 digits). :func:`load_json`
turns each into :class:`BadJSON`, a ``JSONDecodeError``, so the readers' existing ``except``
clauses answer all of them with their one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class BadJSON(json.JSONDecodeError):
    """Text that is not JSON this reader accepts; ``str()`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "", 0)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def load_json(data: str | bytes | bytearray) -> Any:
    """``json.loads``, raising BadJSON (never RecursionError or a bare ValueError) on anything it cannot read."""
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise BadJSON("it nests too deeply") from exc
    except json.JSONDecodeError as exc:
        raise BadJSON(f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    except UnicodeDecodeError as exc:
        raise BadJSON("not UTF-8 text") from exc
    except ValueError as exc:  # an integer literal beyond int's digit limit
        raise BadJSON("it holds an integer too long to read (over 4300 digits)") from exc


def special_file(path: str | Path) -> bool:
    """True for an existing path that is neither a regular file nor a folder (a FIFO, socket or device)."""
    path = Path(path)
    try:
        return path.exists() and not path.is_file() and not path.is_dir()
    except OSError:
        return False  # the reader's own open() gives the precise error


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr`` of an untrusted value, cut so that a hostile file cannot flood a one-line error."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
