"""An evidence bundle per confirmed or contradicted claim, which ``seedprints verify`` recomputes.

A claim's outcome rests on its own lineage test and on the run's family-wise correction. Holm's adjusted p-value
of the claim ranked r-th by evidence depends on the r strongest claims' p-values (and on how many claims were
tested), so its bundle, an ``identify`` bundle (:mod:`seedprints.bundle`), embeds those r tests: the models' and
bases' rank encodings, each test's result, and the family (the number of claims tested, each listed test's Holm and
Benjamini-Hochberg adjusted p-values and verdicts). ``verify`` recomputes every test from the embedded ranks, Holm's
adjusted p-values exactly and BH's within the bounds the listed tests allow; the count of claims tested is taken
on trust. A model side carries the checksums of its model files.

The bundles go into one new folder (``claim-NNN-MODEL--BASE.json``, NNN the claim's row), written all at once.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedprints.bundle.layout import Comparison
from seedprints.claims.outcomes import CONFIRMED, NOT_SUPPORTED, TEST_SETTINGS
from seedprints.encoding import encode
from seedprints.errors import OutputPathError
from seedprints.reports.html import write_folder
from seedprints.stats.multiple import bh_log10, holm_log10
from seedprints.stats.result import verdict_for
from seedprints.tempfiles import temp_dir

if TYPE_CHECKING:
    from seedprints.claims.results import ClaimsResult

BUNDLE_FILE = re.compile(r"claim-\d{3,}-[A-Za-z0-9._-]*\.json")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def check_bundle_dir(folder: Path, *, force: bool = False) -> None:
    """Refuse, before any work, a bundle folder that is a file, or holds anything without ``force``, or with
    ``force`` holds anything but bundles of an earlier claims run (``--force`` replaces only those)."""
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"bundle folder {folder} is a file; give the name of a new folder")
    held = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if held and not force:
        raise OutputPathError(f"bundle folder {folder} is not empty; choose a new folder, or pass --force to replace it")
    foreign = [name for name in held if not BUNDLE_FILE.fullmatch(name) or not (folder / name).is_file()]
    if foreign:
        raise OutputPathError(f"bundle folder {folder} holds {foreign[0]}, which is not a claims bundle; --force only "
                              "replaces the bundles of an earlier run, so choose a new folder")


def bundle_name(row: int, model: str, base: str) -> str:
    """The file name of a claim's bundle: its row, then the model and base as safe characters."""
    def safe(text: str) -> str:
        return _UNSAFE.sub("_", text).strip("._")[:60] or "x"

    return f"claim-{row + 1:03d}-{safe(model)}--{safe(base)}.json"


def write_bundles(folder: Path, result: "ClaimsResult", *, signer: Any = None, command: str) -> dict[int, Path]:
    """Write the bundle of every confirmed or not-supported claim of ``result`` (run with ``keep_evidence=True``) into
    the new ``folder`` (see :func:`check_bundle_dir`), all at once; returns claim row -> bundle path.

    Raises BundleError when a bundle would not verify, and OutputPathError when the folder cannot be written.
    """
    import numpy as np

    from seedprints.bundle.write import write_bundle

    if result.evidence is None:
        raise ValueError("write_bundles needs a result run with keep_evidence=True")
    tests = result.evidence.tests
    log10_p = np.array([t.result.log10_p for t in tests])
    holm, bh = (holm_log10(log10_p), bh_log10(log10_p)) if tests else (log10_p, log10_p)
    order = sorted(range(len(tests)), key=lambda i: (tests[i].result.log10_p, i))
    embedded = _Embedded(result)
    staging = temp_dir(folder)
    files: dict[str, bytes] = {}
    written: dict[int, Path] = {}
    try:
        for rank, i in enumerate(order):
            row = result.claims[tests[i].row]
            if row.outcome not in (CONFIRMED, NOT_SUPPORTED):
                continue
            listed = order[: rank + 1]  # Holm's adjusted p of this claim depends on the claims stronger than it
            comparisons = [Comparison(tests[j].base, tests[j].model, tests[j].result, dict(TEST_SETTINGS))
                           for j in listed]
            family = {"tested": len(tests), "alpha": float(result.alpha), "level": float(result.alpha), "sequential": False,
                      "candidates": [{"test": t, "log10_p_holm": float(holm[j]), "log10_p_bh": float(bh[j]),
                                      "verdict": verdict_for(float(holm[j]), result.alpha),
                                      "bh_verdict": verdict_for(float(bh[j]), result.alpha)} for t, j in enumerate(listed)]}
            used = sorted({name for j in listed for name in (tests[j].base, tests[j].model)})
            name = bundle_name(tests[i].row, row.model, row.claimed_base or "")
            path = write_bundle(staging / name, fingerprints={k: embedded.get(k) for k in used}, tests=comparisons,
                                       command=command, kind="identify", identification=family, signer=signer)
            files[name] = path.read_bytes()
            written[tests[i].row] = folder / name
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if files:
        write_folder(folder, files)
    return written


class _Embedded:
    """The evidence's fingerprints as bundles embed them (rank encodings, a model with its files' checksums), each
    encoded once."""

    def __init__(self, result: "ClaimsResult") -> None:
        self.items = result.evidence.fingerprints
        self.done: dict[str, Any] = {}
        self.checksums: dict[str, dict[str, str] | None] = {}

    def get(self, name: str) -> Any:
        from seedprints.bundle.layout import EmbeddedFingerprint

        if name not in self.done:
            item = self.items[name]
            self.done[name] = EmbeddedFingerprint("ranks", encode(item.ranked), item.source, self._files(item.path))
        return self.done[name]

    def _files(self, path: str | None) -> dict[str, str] | None:
        """SHA-256 of a model's files (of the file itself for a GGUF), once per model; None when not on this machine."""
        from seedprints.bundle.write import model_file_checksums

        if path is None or not Path(path).exists():
            return None
        if path not in self.checksums:
            folder = Path(path)
            self.checksums[path] = (model_file_checksums(folder) if folder.is_dir()
                                    else {folder.name: hashlib.sha256(folder.read_bytes()).hexdigest()})
        return self.checksums[path]
