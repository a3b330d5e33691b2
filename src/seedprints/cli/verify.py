"""``seedprints verify``: re-check an evidence bundle and recompute its statistics from the fingerprints it embeds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._output import Output

if TYPE_CHECKING:
    from rich.console import Console

    from seedprints.bundle.extract import Extraction
    from seedprints.bundle.verify import VerifyResult

EXAMPLES = """Examples:

\b
  seedprints compare base.fp.safetensors suspect.fp.safetensors --bundle evidence.json
  seedprints verify evidence.json
  seedprints verify evidence.json --json
  seedprints compare base.fp.safetensors suspect.fp.safetensors --bundle evidence.json --sign lab.key
  seedprints verify evidence.json --public-key lab.key.pub
  seedprints verify evidence.json --extract fingerprints/
"""


def verify(
    bundle: Annotated[Path, typer.Argument(help="Evidence bundle written by `seedprints compare ... --bundle`.")],
    public_key: Annotated[
        Optional[Path],
        typer.Option("--public-key", metavar="KEY.pub", help="Accept the bundle only if this Ed25519 public key signed it."),
    ] = None,
    extract: Annotated[
        Optional[Path],
        typer.Option("--extract", metavar="DIR", help="Once the bundle verifies, write its embedded fingerprints into this "
                     "new folder (NAME.fp.safetensors, NAME.ranks, extracted.json)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="With --extract: replace a previous extraction in DIR.")] = False,
    json_output: o.JsonOpt = False,
) -> None:
    """Check BUNDLE's seal, signature and fingerprint hashes and recompute every result; exit 0 only when all agree."""
    from seedprints.bundle.verify import verify_bundle
    from seedprints.signing import load_public_key

    if force and extract is None:
        raise typer.BadParameter("--force replaces a previous extraction; add --extract DIR")
    out = Output(json_output)
    key = load_public_key(public_key) if public_key is not None else None
    extraction = None
    if extract is None:
        result = verify_bundle(bundle, key)
    else:
        from seedprints.bundle.extract import extract as extract_fingerprints
        from seedprints.cli._output_files import make_parent

        make_parent(extract)
        result, extraction = extract_fingerprints(bundle, extract, force=force, public_key=key)
    payload = result.to_dict() if extraction is None else {**result.to_dict(), "extracted": extraction.to_dict()}
    out.result(payload, lambda console: _print(console, bundle, result, extraction))


def _print(console: Console, bundle: Path, result: VerifyResult, extraction: Extraction | None) -> None:
    """What was checked and recomputed, test by test, who signed, the identify family, and what was extracted."""
    from seedprints.reports.terminal import format_p

    console.print(f"verified {bundle}: seal {result.digest[:16]}, {len(result.fingerprints)} fingerprints, "
                  f"{len(result.tests)} test(s) recomputed, {result.agreement()}")
    for test in result.tests:
        console.print(f"  {test['reference']} vs {test['suspect']}: {test['verdict']} ({test['method']}, "
                      f"p = {format_p(None, test['log10_p'])}, log10 p = {test['log10_p']:.4g}, z = {test['z']:.4g})")
    console.print(f"  signed by Ed25519 key {result.signed_by}" if result.signed_by else "  not signed")
    if result.family is not None:
        f = result.family
        bh = "recomputed" if f["bh"] == "exact" else "within the bounds the listed candidates allow"
        console.print(f"  family of {f['tested']} tests: Holm-adjusted p of {f['candidates']} candidate(s) recomputed, "
                      f"BH-adjusted p {bh}, verdicts at level {f['level']:g}")
    if extraction is not None:
        console.print(f"extracted {len(extraction.files)} fingerprint(s) into {extraction.dir} "
                      f"(listed in {extraction.manifest}):")
        for item in extraction.files:
            what = "fingerprint file" if item.encoding == "fingerprint" else "registry ranks"
            console.print(f"  {item.name}: {item.path} ({what}, {item.size} bytes, sha256 {item.sha256[:16]})")
