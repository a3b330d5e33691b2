"""Help pages in the usual command-line style: ``Usage: seedprints compare [OPTIONS] REF SUSPECT`` and
``INPUTS... <path>``, where typer would print ``{ref} {suspect}`` and ``<list[Path]>``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import typer
from typer.core import TyperCommand

if TYPE_CHECKING:
    from typer._click import HelpFormatter

_LIST_TYPE = re.compile(r"<list\[([^\]]*)\]>")


class PlainHelp(TyperCommand):
    """A command whose usage line names arguments in capitals and whose help shows a repeated value's own type."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        """``[OPTIONS]`` then each argument as ``NAME``, ``NAME...`` or ``[NAME]``."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = (param.metavar or param.name or "").upper() + ("..." if param.nargs != 1 else "")
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: typer.Context, formatter: HelpFormatter) -> None:
        """The Arguments and Options sections, arguments in capitals, ``<list[T]>`` shown as ``<t>``."""
        sections: dict[str, list[tuple[str, str]]] = {"argument": [], "option": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and param.param_type_name in sections:
                name, text = record
                if param.param_type_name == "argument":
                    head, _, rest = name.partition(" ")
                    name = f"{head.upper()} {rest}".rstrip()
                sections[param.param_type_name].append((_LIST_TYPE.sub(_element_type, name), text))
        for title, key in (("Arguments", "argument"), ("Options", "option")):
            if sections[key]:
                with formatter.section(title):
                    formatter.write_dl(sections[key])


def _element_type(match: re.Match[str]) -> str:
    return f"<{match.group(1).replace('Path', 'path')}>"
