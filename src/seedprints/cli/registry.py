"""``seedprints registry add|list|show|remove|export|import``: a persistent library of fingerprints."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._hub import RevisionOpt, local_model
from seedprints.cli._help import PlainHelp
from seedprints.cli._output import Output
from seedprints.cli._output_files import ForceOpt, refuse_existing
from seedprints.options import ProbeOptions, RunOptions

if TYPE_CHECKING:
    from rich.table import Table

    from seedprints.registry import Registry, RegistryEntry, RegistryLocation

app = typer.Typer(help="Keep named, tagged fingerprints in a registry (a SQLite file or a PostgreSQL database) and share them "
                  "as archives.", no_args_is_help=True)

ADD_EXAMPLES = """Examples:

\b
  seedprints registry add llama2.fp.safetensors --name llama-2-7b --tag family=llama --tag license=llama2
  seedprints registry add ./my-model --like llama2.fp.safetensors --tag seed=42
  seedprints registry add ./tiny-model --n 500 --length 64 --registry refs.db
  seedprints registry add org/model@v1.0 --tag family=org
"""
LIST_EXAMPLES = """Examples:

\b
  seedprints registry list
  seedprints registry list --tag family=llama --json
"""
SHOW_EXAMPLES = """Examples:

\b
  seedprints registry show llama-2-7b
  seedprints registry show llama-2-7b --json
"""
REMOVE_EXAMPLES = """Examples:

\b
  seedprints registry remove llama-2-7b
"""
EXPORT_EXAMPLES = """Examples:

\b
  seedprints registry export refs.tar                          # every entry
  seedprints registry export llama.tar --tag family=llama
  seedprints registry export two.tar --name llama-2-7b --name vicuna-7b
"""
IMPORT_EXAMPLES = """Examples:

\b
  seedprints registry import refs.tar
  seedprints registry import refs.tar --replace --registry team.db
"""


def _tags(values: list[str] | None) -> list[str] | None:
    """Check KEY=VALUE syntax and that no key comes twice, at parse time (usage error, exit 2)."""
    seen: dict[str, str] = {}
    for value in values or []:
        key, sep, _ = value.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{value!r} is not KEY=VALUE (e.g. --tag family=llama)")
        if key in seen:
            raise typer.BadParameter(f"tag {key!r} is given twice ({seen[key]!r} and {value!r}); give each key once")
        seen[key] = value
    return values


def tag_dict(values: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` (already checked by the option's callback) as a dict."""
    return dict(value.split("=", 1) for value in values or [])


TagOpt = Annotated[Optional[list[str]], typer.Option("--tag", help="KEY=VALUE label; repeat the option.", callback=_tags)]


def open_registry(registry: "RegistryLocation", *, create: bool = False) -> "Registry":
    """Open --registry (storing the search index beside each entry written: :mod:`seedprints.search.index`); the
    default one's folder (~/.seedprints) is made on first write, any other must exist."""
    from seedprints.search.index import Registry

    if create and _default_folder_missing(registry):
        from seedprints.errors import RegistryError

        folder = registry.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(f"cannot create {folder}: {exc.strerror}; pass --registry") from exc
    return Registry.open(registry, create=create)


def like_file(like: Path) -> Path:
    """--like names a fingerprint file; a directory (say, the model it was made from) is refused with advice."""
    from seedprints.errors import UsageError

    if like.is_dir():
        raise UsageError(f"--like needs a fingerprint file, but {like} is a directory; give the .fp.safetensors file "
                         "whose probes to reuse")
    return like


def check_registry(registry: "RegistryLocation") -> None:
    """Refuse a foreign, newer, special or unwritable registry before a long run, without creating one yet."""
    from seedprints.registry import check_path

    if registry.is_postgres:
        with open_registry(registry, create=True):  # reachable and ours (an empty database becomes one now)
            return
    if _default_folder_missing(registry):
        return  # made on first write
    check_path(registry.path, create=True)
    if registry.path.exists():
        with open_registry(registry) as reg:
            reg.check_intact()  # the write at the end would refuse it


def _default_folder_missing(registry: "RegistryLocation") -> bool:
    return registry == o.RegistryLocation.parse(o.DEFAULT_REGISTRY) and not registry.path.parent.exists()


def warn_if_damaged(reg: "Registry", out: Output) -> None:
    """One warning line on stderr (also under --json) when the registry is damaged: what was read is shown, writes are
    refused. Called after the reads, so a read that fails on the damage gives its error line alone."""
    detail = reg.damage()
    if detail is not None:
        out.stderr.print(f"Warning: registry {reg.path} is damaged ({detail}); writes to it are refused: salvage its "
                         "entries with `seedprints registry export FILE.tar` and import them into a new registry")


