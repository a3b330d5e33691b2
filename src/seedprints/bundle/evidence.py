"""The evidence bundle of one comparison and of one identification: which fingerprints each embeds and which tests
(and, for identify, which family of adjusted p-values) it records, so that ``--bundle`` and a Python caller write the
same evidence from the same result."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from seedprints import pipeline
from seedprints.bundle.layout import Comparison
from seedprints.bundle.write import embed, embed_source, write_bundle
from seedprints.pipeline import Compared

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from seedprints.search.results import IdentifyResult


def write_compare_bundle(path: Path, compared: Compared, sources: tuple[Path, Path], *, command: str,
                         settings: Mapping[str, Any] | None = None, progress: bool = False,
                         signer: Ed25519PrivateKey | None = None) -> Path:
    """Write the bundle of ``compared``, whose sides were given as ``sources``: each side embedded (a file's exact
    bytes, or the probe rows used; a model directory's fingerprint and file checksums) with its test and
    ``settings``. An early-stopped comparison records instead the fixed lineage test on the rows of its stopping
    look, at that look's level: its verdict is the sequential one, and ``seedprints verify`` recomputes it."""
    sequential = compared.result.details.get("sequential")
    result, recorded = compared.result, dict(settings or {})
    if sequential is not None:
        level = 10.0 ** sequential["looks"][-1]["log10_level"]
        result, recorded = pipeline.compare(compared.reference, compared.suspect, alpha=level).result, {}
    embedded = {
        name: embed_source(source, fp, whole_file=sequential is None, progress=progress)
        for name, source, fp in zip(("reference", "suspect"), sources, (compared.reference, compared.suspect))
    }
    return write_bundle(path, fingerprints=embedded, tests=[Comparison("reference", "suspect", result, recorded)],
                        command=command, signer=signer)


def write_identify_bundle(path: Path, result: IdentifyResult, suspect: Path, *, command: str, progress: bool = False,
                          signer: Ed25519PrivateKey | None = None) -> Path:
    """Write the bundle of an identification kept with its evidence: the suspect (a file's exact bytes, or its
    fingerprint and model file checksums) and each listed entry, their tests, and the family the adjusted p-values
    and verdicts come from."""
    evidence = result.evidence
    suspect_names = {h: "suspect" if len(evidence.suspects) == 1 else f"suspect-{h}" for h in evidence.suspects}
    whole_file = result.budget is None and result.sequential is None
    embedded = {
        suspect_names[h]: embed_source(suspect, fp, whole_file=whole_file, progress=progress)
        for h, fp in evidence.suspects.items()
    }
    embedded.update((f"registry:{name}", embed(ranked, source=f"{result.registry}: {name}"))
                    for name, ranked in evidence.entries.items())
    tests = [
        Comparison(f"registry:{c.name}", suspect_names[c.probe_hash], evidence.results[c.name],
                   {"n_permutations": 0, "seed": 0})
        for c in result.candidates
    ]
    family = {
        "tested": result.tested, "alpha": float(result.alpha), "sequential": result.sequential is not None,
        "level": float(result.sequential["level"]) if result.sequential is not None else float(result.alpha),
        "candidates": [{"test": i, "log10_p_holm": c.log10_p_holm, "log10_p_bh": c.log10_p_bh, "verdict": c.verdict,
                        "bh_verdict": c.bh_verdict} for i, c in enumerate(result.candidates)],
    }
    return write_bundle(path, fingerprints=embedded, tests=tests, command=command, kind="identify",
                        identification=family, signer=signer)
