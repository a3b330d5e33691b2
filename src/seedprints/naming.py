"""How a message names a setting: ``n=`` to a Python caller, ``--n`` on the command line.

Library code names a setting by its Python parameter, ``setting("n", 1000)``; the CLI's ``main`` runs under
:func:`cli_naming`, so the same condition reads ``use n=1000 or more`` from :mod:`seedprints.api` and
``use --n 1000 or more`` from ``seedprints compare``. A cheap module (no heavy imports): every layer may use it.

Example:
    >>> f"use {setting('n', 1000)} or more"
    'use n=1000 or more'
    >>> with cli_naming():
    ...     f"use {setting('n', 1000)} or more"
    'use --n 1000 or more'
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_FLAGS = {"kind": "--probe"}  # parameters whose flag is not their name in kebab case
_CLI: contextvars.ContextVar[bool] = contextvars.ContextVar("seedprints_cli_naming", default=False)


def setting(name: str, value: object = None, *, metavar: str | None = None) -> str:
    """The parameter ``name`` set to ``value`` as the caller writes it: ``--name value`` or ``name=value``.

    Without a value it is the bare flag or keyword (``--budget``, ``budget=``); ``True`` is a switch
    (``--early-stop``, ``early_stop=True``); ``metavar`` stands for a value the user fills in (``--base DIR``).
    """
    if _CLI.get():
        flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
        shown = metavar if metavar is not None else (None if value is None or value is True else value)
        return flag if shown is None else f"{flag} {shown}"
    return f"{name}={metavar if metavar is not None else '' if value is None else repr(value)}"


def spoken(*, cli: str, python: str) -> str:
    """Advice that is more than a setting (a command to run, a call to make), in the caller's words."""
    return cli if _CLI.get() else python


@contextlib.contextmanager
def cli_naming() -> Iterator[None]:
    """Within the block, messages name settings by their command-line flags (``seedprints.cli.main`` opens it)."""
    token = _CLI.set(True)
    try:
        yield
    finally:
        _CLI.reset(token)
