"""The built-in demo: small models of known lineage, trained on CPU from text that ships with Python.

Two Llama-style models are initialised from different seeds and pretrained on the same prose in
the same order (the hardest case for a lineage test: same data, different init); the seed-1 model
is then fine-tuned on code, and the fine-tune is int8-quantised and, separately, has its hidden
dimensions relabelled (a copy the paper's test cannot see). Like many real LLMs, the models
have 256 embedding rows past their tokenizer (a padded vocabulary). Every model is fingerprinted
once per kind of probes and every known pair is tested with each method, side by side.

The models are a quarter of the zoo's CPU shape (d=128, 2 layers, a 2048-token tokenizer) so that
the whole demo takes about two minutes on two idle cores (``bench/bench_demo.py`` measures it);
the zoo (``seedprints zoo``) is where error rates are measured.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Callable

from seedprints.errors import OutputPathError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.probes import generated
from seedprints.stats.result import LineageResult
from seedprints.zoo.saved_models import load_saved, save_model
from seedprints.zoo.specs import ArchSpec
from seedprints.zoo.tokenizer import build_tokenizer


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo: at most three minutes on two idle CPU cores with the defaults (``bench/bench_demo.py``). The
    demo verb repeats the first four as its flags' defaults, so that the CLI starts without importing this module
    (tests/test_demo.py holds them equal)."""

    pretrain_steps: int = 200
    finetune_steps: int = 60
    n: int = 1000
    length: int = 64
    seeds: tuple[int, int] = (1, 2)
    methods: tuple[str, ...] = ("lineage", "paper")
    alpha: float = 0.01


@dataclasses.dataclass(frozen=True)
class DemoPair:
    """One tested pair with its ground truth and each method's result."""

    reference: str
    suspect: str
    truth: str
    relation: str
    results: dict[str, LineageResult]

    def correct(self, method: str) -> bool:
        """Whether ``method``'s verdict matches the ground truth."""
        return self.results[method].verdict == self.truth

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "suspect": self.suspect, "truth": self.truth, "relation": self.relation,
                "results": {name: {**r.to_dict(), "correct": self.correct(name)} for name, r in self.results.items()}}


DEMO_TOKENIZER_VOCAB = 2048  # tokens of the demo's byte-level BPE tokenizer
DEMO_PADDING = 256  # embedding rows past the tokenizer


def demo_arch() -> Any:
    """A small Llama (d=128, 2 layers, 2 heads, MLP 344) whose embedding has :data:`DEMO_PADDING` rows past the tokenizer."""

    return ArchSpec(family="llama", hidden_size=128, num_layers=2, num_heads=2, intermediate_size=344,
                    vocab_size=DEMO_TOKENIZER_VOCAB + DEMO_PADDING, max_position=256)


def build_models(
    settings: DemoSettings, out_dir: Path | None, progress: bool, say: Callable[[str], None]
) -> tuple[dict[str, Any], int | None]:
    """Train the demo's models (or load them from ``out_dir`` when a previous run saved them); also the tokenizer's length."""
    from seedprints.model.tokenizer import tokenizer_length
    from seedprints.zoo import derive, train
    from seedprints.zoo.specs import TrainSpec

    say("building a byte-level BPE tokenizer on standard-library text ...")
    tokenizer = build_tokenizer(DEMO_TOKENIZER_VOCAB)
    arch = demo_arch()
    pretrain = TrainSpec(domain="prose", steps=settings.pretrain_steps, data_seed=0)
    finetune = TrainSpec(domain="code", steps=settings.finetune_steps, lr=3e-4, warmup=5, data_seed=1)
    first, second = settings.seeds
    models: dict[str, Any] = {}

    def stage(name: str, verb: str, make: Callable[[], Any]) -> None:
        saved = out_dir / name if out_dir else None
        if saved is not None and (saved / "config.json").is_file():
            say(f"{name}: found in {saved}, reusing it")
            models[name] = saved
            return
        say(f"{name}: {verb} ...")
        model = make()
        models[name] = save_model(model, tokenizer, saved) if saved is not None else model

    def in_memory(name: str) -> Any:
        value = models[name]
        return load_saved(value) if isinstance(value, Path) else value

    def trained(parent: Any, spec: Any) -> Any:
        return train.train(copy.deepcopy(parent), tokenizer, spec, progress=progress)

    stage(f"init-seed{first}", "initialising", lambda: train.init_model(arch, first))
    stage(f"init-seed{second}", "initialising", lambda: train.init_model(arch, second))
    stage(f"base-seed{first}", "pretraining on prose", lambda: trained(in_memory(f"init-seed{first}"), pretrain))
    stage(f"base-seed{second}", "pretraining on prose", lambda: trained(in_memory(f"init-seed{second}"), pretrain))
    stage(f"finetune-of-seed{first}", "fine-tuning on code", lambda: trained(in_memory(f"base-seed{first}"), finetune))
    stage(f"int8-finetune-of-seed{first}", "int8 round-trip", lambda: derive.quantize_roundtrip(in_memory(f"finetune-of-seed{first}"), 8))
    stage(f"permuted-finetune-of-seed{first}", "relabelling hidden dimensions",
          lambda: derive.permute_hidden(in_memory(f"finetune-of-seed{first}"), seed=first))
    return models, tokenizer_length(tokenizer)