@app.command("add", epilog=ADD_EXAMPLES, cls=PlainHelp)
@o.probe_options()
@o.model_options()
def add(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="A fingerprint file, or a model directory or Hub id org/name[@REV] to fingerprint.")],
    name: Annotated[Optional[str], typer.Option("--name", help="Entry name (default: the model id's last part).")] = None,
    tag: TagOpt = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite an entry of the same name.")] = False,
    like: Annotated[
        Optional[Path], typer.Option("--like", help="Model directory only: use the probes of this fingerprint file.")
    ] = None,
    revision: RevisionOpt = None,
    registry: o.RegistryOpt = o.DEFAULT_REGISTRY,
    json_output: o.JsonOpt = False,
    *,
    probes: ProbeOptions,
    run: RunOptions,
) -> None:
    """Register SOURCE: a fingerprint file as it is, or a model directory fingerprinted now (probe options apply)."""
    from seedprints.registering import entry_fingerprint, entry_name
    from seedprints.registry import check_name, check_tags

    out = Output(json_output)
    source, snapshot = local_model(source, revision, trust_remote_code=run.trust_remote_code, out=out)
    if snapshot is not None and name is None:
        name = snapshot.ref.repo_id.split("/")[1]
    _refuse_ignored(ctx, source, like, probes)
    tags = check_tags(tag_dict(tag))
    if name is not None:
        check_name(name, option="--name")
    if source.is_dir():
        _refuse_unused_probe_file(like, probes)
        check_registry(registry)
    fp = entry_fingerprint(source, like=like, options=probes, run=run)
    name = entry_name(fp, name)
    with open_registry(registry, create=True) as reg:
        entry = reg.add(fp, name=name, tags=tags, source=source, replace=replace)
    out.result({"registry": str(reg.path), "entry": entry.to_dict()}, lambda c: c.print(
        f"added {entry.name} ({entry.n} x {entry.hidden_size}, probes {entry.probe_hash}, {entry.encoded_bytes} bytes) to {reg.path}"
    ))


def _refuse_ignored(ctx: typer.Context, source: Path, like: Path | None, probes: ProbeOptions) -> None:
    """Usage error for the options a fingerprint file (all but --name, --tag, --replace) or --like (the probe
    options) make meaningless."""
    from seedprints.api import is_fingerprint_file

    if is_fingerprint_file(source):  # refuses a pipe or device
        o.refuse_ignored(o.given(ctx, "like", "n", *o.PROBE_PARAMETERS, *o.MODEL_PARAMETERS),
                         f"{source} is a fingerprint file, which carries its own probes and needs no model run")
    elif like is not None:
        o.refuse_ignored(o.given(ctx, "n", *(p for p in o.PROBE_PARAMETERS if p != "probe_file")),
                         f"the probes are those of --like {like}")


def _refuse_unused_probe_file(like: Path | None, probes: ProbeOptions) -> None:
    """Usage error for --probe-file with a --like file made from generated probes (a directory is refused first)."""
    from seedprints.registering import made_from_probe_file

    if like is None:
        return
    like_file(like)
    if probes.probe_file is not None and not made_from_probe_file(like):
        o.refuse_ignored(["--probe-file"], f"--like {like} was not made from a probe file")


@app.command("list", epilog=LIST_EXAMPLES, cls=PlainHelp)
def list_entries(
    tag: TagOpt = None,
    registry: o.RegistryOpt = o.DEFAULT_REGISTRY,
    json_output: o.JsonOpt = False,
) -> None:
    """List the entries (optionally only those with every --tag)."""
    out = Output(json_output)
    with open_registry(registry) as reg:
        entries = reg.entries(tags=tag_dict(tag))
        total = len(reg.entries()) if tag and not entries else len(entries)
        warn_if_damaged(reg, out)
    empty = f"no entries in {reg.path}"
    if tag and total:
        filters = " ".join(f"--tag {t}" for t in tag)
        empty = f"the filter {filters} matched none of the {total} {'entry' if total == 1 else 'entries'} in {reg.path}"
    out.result(
        {"registry": str(reg.path), "entries": [e.to_dict() for e in entries]},
        lambda c: c.print(_entries_table(entries)) if entries else c.print(empty),
    )


