"""The ``--revision`` option and the one step that turns Hub-id model arguments into downloaded snapshot folders."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from seedprints.cli._output import Output

if TYPE_CHECKING:
    from seedprints.hub import Snapshot

RevisionOpt = Annotated[
    Optional[str],
    typer.Option("--revision", metavar="REV", help="Hub ids (org/name): the branch, tag or commit to download "
                 "(default: the default branch); org/name@REV says the same."),
]


def local_model(argument: Path, revision: str | None, *, trust_remote_code: bool, out: Output) -> tuple[Path, "Snapshot | None"]:
    """``argument`` itself when it is a local path, else its Hub snapshot folder (downloaded now) and the snapshot."""
    paths, snapshots = local_models([argument], revision, trust_remote_code=trust_remote_code, out=out)
    return paths[0], snapshots[0]


def local_models(arguments: list[Path], revision: str | None, *, trust_remote_code: bool,
                 out: Output) -> tuple[list[Path], list["Snapshot | None"]]:
    """Each Hub id among ``arguments`` downloaded (safetensors, configs, tokenizer files) and replaced by its folder.

    Local paths pass through untouched and offline; ``--revision`` without any Hub id is a usage error.
    """
    from seedprints import hub

    refs = [hub.parse_hub_id(argument, revision) for argument in arguments]
    if revision is not None and not any(refs):
        raise typer.BadParameter("--revision applies to Hub ids (org/name), but no model argument is one; drop it")
    paths, snapshots = [], []
    for argument, ref in zip(arguments, refs):
        snapshot = None
        if ref is not None:
            snapshot = hub.download(ref, trust_remote_code=trust_remote_code, progress=out.progress)
            out.hint(f"{ref} is commit {snapshot.commit} from the Hub (safetensors, config and tokenizer files only)")
        paths.append(snapshot.path if snapshot else argument)
        snapshots.append(snapshot)
    return paths, snapshots
