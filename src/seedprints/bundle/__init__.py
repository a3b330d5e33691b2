"""Evidence bundles: one self-contained JSON file from which anyone can recompute a lineage verdict.

A bundle embeds the fingerprints a result was computed from (the fingerprint file's bytes, or the
compact rank encoding of a registry entry) with their SHA-256, the model files' checksums when a
side was a model directory, the library versions and the machine facts that move a float's last
digits (:mod:`seedprints.machine`), each test's method, settings and result, and the command that
reproduces it (without the outputs it wrote, so that it reruns beside them). A *seal*, the SHA-256
of the canonical JSON of everything else, shows that nothing was edited after writing. The seal is
not a signature: whoever edits a bundle can re-seal it. What makes a bundle evidence is
:func:`~seedprints.bundle.verify.verify_bundle`, which re-checks every embedded fingerprint's hash and recomputes
every statistic from the embedded fingerprints; an optional Ed25519 signature adds who vouches for it.

One module per job: :mod:`~seedprints.bundle.layout` (the format's constants and types, the seal, the facts of
this run), :mod:`~seedprints.bundle.write` (embed fingerprints, write a sealed bundle),
:mod:`~seedprints.bundle.verify` (check and recompute one) and :mod:`~seedprints.bundle.extract` (take the embedded
fingerprints out of a verified bundle). None of them is public API: the CLI's ``--bundle`` and ``verify`` are.

Layout (``bundle_format`` "1")::

    {"bundle_format": "1", "kind": "compare", "created_at": ..., "command": "seedprints compare ...",
     "environment": {"seedprints": ..., "python": ..., "numpy": ..., "scipy": ..., "torch": ..., "transformers": ...},
     "machine": {"architecture": ..., "cpu": ..., "cpus": ..., "blas": ..., "threads": ...},
     "fingerprints": {NAME: {"encoding": "fingerprint" | "ranks", "sha256": ..., "size": ..., "data_base64": ...,
                             "source": ..., "model_files": {relative path: sha256} | null,
                             "probe_hash": ..., "probe_spec": ..., "model_id": ..., "n": ..., "hidden_size": ...}},
     "tests": [{"reference": NAME, "suspect": NAME, "method": ..., "alpha": ..., "settings": {...}, "result": {...}}],
     "identification": {"tested": M, "alpha": ..., "level": ..., "sequential": false,          (identify only)
                        "candidates": [{"test": INDEX, "log10_p_holm": ..., "log10_p_bh": ..., "verdict": ...,
                                        "bh_verdict": ...}]},
     "seal": {"algorithm": "sha256 of canonical JSON", "digest": ...},
     "signature": {"algorithm": "ed25519", "public_key": ..., "key_id": ..., "value": ...}}     (with --sign only)

The seal and the signature both cover the canonical JSON of everything but themselves. A signature
(:mod:`seedprints.signing`) says who vouches for the bundle; ``verify --public-key`` demands one.

An identify bundle embeds its listed candidates only, ranked by evidence, and the number ``M`` of
entries the scan tested. From those, Holm's adjusted p-values are recomputed exactly and
Benjamini-Hochberg's are checked against bounds that are exact when every tested entry is listed
(:func:`seedprints.stats.multiple.adjusted_from_smallest`); ``M`` itself is taken on trust.

Floats are recomputed and must agree within a relative tolerance of 1e-9 (absolute 1e-12 near 0):
BLAS kernels sum in another order on another CPU or with another thread count, and identify's scan
sums many entries at once where verify takes one pair, so the last digits may differ even on the
machine that wrote the bundle. :meth:`~seedprints.bundle.verify.VerifyResult.agreement` says whether they did and which of
the recorded machine facts differ here. Verdicts, counts and names must agree exactly.
"""
