"""Check the bases models claim: ``seedprints claims``.

:mod:`~seedprints.claims.cards` reads what a model says it is built on (model card front-matter, adapter config,
GGUF metadata); :mod:`~seedprints.claims.examine` fetches and fingerprints one model; :mod:`~seedprints.claims.running`
tests every claim against the registry with family-wise control; :mod:`~seedprints.claims.outcomes` words each
outcome; :mod:`~seedprints.claims.power` says what a non-rejection is worth; :mod:`~seedprints.claims.bundles`
writes the evidence; :mod:`~seedprints.claims.fleet` runs the models on Ray.
"""
