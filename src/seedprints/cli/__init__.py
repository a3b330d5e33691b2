"""The ``seedprints`` command line: verbs attached in one place, errors mapped to one line each.

Exit codes: 0 when the command ran (whatever the verdict: it is data), 1 on an error, 2 on a usage
error. ``SEEDPRINTS_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Annotated

import typer

from seedprints.cli import _interrupt
from seedprints.cli import audit as _audit
from seedprints.cli import claims as _claims
from seedprints.cli import compare as _compare
from seedprints.cli import demo as _demo
from seedprints.cli import fingerprint as _fingerprint
from seedprints.cli import fleet as _fleet
from seedprints.cli import identify as _identify
from seedprints.cli import keygen as _keygen
from seedprints.cli import matrix as _matrix
from seedprints.cli import registry as _registry
from seedprints.cli import seeds as _seeds
from seedprints.cli import verify as _verify
from seedprints.cli import zoo as _zoo
from seedprints.cli._help import PlainHelp

QUICK_START = """Quick start:

\b
  seedprints demo                                   # small built-in models, a few minutes on CPU
  seedprints fingerprint ./my-model -o base.fp.safetensors
  seedprints compare base.fp.safetensors ./suspect-model --json
  seedprints registry add base.fp.safetensors --name base && seedprints identify ./suspect-model
  seedprints zoo build --out zoo-cpu && seedprints zoo eval zoo-cpu --out docs/zoo-cpu
"""

app = typer.Typer(
    name="seedprints",
    help="Tell whether one language model descends from another (SeedPrints lineage test).",
    epilog=QUICK_START,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    """``--version``: this package's version and those of the libraries it computes with, read from metadata."""
    if value:
        from seedprints.bundle.layout import environment

        versions = environment()
        libraries = ", ".join(f"{k} {v}" for k, v in versions.items() if k not in ("seedprints", "platform") and v)
        print(f"seedprints {versions['seedprints']} ({libraries})")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Show the version of seedprints and its libraries, and exit.",
                                          is_eager=True, callback=_show_version)] = False,
) -> None:
    """Tell whether one language model descends from another (SeedPrints lineage test)."""


app.command("fingerprint", epilog=_fingerprint.EXAMPLES, cls=PlainHelp)(_fingerprint.fingerprint)
app.command("compare", epilog=_compare.EXAMPLES, cls=PlainHelp)(_compare.compare)
app.command("identify", epilog=_identify.EXAMPLES, cls=PlainHelp)(_identify.identify)
app.command("demo", epilog=_demo.EXAMPLES, cls=PlainHelp)(_demo.demo)
app.command("matrix", epilog=_matrix.EXAMPLES, cls=PlainHelp)(_matrix.matrix)
app.command("verify", epilog=_verify.EXAMPLES, cls=PlainHelp)(_verify.verify)
app.command("keygen", epilog=_keygen.EXAMPLES, cls=PlainHelp)(_keygen.keygen)
app.command("fleet", epilog=_fleet.EXAMPLES, cls=PlainHelp)(_fleet.fleet)
app.command("audit", epilog=_audit.EXAMPLES, cls=PlainHelp)(_audit.audit)
app.command("claims", epilog=_claims.EXAMPLES, cls=PlainHelp)(_claims.claims)
app.add_typer(_zoo.app, name="zoo")
app.add_typer(_registry.app, name="registry")
app.add_typer(_seeds.app, name="seeds")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; known errors become ``Error: <one line>`` on stderr and exit code 1."""
    from seedprints.errors import SeedprintsError
    from seedprints.naming import cli_naming

    debug = os.environ.get("SEEDPRINTS_DEBUG") == "1"
    warnings.showwarning = _one_line_warning
    _interrupt.reset()
    try:
        with cli_naming():  # messages of the library name --flags, not Python parameters
            app(args=argv, prog_name="seedprints")  # typer reports usage errors itself (exit 2)
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C into Exit(130) before we can see the KeyboardInterrupt
            return _interrupted()
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:  # noqa: BLE001 - the single place that turns exceptions into one line
        if debug:
            raise
        if isinstance(exc, SeedprintsError):
            message = str(exc)
        elif isinstance(exc, OSError) and exc.filename is not None:
            message = os_error_line(exc)
        else:
            message = f"unexpected {type(exc).__name__}: {exc} (set SEEDPRINTS_DEBUG=1 for the traceback)"
        print(f"Error: {one_line(message)}", file=sys.stderr)
        return 1
    return 0


def os_error_line(exc: OSError) -> str:
    """An operating-system refusal about a path (name too long, permission, ...) as one line naming the path."""
    name = str(exc.filename)
    shown = name if len(name) <= 80 else f"{name[:40]}...{name[-20:]} ({len(name)} characters)"
    return f"cannot use path {shown!r}: {exc.strerror or exc}; check the path and try again"


def one_line(text: str) -> str:
    """``text`` with line breaks shown as ``\\n`` (a path may hold one), so a message stays one line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Warnings (e.g. LowPowerWarning) as one line on stderr, without the source line."""
    print(f"Warning: {one_line(str(message))}", file=sys.stderr)


def _interrupted() -> int:
    print(f"Error: {one_line(_interrupt.message())}", file=sys.stderr)
    return 130
