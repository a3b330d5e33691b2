"""The public Python API: fingerprint a model, load a fingerprint, compare two of them, check the bases models claim.

A thin face over :mod:`seedprints.pipeline`: settings may be given as keyword arguments (the fields of
:class:`RunOptions` and :class:`ProbeOptions`) or as those objects.

Example:
    >>> import seedprints
    >>> fp_a = seedprints.fingerprint_model("models/base", n=500, length=64)   # doctest: +SKIP
    >>> fp_b = seedprints.fingerprint_model("models/suspect", fp_a.spec)      # doctest: +SKIP
    >>> seedprints.compare(fp_a, fp_b).verdict                                 # doctest: +SKIP
    'same-lineage'
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from seedprints import fingerprint as _fpfile
from seedprints import pipeline
from seedprints.fingerprint import Fingerprint
from seedprints.options import DEFAULT_LENGTH, DEFAULT_N, PROBE_KIND_ALIASES, ProbeOptions, RunOptions, split_settings
from seedprints.pipeline import Side, is_fingerprint_file, probes_like, resolve_probes, shared_default_spec
from seedprints.probes import Probes, ProbeSpec
from seedprints.stats.methods import DEFAULT_METHOD
from seedprints.stats.result import LineageResult

if TYPE_CHECKING:
    from seedprints.claims.fleet import FleetSettings
    from seedprints.claims.results import ClaimsResult

__all__ = [
    "DEFAULT_LENGTH", "DEFAULT_N", "PROBE_KIND_ALIASES", "ProbeOptions", "RunOptions", "check_claims", "compare",
    "fingerprint_model", "is_fingerprint_file",
    "load_fingerprint", "probes_like", "resolve_probes", "shared_default_spec", "weight_sketch",
]


def _options(options: ProbeOptions | None, run: RunOptions | None,
              settings: dict[str, Any]) -> tuple[ProbeOptions, RunOptions]:
    """``options`` and ``run`` (or the defaults) with the keyword ``settings`` laid over them."""
    run_fields, probe_fields = split_settings(settings)
    return (dataclasses.replace(options or ProbeOptions(), **probe_fields),
            dataclasses.replace(run or RunOptions(), **run_fields))


def fingerprint_model(
    model: Any,
    probes: ProbeSpec | Probes | None = None,
    *,
    options: ProbeOptions | None = None,
    run: RunOptions | None = None,
    partial: str | Path | None = None,
    probe_origin: str | None = None,
    **settings: Any,
) -> Fingerprint:
    """Run a model on probes and return its fingerprint.

    Parameters
    ----------
    model : str, Path or torch.nn.Module
        A local Hugging Face model directory, GGUF file or PEFT adapter directory, or an in-memory model.
    probes : ProbeSpec or Probes, optional
        The probes to use (e.g. another fingerprint's ``spec`` so the two can be compared). When
        omitted, probes are built from ``options`` for this model's vocabulary: by default its
        untrained-token probes, the same for every model of that vocabulary.
    options, run : ProbeOptions, RunOptions, optional
        How to build probes; how to load and run the model.
    partial : str or Path, optional
        A resumable file of finished rows (an interrupted run resumes from it).
    probe_origin : str, optional
        Where ``probes`` came from (e.g. ``"fingerprint base.fp"``), so that probes this model cannot
        take are answered with advice the user can follow (re-fingerprint that reference).
    **settings
        Fields of either options object, e.g. ``n=500, length=64, device="cuda", batch_size=64``.

    Returns
    -------
    Fingerprint
        The ``[N, d]`` hidden states at the last position plus metadata.
    """
    probe_options, run_options = _options(options, run, settings)
    return pipeline.fingerprint_model(model, probes, options=probe_options, run=run_options, partial=partial,
                                      probe_origin=probe_origin)


def load_fingerprint(path: str | Path) -> Fingerprint:
    """Load a fingerprint file written by :func:`fingerprint_model` / ``seedprints fingerprint``."""
    return _fpfile.load(path)


def weight_sketch(model: Any, **load: Any) -> Any:
    """What the units part of the lineage test reads of a model's weights (:mod:`seedprints.stats.units`).

    ``model`` is a local model directory, GGUF file, adapter or in-memory module, loaded as
    :func:`seedprints.model.load.load_model` does (``load``: its keyword arguments). Pass two of these to
    :func:`seedprints.stats.lineage_test` as ``weights_ref`` and ``weights_suspect`` to see through a relabelling
    or rotation of the hidden dimensions on any llama-style model (whole sketches; a fingerprint made with
    ``RunOptions(weight_sketch=True)`` carries a prefix of one, and compares with it).
    """
    from seedprints.model.load import load_model
    from seedprints.model.weights import weight_sketch_of

    return weight_sketch_of(load_model(model, **load))


def compare(
    ref: Side,
    suspect: Side,
    *,
    method: str = DEFAULT_METHOD,
    alpha: float = 0.01,
    options: ProbeOptions | None = None,
    run: RunOptions | None = None,
    budget: int | None = None,
    early_stop: bool = False,
    **settings: Any,
) -> LineageResult:
    """Test H0 "the suspect was initialised independently of the reference".

    Parameters
    ----------
    ref, suspect : Fingerprint, or path to a fingerprint file or a model directory
        Models are fingerprinted on the fly, with the other side's probes when it is a fingerprint.
    method : str
        ``"lineage"`` (default): the calibrated test; ``"paper"``: the published SeedPrints statistic
        (:func:`seedprints.stats.paper_test`).
    alpha : float
        Significance level of the verdict.
    options, run : ProbeOptions, RunOptions, optional
        How models are probed and run (see :func:`fingerprint_model`).
    budget : int, optional
        At most this many probes: models are fingerprinted with N = ``budget``, longer fingerprint
        files are cut to their first ``budget`` rows. Default: ``options.n``, or every row.
        At least the method's minimum of probes (20 lineage, 10 paper; 25 with ``early_stop``).
    early_stop : bool
        Test after growing rounds of probes and stop once the verdict is decided
        (:func:`seedprints.pipeline.compare_in_rounds`; ``method="lineage"`` only).
    **settings
        Method settings, e.g. ``seed`` (an int >= 0) of the lineage method's permutation checks, or
        ``buffer_k`` (default: 10% of d, as in the paper), ``identity_mode``, ``use_agg`` for paper mode.

    Returns
    -------
    LineageResult
        Verdict, p-value, log10 p, z, k, n, and the probe hash both sides share. Fingerprints of the
        same probes with different counts are compared on their common prefix, recorded in
        ``settings["common_prefix"]``.
    """
    return pipeline.compare(ref, suspect, method=method, alpha=alpha, options=options, run=run, budget=budget,
                            early_stop=early_stop, **settings).result


def check_claims(
    inputs: Sequence[str | Path],
    registry: Any,
    *,
    alpha: float = 0.01,
    correction: str = "holm",
    fetch_bases: bool = False,
    options: ProbeOptions | None = None,
    run: RunOptions | None = None,
    cache: str | Path | None = None,
    fleet: FleetSettings | None = None,
    revision: str | None = None,
    keep_evidence: bool = False,
    say: Callable[[str], Any] | None = None,
    **settings: Any,
) -> ClaimsResult:
    """Test the bases that models claim (model card ``base_model``, adapter config, GGUF metadata) against a registry.

    Parameters
    ----------
    inputs : sequence of str or Path
        Model directories, GGUF files, PEFT adapters, Hub ids ``org/name[@REV]``, or manifest files listing them.
    registry : Registry, str or Path
        The registry of the claimed bases: a SQLite file or a ``postgresql://`` URL (it must exist).
    alpha : float
        Level of the outcomes.
    correction : {"holm", "bh"}
        Holm: the chance of any false ``confirmed`` over the run's claims is at most ``alpha``; Benjamini-Hochberg:
        the expected share of false ones among the confirmed is.
    fetch_bases : bool
        Fingerprint a claimed base that is not registered from the claim itself (a local path or Hub id).
    options, run : ProbeOptions, RunOptions, optional
        N, L and seed of the default probes; how models are loaded and run (see :func:`fingerprint_model`).
    cache : str or Path, optional
        Folder of the run's fingerprints (default ``~/.cache/seedprints/claims``); a run resumes from it.
    fleet : FleetSettings, optional
        Fingerprint the models as Ray tasks (:class:`seedprints.claims.fleet.FleetSettings`).
    revision : str, optional
        Hub revision of the Hub ids that name none.
    keep_evidence : bool
        Keep what the evidence bundles embed in ``result.evidence``;
        :func:`seedprints.claims.bundles.write_bundles` then writes one per confirmed or not-supported claim.
    say : callable, optional
        Hears one line per model as it is examined.
    **settings
        Fields of either options object, e.g. ``n=500, length=64, device="cpu"``.

    Returns
    -------
    ClaimsResult
        One :class:`~seedprints.claims.outcomes.ClaimOutcome` per claim (``confirmed``, ``not-supported``,
        ``cannot-tell``) and per unclaimed identification (``unclaimed``), and a report per model.

    Examples
    --------
    >>> result = seedprints.check_claims(["./my-finetune"], "refs.db", n=500, length=64)   # doctest: +SKIP
    >>> [(c.claimed_base, c.outcome) for c in result.claims]                             # doctest: +SKIP
    [('meta-llama/Llama-2-7b-hf', 'confirmed')]
    """
    from seedprints.claims.running import check_claims as _check_claims

    probe_options, run_options = _options(options, run, settings)
    return _check_claims(inputs, registry, alpha=alpha, correction=correction, fetch_bases=fetch_bases,
                         options=probe_options, run=run_options, cache=cache, fleet=fleet, revision=revision,
                         keep_evidence=keep_evidence, say=say)
