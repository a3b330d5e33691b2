"""``seedprints keygen``: make an Ed25519 key pair for signing evidence bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seedprints.cli import _options as o
from seedprints.cli._output import Output

EXAMPLES = """Examples:

\b
  seedprints keygen lab.key                      # writes lab.key (private, mode 0600) and lab.key.pub
  seedprints compare base.fp suspect.fp --bundle evidence.json --sign lab.key
  seedprints verify evidence.json --public-key lab.key.pub
"""


def keygen(
    key: Annotated[Path, typer.Argument(help="Private key file to write; the public key goes to KEY.pub.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key pair at KEY.")] = False,
    json_output: o.JsonOpt = False,
) -> None:
    """Make an Ed25519 key pair: KEY signs bundles (--sign KEY), KEY.pub checks them (verify --public-key)."""
    from seedprints.errors import OutputPathError
    from seedprints.signing import generate_key_pair

    out = Output(json_output)
    if not key.name:
        raise typer.BadParameter(f"{str(key)!r} names no file; give a key file name such as lab.key")
    public = key.with_name(key.name + ".pub")
    odd = [str(p) for p in (key, public) if p.exists() and (p.is_symlink() or not p.is_file())]
    if odd:
        raise OutputPathError(f"{odd[0]} is in the way and is not a key file (a folder, link or device); choose another "
                              "name, or remove it")
    existing = [str(p) for p in (key, public) if p.exists()]
    if existing and not force:
        raise OutputPathError(f"{' and '.join(existing)} already exist; choose another name or pass --force to replace "
                              "the key pair (bundles signed with the old key then no longer match a new .pub)")
    private_path, public_path, key_id = generate_key_pair(key)
    out.result({"private_key": str(private_path), "public_key": str(public_path), "key_id": key_id, "algorithm": "ed25519"},
               lambda c: c.print(f"wrote {private_path} (keep it private) and {public_path} (share it); key id {key_id}"))
