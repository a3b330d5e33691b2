"""The ``--report DIR`` option of verbs that write an HTML report, the early check of their extra outputs, and the
command line a report or bundle records."""

from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

ReportOpt = Annotated[
    Optional[Path],
    typer.Option("--report", help="Also write an offline HTML report (index.html, results.json) into this new folder."),
]


ForceOpt = Annotated[bool, typer.Option("--force", help="Replace a previous report in the report folder.")]


def check_outputs(report_dir: Path | None, force: bool, bundle: Path | None) -> None:
    """Refuse an unusable ``--report`` folder or ``--bundle`` path before any long work."""
    from seedprints.fingerprint import check_output_path
    from seedprints.report_html import check_report_dir

    if report_dir is not None:
        check_report_dir(report_dir, force=force)
    if bundle is not None:
        check_output_path(bundle)


def invoked_command(ctx: typer.Context) -> str:
    """The running verb as one shell-quoted command line, every option spelt out (defaults included)."""
    words = ctx.command_path.split()
    for param in ctx.command.params:
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
