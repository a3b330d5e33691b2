"""The ``--report DIR``, ``--force`` and ``--sign KEY`` options of verbs that write reports and bundles, the early
checks of every output (one rule: an existing output is replaced only with ``--force``), and the command line a
report or bundle records."""

from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from typer.core import TyperArgument, TyperOption

    from seedprints.cli._output import Output

ReportOpt = Annotated[
    Optional[Path],
    typer.Option("--report", help="Also write an offline HTML report (index.html, results.json) into this new folder "
                 "(missing parent folders are created)."),
]


ForceOpt = Annotated[bool, typer.Option("--force", help="Replace existing outputs (a previous report folder, a file).")]

SignOpt = Annotated[
    Optional[Path],
    typer.Option("--sign", metavar="KEY", help="Sign the --bundle with this Ed25519 private key (from `seedprints keygen`)."),
]


def check_outputs(report_dir: Path | None, force: bool, bundle: Path | None, inputs: tuple[Path, ...]) -> None:
    """Refuse an unusable ``--report`` folder or ``--bundle`` path (one that is an input too, or an existing file
    without ``--force``) before any long work; their missing parent folders are created."""
    from seedprints.output_paths import check_output_path
    from seedprints.reports.html import check_report_dir

    if report_dir is not None:
        make_parent(report_dir)
        check_report_dir(report_dir, force=force)
    if bundle is not None:
        make_parent(bundle)
        check_output_path(bundle, inputs)
        refuse_existing(bundle, force)


def make_parent(path: Path) -> None:
    """Create the folders above the output ``path`` that are missing."""
    from seedprints.errors import OutputPathError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise OutputPathError(f"cannot write {path}: {exc.filename or path.parent} is a file, not a folder; "
                              "choose another location") from exc


def refuse_existing(path: Path, force: bool) -> None:
    """The overwrite rule of every output file: an existing one is replaced only with ``--force`` (a folder, pipe or
    device in the way gets its own error where the output is checked)."""
    from seedprints.errors import OutputPathError

    if path.is_file() and not force:
        raise OutputPathError(f"{path} already exists; choose another name, or pass --force to replace it")


def say_written(out: Output, what: str, path: Path | str) -> None:
    """One line on stderr naming a file a verb wrote beside its result (silent under --json and --quiet)."""
    out.hint(f"wrote {what} {path}")


def signing_key(sign: Path | None, bundle: Path | None) -> Ed25519PrivateKey | None:
    """The ``--sign`` key, read before any long work; ``--sign`` without ``--bundle`` is a usage error."""
    if sign is None:
        return None
    if bundle is None:
        raise typer.BadParameter("--sign signs the evidence bundle; add --bundle FILE")
    from seedprints.signing import load_private_key

    return load_private_key(sign)


def invoked_command(ctx: typer.Context, inputs: list[Path], *, probe_file_used: bool = True) -> str:
    """The running verb as one shell-quoted command line that reruns it: the arguments, every option the user gave,
    and the defaults of the options that apply to these inputs spelt out (so a later change of default cannot change
    the rerun); options the inputs make meaningless, which the verb would refuse, and --sign are left out."""
    from seedprints.cli._options import given, meaningless_parameters

    meaningless = set(meaningless_parameters(ctx, inputs, probe_file_used=probe_file_used))
    chosen = set(given(ctx, *(param.name for param in ctx.command.params if param.name)))
    words = ctx.command_path.split()
    for param in ctx.command.params:
        if param.name == "sign" or (param.opts[0] not in chosen and param.name in meaningless):
            continue  # where the private key lies is not part of reproducing a result
        words += _words(param, ctx.params.get(param.name))
    return shlex.join(words)


def _words(param: TyperArgument | TyperOption, value: object) -> list[str]:
    """The command-line words that give ``param`` the value ``value`` (none for an unset option or a false flag)."""
    words: list[str] = []
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if item is None or item is False:
            continue
        text = str(item.value if isinstance(item, Enum) else item)
        if param.param_type_name == "argument":
            words.append(text)
        elif item is True:
            words.append(param.opts[0])
        else:
            words += [param.opts[0], text]
    return words