def demo_pairs(settings: DemoSettings) -> list[tuple[str, str, str, str]]:
    """(reference, suspect, truth, relation) of every pair the demo tests."""
    a, b = settings.seeds
    return [
        (f"base-seed{a}", f"finetune-of-seed{a}", "same-lineage", "fine-tuned on code"),
        (f"base-seed{a}", f"int8-finetune-of-seed{a}", "same-lineage", "fine-tuned, then int8"),
        (f"base-seed{a}", f"permuted-finetune-of-seed{a}", "same-lineage", "fine-tuned, then hidden dimensions permuted"),
        (f"init-seed{a}", f"base-seed{a}", "same-lineage", f"init -> {settings.pretrain_steps} pretraining steps"),
        (f"base-seed{a}", f"base-seed{b}", "independent", "other seed, same data and order"),
        (f"finetune-of-seed{a}", f"base-seed{b}", "independent", "other seed"),
        (f"init-seed{a}", f"init-seed{b}", "independent", "two random inits"),
    ]


def run_demo(
    settings: DemoSettings, *, out_dir: Path | None = None, progress: bool = False, say: Callable[[str], None] = lambda s: None
) -> list[DemoPair]:
    """Build (or reuse) the models, fingerprint each once per kind of probes, and test every demo pair.

    Each method reads its own probes (:data:`seedprints.stats.methods.METHOD_PROBES`): the paper's
    uniform token probes, and the untrained-token probes of the models' vocabulary.
    """
    from seedprints import api
    from seedprints.stats.methods import METHOD_PROBES

    positions = demo_arch().max_position
    if settings.length > positions:
        raise UsageError(f"--length {settings.length} is longer than the demo models' {positions} positions; "
                         f"use --length {positions} or less")
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputPathError(f"--out {out_dir} is a file; give a folder for the demo's models and fingerprints")
        if not out_dir.parent.is_dir():
            raise OutputPathError(f"cannot use --out {out_dir}: folder {out_dir.parent} does not exist; create it first")
        out_dir.mkdir(exist_ok=True)
    models, tokenizer_length = build_models(settings, out_dir, progress, say)
    arch = demo_arch()
    kinds = sorted({METHOD_PROBES[m] for m in settings.methods})
    fingerprints: dict[str, dict[str, Fingerprint]] = {}
    for kind in kinds:
        options = api.ProbeOptions(kind=kind, n=settings.n, length=settings.length)
        spec = options.spec_for([arch.vocab_size], arch.hidden_size, tokenizer_length)
        say(f"fingerprinting {len(models)} models on {settings.n} {kind} probes of length {settings.length} ...")
        fingerprints[kind] = {}
        for name, model in models.items():
            if getattr(model, "config", None) is not None:
                model.config._name_or_path = name  # the model's id in its fingerprint and on the progress line
            fp = api.fingerprint_model(model, generated(spec), progress=progress)
            fingerprints[kind][name] = fp
            if out_dir is not None:
                fp.save(out_dir / f"{name}.{kind}.fp.safetensors")
    pairs = []
    for ref, suspect, truth, relation in demo_pairs(settings):
        results = {}
        for method in settings.methods:
            fps = fingerprints[METHOD_PROBES[method]]
            results[method] = api.compare(fps[ref], fps[suspect], method=method, alpha=settings.alpha)
        pairs.append(DemoPair(ref, suspect, truth, relation, results))
    return pairs
