"""The ``--report DIR``, ``--force`` and ``--sign KEY`` options of verbs that write reports and bundles, the early
checks of those outputs, and the command line a report or bundle records."""

from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from click import Parameter
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ReportOpt = Annotated[
    Optional[Path],
    typer.Option("--report", help="Also write an offline HTML report (index.html, results.json) into this new folder."),
]


ForceOpt = Annotated[bool, typer.Option("--force", help="Replace a previous report in the report folder.")]

SignOpt = Annotated[
    Optional[Path],
    typer.Option("--sign", metavar="KEY", help="Sign the --bundle with this Ed25519 private key (from `seedprints keygen`)."),
]


def check_outputs(report_dir: Path | None, force: bool, bundle: Path | None, inputs: tuple[Path, ...]) -> None:
    """Refuse an unusable ``--report`` folder or ``--bundle`` path (one that is an input too) before any long work."""
    from seedprints.fingerprint import check_output_path
    from seedprints.report_html import check_report_dir

    if report_dir is not None:
        check_report_dir(report_dir, force=force)
    if bundle is not None:
        check_output_path(bundle, inputs)


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


def _words(param: Parameter, value: object) -> list[str]:
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
