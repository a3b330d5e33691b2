"""A zoo of small language models of known lineage, and the harness that scores lineage tests on it.

The zoo is a leaf of the package: no core module imports it (only :mod:`seedprints.demo` and the
``seedprints zoo`` commands do), and it takes from the core only the names in :data:`CORE_NAMES`,
as ``tests/zoo/test_imports.py`` checks. Reading a model goes through
:mod:`seedprints.zoo.model_access` alone, so a move of the core's model code changes one import.

Building a zoo
    :mod:`~seedprints.zoo.build` (plan and resumable build), :mod:`~seedprints.zoo.zoo_config`
    (what a config holds, checked from JSON), :mod:`~seedprints.zoo.configs` (built-in configs),
    :mod:`~seedprints.zoo.manifest` (each model's lineage record), :mod:`~seedprints.zoo.corpora` and :mod:`~seedprints.zoo.tokenizer` (offline text),
    :mod:`~seedprints.zoo.specs` (architecture and training settings),
    :mod:`~seedprints.zoo.batches` (what a run sees), :mod:`~seedprints.zoo.train` (the training
    loops), :mod:`~seedprints.zoo.saved_models` (model directories), :mod:`~seedprints.zoo.derive`
    (weight edits by name: :mod:`~seedprints.zoo.perturb`, :mod:`~seedprints.zoo.permute`,
    :mod:`~seedprints.zoo.merge`, checked by :mod:`~seedprints.zoo.edit_checks`).
Evaluating on it
    :mod:`~seedprints.zoo.evaluate` (every pair, every method), :mod:`~seedprints.zoo.truth`
    (ground truth of a pair), :mod:`~seedprints.zoo.fingerprinting` (cached fingerprints),
    :mod:`~seedprints.zoo.metrics` (rates and tallies), :mod:`~seedprints.zoo.results` (what was
    measured), :mod:`~seedprints.zoo.summary` and :mod:`~seedprints.zoo.plots` (the results page),
    :mod:`~seedprints.zoo.identify_eval` (registry identification), :mod:`~seedprints.zoo.seedcurve`
    (init-seed identification, its page in :mod:`~seedprints.zoo.seedcurve_report`),
    :mod:`~seedprints.zoo.outdir` (results folders).
"""

CORE_NAMES: tuple[str, ...] = (
    # the public API
    "seedprints.LineageResult",
    "seedprints.Registry",
    "seedprints.api",
    "seedprints.identify",
    # the errors the zoo raises and reports
    "seedprints.errors.FingerprintFormatError",
    "seedprints.errors.LowPowerWarning",
    "seedprints.errors.OutputPathError",
    "seedprints.errors.SeedprintsError",
    "seedprints.errors.UsageError",
    "seedprints.errors.ZooConfigError",
    "seedprints.errors.compact_message",
    # reading models (through seedprints.zoo.model_access only)
    "seedprints.model.fit.read_model_shape",
    "seedprints.model.hf.quiet_transformers",
    # fingerprints, probes and their files
    "seedprints.encoding.RankedFingerprint",
    "seedprints.encoding.decode",
    "seedprints.encoding.encode",
    "seedprints.encoding.rank_fingerprint",
    "seedprints.fingerprint",
    "seedprints.fingerprint.Fingerprint",
    "seedprints.output_paths.check_output_path",
    "seedprints.output_paths.write_atomic",
    "seedprints.probes.ProbeSpec",
    "seedprints.seeds",
    # the settings of a run
    "seedprints.options.ProbeOptions",
    "seedprints.options.RunOptions",
    # the tests the zoo scores
    "seedprints.stats.lineage.lineage_test_ranked",
    "seedprints.stats.methods.METHODS",
    "seedprints.stats.methods.METHOD_PROBES",
    "seedprints.stats.result.plain_json",
    # inputs, outputs and progress
    "seedprints.inputs.load_json",
    "seedprints.inputs.special_file",
    "seedprints.progress.progress_bar",
    "seedprints.reports.terminal.format_p",
    "seedprints.tempfiles",
)
"""Every core name a zoo module imports: ``seedprints.module.name`` for ``from seedprints.module import name``,
``seedprints.module`` for a whole module."""