@app.command("show", epilog=SHOW_EXAMPLES, cls=PlainHelp)
def show(
    name: Annotated[str, typer.Argument(help="Entry name.")],
    registry: o.RegistryOpt = o.DEFAULT_REGISTRY,
    json_output: o.JsonOpt = False,
) -> None:
    """Show everything the registry knows about one entry."""
    out = Output(json_output)
    with open_registry(registry) as reg:
        entry = reg.get(name)
        warn_if_damaged(reg, out)
    out.result({"registry": str(reg.path), "entry": entry.to_dict()}, lambda c: c.print(_entry_table(entry)))


@app.command("remove", epilog=REMOVE_EXAMPLES, cls=PlainHelp)
def remove(
    name: Annotated[str, typer.Argument(help="Entry name.")],
    registry: o.RegistryOpt = o.DEFAULT_REGISTRY,
    json_output: o.JsonOpt = False,
) -> None:
    """Delete one entry."""
    out = Output(json_output)
    with open_registry(registry) as reg:
        reg.remove(name)
    out.result({"registry": str(reg.path), "removed": name}, lambda c: c.print(f"removed {name} from {reg.path}"))


@app.command("export", epilog=EXPORT_EXAMPLES, cls=PlainHelp)
def export(
    archive: Annotated[Path, typer.Argument(help="Archive file to write (.tar).")],
    name: Annotated[Optional[list[str]], typer.Option("--name", help="Export only this entry; repeat the option.")] = None,
    tag: TagOpt = None,
    registry: o.RegistryOpt = o.DEFAULT_REGISTRY,
    force: ForceOpt = False,
    json_output: o.JsonOpt = False,
) -> None:
    """Write entries (all, or the chosen ones) to a portable archive."""
    from seedprints.output_paths import same_file

    out = Output(json_output)
    if not any(same_file(archive, own) for own in registry.files()):  # that has its own error
        refuse_existing(archive, force)
    with open_registry(registry) as reg:
        entries = reg.export(archive, names=name or None, tags=tag_dict(tag))
    out.result(
        {"registry": str(reg.path), "archive": str(archive), "entries": [e.name for e in entries]},
        lambda c: c.print(f"exported {len(entries)} entries from {reg.path} to {archive}"),
    )


@app.command("import", epilog=IMPORT_EXAMPLES, cls=PlainHelp)
def import_(
    archive: Annotated[Path, typer.Argument(help="Archive written by `seedprints registry export`.")],
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite entries of the same names.")] = False,
    registry: o.RegistryOpt = o.DEFAULT_REGISTRY,
    json_output: o.JsonOpt = False,
) -> None:
    """Add every entry of an archive, all or nothing (every checksum is verified first)."""
    from seedprints.registry import verify_archive

    out = Output(json_output)
    check_registry(registry)
    if not registry.is_postgres and not registry.path.exists():
        verify_archive(archive)  # a new registry file is made only for an archive that can be imported
    with open_registry(registry, create=True) as reg:
        entries = reg.import_archive(archive, replace=replace)
    out.result(
        {"registry": str(reg.path), "archive": str(archive), "entries": [e.name for e in entries]},
        lambda c: c.print(f"imported {len(entries)} entries from {archive} into {reg.path}"),
    )


def _entries_table(entries: list["RegistryEntry"]) -> Table:
    from rich.table import Table  # rich only where a table prints (start-up of --help)

    table = Table(show_header=True, header_style="bold")
    for column in ("name", "model", "n x d", "logits", "probes", "tags", "bytes", "added"):
        table.add_column(column, justify="right" if column in ("n x d", "logits", "bytes") else "left")
    for e in entries:
        table.add_row(
            e.name, e.model_id, f"{e.n} x {e.hidden_size}", str(e.n_logits), e.probe_hash,
            " ".join(f"{k}={v}" for k, v in e.tags.items()), str(e.encoded_bytes), e.created_at,
        )
    return table


def _entry_table(entry: "RegistryEntry") -> Table:
    from rich.table import Table  # rich only where a table prints (start-up of --help)

    table = Table(show_header=False)
    table.add_column("field")
    table.add_column("value")
    rows = {
        "name": entry.name, "model": entry.model_id, "shape": f"{entry.n} x {entry.hidden_size}",
        "logit tokens": str(entry.n_logits), "probes": entry.spec.describe(),
        "tags": " ".join(f"{k}={v}" for k, v in entry.tags.items()) or "-",
        "source": entry.source_path or "-", "source sha256": entry.source_sha256 or "-",
        "encoding sha256": entry.encoding_sha256, "encoded bytes": str(entry.encoded_bytes), "added": entry.created_at,
        **{f"meta {k}": v for k, v in entry.metadata.items()},
    }
    for key, value in rows.items():
        table.add_row(key, value)
    return table
