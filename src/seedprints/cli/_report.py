"""The ``--report DIR``, ``--force`` and ``--sign KEY`` options of verbs that write reports and bundles, the early
checks of those outputs, and the command line a report or bundle records."""

from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
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


def invoked_command(ctx: typer.Context) -> str:
    """The running verb as one shell-quoted command line, every option spelt out (defaults included, --sign left out)."""
    words = ctx.command_path.split()
    for param in ctx.command.params:
        if param.name == "sign":  # where the private key lies is not part of reproducing a result
            continue
        value = ctx.params.get(param.name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if item is None or item is False:
                continue
            text = str(item.value if isinstance(item, Enum) else item)
            if param.param_type_name == "argument":
                words.append(text)
            elif item is True:
                words.append(param.opts[0])
            else:
                words += [param.opts[0], text]
    return shlex.join(words)
