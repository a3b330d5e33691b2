"""Issue 26: can a lineage check see through a hidden-dimension permutation (or rotation) with its false positives bounded?

Research script, not product code. It reads a zoo built by ``seedprints zoo build`` (default: the CPU llama zoo of
``docs/zoo-cpu-llama.json``) and measures, per regime, on the *weights* of every pair:

* false positives on every independent pair of the regime (the three lineages' models against each other, same-data
  seeds included), with a Clopper-Pearson 95% upper bound, at alpha 0.01 for each candidate part alone, and for the
  default test with the part added as a third Bonferroni part (its hidden and vocab parts read from the zoo's cached
  fingerprints, on the default probes and on uniform token probes, the latter standing for a model without padded
  rows);
* detection of derivatives the attack makes: the zoo's permuted copy, a permuted copy then fine-tuned (the zoo's
  fine-tune recipe run on the permuted copy) and then continually trained (the zoo's continual recipe), a rotated copy
  (norm weights folded into the next linear layers, the residual stream multiplied by a random orthogonal matrix, as
  rotation-based quantizers do), the rotated copy rounded to int8, a copy with hidden dimensions *and* MLP
  neurons relabelled, and one with every unit the units parts read relabelled too (value channels within heads).
  Each is compared with its lineage's pretrained model and its init.

With ``--same-data-pairs N``, it also trains N disjoint pairs of small models (tied, then untied), each pair its own
two seeds on the same data in the same order: independent pairs whose false-positive count has a meaningful binomial
bound, unlike the zoo's, which share three lineages per regime. They read only a tokenizer: a zoo model's, or, with
``--tokenizer DIR`` (no zoo needed), the one ``seedprints zoo build`` trains for ``docs/zoo-cpu-llama.json``, saved in
DIR the first time.

Only the tokenizer's rows of the embedding matrix are read (never the padded rows past it), so every measurement
stands for a model without padded rows.

Candidate parts (all on weights):

``emb-agree``
    Independence Tests for Language Models' unconstrained idea, on embeddings: match hidden dimensions twice, on the
    even and on the odd token rows of the input embedding (linear assignment on column correlations), and count the
    dimensions the two matchings agree on. Null: the agreements of two unrelated matchings, Poisson(1).
``emb-split``
    Match on the even token rows, test on the odd ones: the sum of the matched columns' correlations on the odd rows,
    standardised by its exact mean and variance over uniform relabellings (Hoeffding), as the hidden part does.
``units-perm``
    Match hidden dimensions on the input embedding (all tokenizer rows), then compare every MLP neuron of every layer
    (its gate row, up row and down column, in the reference's hidden coordinates) and every value/output channel of
    every attention head with the suspect's neuron/channel *of the same index*: T = sum of their cosines. Null: the
    suspect's MLP neuron labels (per layer) and its value channels' labels (per head) are exchangeable under H0 (the
    init draws them i.i.d. and training commutes with relabelling them), and the matching reads none of them, so T is
    distributed like the sum along uniform relabellings of those units: exact mean and variance (Hoeffding), normal
    tail. The matching may find any shared function it likes; it cannot move this null.
``units-orth``
    The same, with an orthogonal map fitted to the embeddings (Procrustes) instead of a permutation: a permutation is
    one, and so is a rotation of the residual stream.
``units-file`` (same-data pairs only)
    The product's units part on what a fingerprint file keeps: :func:`seedprints.stats.units.units_test` on both
    models' :func:`seedprints.stats.units.weight_sketch` cut to :data:`seedprints.stats.units.FILE_SKETCH` (the first
    2d tokenizer rows, 32 MLP neurons and 2 heads' value channels per layer), as ``seedprints fingerprint
    --weight-sketch`` records them (``seedprints.model.weights.file_sketch``; a file stores them as float32, so
    nothing is lost on the way). It checks that the null holds on a prefix, not only on the whole weights.

Run (about an hour on one busy core; the trained derivatives are cached under --work), then print the summary of the
saved numbers again without recomputing them:

    OMP_NUM_THREADS=1 .venv/bin/python bench/permutation_research.py --zoo /work/zoo-cpu-llama --json run.json
    OMP_NUM_THREADS=1 .venv/bin/python bench/permutation_research.py --regimes "" --same-data-pairs 100 --json pairs.json
    OMP_NUM_THREADS=1 .venv/bin/python bench/permutation_research.py --regimes "" --tokenizer /tmp/zoo-tokenizer \
        --pair-kinds tied --first-pair 100 --same-data-pairs 100 --json tied-100.json
    .venv/bin/python bench/permutation_research.py --from-json run.json pairs.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import beta, poisson

from seedprints.stats import units as product_units
from seedprints.stats.moments import log10_upper_tail, permutation_moments
from seedprints.zoo.manifest import scan_zoo
from seedprints.zoo.truth import INDEP, classify_pair

ALPHA = 0.01
DESIGNS = ("emb-agree", "emb-split", "units-perm", "units-orth")
DEFAULT_SPEC = "5781ba1f315d8bc3"  # the zoo's fingerprints on the default (untrained) probes
TOKEN_SPEC = "ab633f1dfb3f3a7f"  # on uniform token probes: no vocab part, as for a model without padded rows
FINETUNE = dict(domain="topics", steps=40, batch_size=16, seq_len=128, lr=0.0003, warmup=5, data_seed=2)
CONTINUAL = dict(domain="code", steps=60, batch_size=16, seq_len=128, lr=0.0005, warmup=5, data_seed=1)


# --------------------------------------------------------------------------------------------- weights

def load_weights(path: Path) -> dict[str, np.ndarray]:
    from safetensors.torch import load_file

    return {k: v.float().numpy() for k, v in load_file(str(path)).items()}


def tokenizer_length(model_dir: Path) -> int:
    tok = json.loads((model_dir / "tokenizer.json").read_text())
    ids = list(tok["model"]["vocab"].values()) + [t["id"] for t in tok.get("added_tokens", [])]
    return max(ids) + 1


def n_layers(w: dict[str, np.ndarray]) -> int:
    return 1 + max(int(k.split(".")[2]) for k in w if k.startswith("model.layers."))


class View:
    """What the parts read of one model: embedding rows of the tokenizer, MLP neurons and value channels as unit vectors."""

    def __init__(self, w: dict[str, np.ndarray], tok_len: int, head_dim: int):
        self.emb = w["model.embed_tokens.weight"][:tok_len].astype(np.float64)
        self.d = self.emb.shape[1]
        self.mlp, self.vo = [], []
        for layer in range(n_layers(w)):
            p = f"model.layers.{layer}."
            units = np.concatenate([w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"],
                                    w[p + "mlp.down_proj.weight"].T], axis=1)
            self.mlp.append(_unit_rows(units))
            v, o = w[p + "self_attn.v_proj.weight"], w[p + "self_attn.o_proj.weight"]
            if v.shape[0] == o.shape[1]:  # one value channel per output channel (no grouped KV)
                self.vo.append(_unit_rows(np.concatenate([v, o.T], axis=1)))
        self.head_dim = head_dim


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)


def _std_cols(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    return x / np.maximum(np.linalg.norm(x, axis=0), 1e-30)


# --------------------------------------------------------------------------------------------- derivatives

def permute_state(w: dict[str, np.ndarray], perm: np.ndarray) -> dict[str, np.ndarray]:
    """Hidden-dimension relabelling of a llama state dict (h_new[..., i] = h_old[..., perm[i]])."""
    out = {}
    for k, v in w.items():
        if k.endswith(("embed_tokens.weight", "q_proj.weight", "k_proj.weight", "v_proj.weight", "gate_proj.weight",
                       "up_proj.weight", "lm_head.weight")):
            out[k] = v[:, perm]
        elif k.endswith(("o_proj.weight", "down_proj.weight")) or k.endswith("norm.weight"):
            out[k] = v[perm]
        else:
            raise SystemExit(f"permute_state: no rule for {k}")
    return out


def permute_neurons(w: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    out = dict(w)
    rng = np.random.default_rng(seed)
    for layer in range(n_layers(w)):
        p = f"model.layers.{layer}.mlp."
        perm = rng.permutation(w[p + "gate_proj.weight"].shape[0])
        out[p + "gate_proj.weight"] = w[p + "gate_proj.weight"][perm]
        out[p + "up_proj.weight"] = w[p + "up_proj.weight"][perm]
        out[p + "down_proj.weight"] = w[p + "down_proj.weight"][:, perm]
    return out


def permute_value_channels(w: dict[str, np.ndarray], head_dim: int, seed: int) -> dict[str, np.ndarray]:
    """Relabel the value channels inside every attention head (rows of v_proj, columns of o_proj): the function stays."""
    out = dict(w)
    rng = np.random.default_rng(seed)
    for layer in range(n_layers(w)):
        p = f"model.layers.{layer}.self_attn."
        n = w[p + "v_proj.weight"].shape[0]
        perm = np.concatenate([h + rng.permutation(head_dim) for h in range(0, n, head_dim)])
        out[p + "v_proj.weight"] = w[p + "v_proj.weight"][perm]
        out[p + "o_proj.weight"] = w[p + "o_proj.weight"][:, perm]
    return out


def rotate_state(w: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Fold every RMSNorm weight into the linear layers that read it, then rotate the residual stream by a random Q.

    RMSNorm with unit weight commutes with an orthogonal map, so the logits do not change (QuaRot's construction; the
    result is untied, as there).
    """
    w = {k: v.astype(np.float64) for k, v in w.items()}
    d = w["model.embed_tokens.weight"].shape[1]
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    q = q * np.sign(np.diag(r))
    lm = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    out = {"model.embed_tokens.weight": w["model.embed_tokens.weight"] @ q,
           "lm_head.weight": (lm * w["model.norm.weight"][None, :]) @ q, "model.norm.weight": np.ones(d)}
    for layer in range(n_layers(w)):
        p = f"model.layers.{layer}."
        for norm, readers in (("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
                              ("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"))):
            g = w[p + norm + ".weight"]
            for name in readers:
                out[p + name + ".weight"] = (w[p + name + ".weight"] * g[None, :]) @ q
            out[p + norm + ".weight"] = np.ones(d)
        for name in ("self_attn.o_proj", "mlp.down_proj"):
            out[p + name + ".weight"] = q.T @ w[p + name + ".weight"]
    return {k: v.astype(np.float32) for k, v in out.items()}


def int8_state(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Symmetric per-row absmax int8 round trip of every matrix."""
    out = {}
    for k, v in w.items():
        if v.ndim == 2:
            scale = np.maximum(np.abs(v).max(axis=1, keepdims=True), 1e-30) / 127.0
            out[k] = (np.round(v / scale) * scale).astype(np.float32)
        else:
            out[k] = v
    return out


def trained_permuted(model_dir: Path, cache: Path, recipes: list[dict]) -> dict[str, np.ndarray]:
    """The zoo's permuted copy trained further with ``recipes`` in turn (cached as safetensors)."""
    if cache.is_file():
        return load_weights(cache)
    import torch
    from safetensors.torch import save_file
    from transformers import PreTrainedTokenizerFast

    from seedprints.zoo.saved_models import load_saved
    from seedprints.zoo.specs import TrainSpec
    from seedprints.zoo.train import train

    torch.manual_seed(0)
    model = load_saved(model_dir)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(model_dir))
    for recipe in recipes:
        train(model, tokenizer, TrainSpec(**recipe))
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    cache.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(cache))
    return {k: v.float().numpy() for k, v in state.items()}


# --------------------------------------------------------------------------------------------- parts

def _assignment(c: np.ndarray) -> np.ndarray:
    return linear_sum_assignment(-c)[1]


def emb_agree(a: View, b: View) -> dict:
    even, odd = slice(0, None, 2), slice(1, None, 2)
    p1 = _assignment(_std_cols(a.emb[even]).T @ _std_cols(b.emb[even]))
    p2 = _assignment(_std_cols(a.emb[odd]).T @ _std_cols(b.emb[odd]))
    agree = int(np.count_nonzero(p1 == p2))
    return {"statistic": agree, "log10_p": float(poisson.logsf(agree - 1, 1.0) / math.log(10))}


def emb_split(a: View, b: View) -> dict:
    even, odd = slice(0, None, 2), slice(1, None, 2)
    p1 = _assignment(_std_cols(a.emb[even]).T @ _std_cols(b.emb[even]))
    c2 = _std_cols(a.emb[odd]).T @ _std_cols(b.emb[odd])
    stat = float(c2[np.arange(a.d), p1].sum())
    mean, var = permutation_moments(c2)
    z = (stat - mean) / math.sqrt(var)
    return {"statistic": stat, "z": z, "log10_p": log10_upper_tail(z)}


def alignment(a: View, b: View, kind: str) -> tuple[np.ndarray, float]:
    """``M`` with ``b_units_segment @ M`` in the reference's hidden coordinates, and the fit (mean matched correlation)."""
    if kind == "perm":
        c = _std_cols(a.emb).T @ _std_cols(b.emb)
        perm = _assignment(c)
        m = np.zeros((a.d, a.d))
        m[perm, np.arange(a.d)] = 1.0
        return m, float(c[np.arange(a.d), perm].mean())
    ea, eb = a.emb - a.emb.mean(axis=0), b.emb - b.emb.mean(axis=0)
    u, _, vt = np.linalg.svd(ea.T @ eb)
    r = u @ vt  # eb ~ ea @ r
    fit = float(np.sum((ea @ r) * eb) / (np.linalg.norm(ea) * np.linalg.norm(eb)))
    return r.T, fit


def _aligned(units: np.ndarray, m: np.ndarray, d: int) -> np.ndarray:
    segs = [units[:, i * d:(i + 1) * d] @ m for i in range(units.shape[1] // d)]
    return np.concatenate(segs, axis=1).astype(np.float32)


def units_test(a: View, b: View, kind: str) -> dict:
    m, fit = alignment(a, b, kind)
    m32 = m.astype(np.float32)
    stat = mean = var = 0.0
    blocks = 0
    for ua, ub in zip(a.mlp, b.mlp):
        s = ua @ _aligned(ub, m32, a.d).T
        mu, v = permutation_moments(s.astype(np.float64))
        stat, mean, var, blocks = stat + float(np.trace(s)), mean + mu, var + v, blocks + 1
    for ua, ub in zip(a.vo, b.vo):
        s = ua @ _aligned(ub, m32, a.d).T
        for h in range(0, s.shape[0], a.head_dim):  # channels are exchangeable within a head
            blk = s[h:h + a.head_dim, h:h + a.head_dim].astype(np.float64)
            mu, v = permutation_moments(blk)
            stat, mean, var, blocks = stat + float(np.trace(blk)), mean + mu, var + v, blocks + 1
    z = (stat - mean) / math.sqrt(var)
    return {"statistic": stat, "z": z, "log10_p": log10_upper_tail(z), "fit": fit}


def run_parts(a: View, b: View, designs: tuple[str, ...]) -> dict[str, dict]:
    out = {}
    for name in designs:
        if name == "emb-agree":
            out[name] = emb_agree(a, b)
        elif name == "emb-split":
            out[name] = emb_split(a, b)
        else:
            out[name] = units_test(a, b, name.split("-")[1])
    return out


# --------------------------------------------------------------------------------------------- existing parts

def existing_parts(fp_dir: Path, ref: str, sus: str, spec: str) -> list[float] | None:
    """log10 p of each part the default test ran on the zoo's cached fingerprints (hidden, and vocab when it ran)."""
    from seedprints import api

    files = [fp_dir / f"{name}-{spec}.safetensors" for name in (ref, sus)]
    if not all(f.is_file() for f in files):
        return None
    r = api.compare(api.load_fingerprint(files[0]), api.load_fingerprint(files[1]), n_permutations=0)
    return [r.details[k] for k in ("hidden_log10_p", "vocab_log10_p") if k in r.details]


def bonferroni(log10_ps: list[float]) -> float:
    return min(0.0, math.log10(len(log10_ps)) + min(log10_ps))


def upper95(k: int, n: int) -> float:
    return 1.0 if k == n else float(beta.ppf(0.95, k + 1, n - k))


# --------------------------------------------------------------------------------------------- disjoint same-data pairs

SMALL = dict(family="llama", hidden_size=64, num_layers=2, num_heads=4, intermediate_size=172, vocab_size=4352,
             max_position=128)
SMALL_PRETRAIN = dict(domain="prose", steps=60, batch_size=8, seq_len=64, lr=0.001, warmup=5, data_seed=0)


ZOO_CONFIG = Path(__file__).resolve().parents[1] / "docs" / "zoo-cpu-llama.json"


def zoo_tokenizer_dir(zoo_dir: Path) -> Path:
    """The first model directory of the zoo with a tokenizer."""
    return next(p for p in sorted(zoo_dir.iterdir()) if (p / "tokenizer.json").is_file())


def saved_zoo_tokenizer(out: Path, config: Path = ZOO_CONFIG) -> Path:
    """``out``, holding the tokenizer ``seedprints zoo build`` trains for ``config`` (trained and saved if absent).

    The build trains ``build_tokenizer(tokenizer_vocab)`` (deterministic, offline) and saves it with every model
    (``save_pretrained``); this is that tokenizer, saved the same way, without the zoo.
    """
    if not (out / "tokenizer.json").is_file():
        from seedprints.zoo.tokenizer import build_tokenizer

        out.mkdir(parents=True, exist_ok=True)
        build_tokenizer(json.loads(config.read_text())["tokenizer_vocab"]).save_pretrained(str(out))
    return out


def product_tokenizer_length(tokenizer: object) -> int | None:
    """The tokenizer's length as the product measures it for a loaded model (``LoadedModel.tokenizer_length``)."""
    from seedprints.model.tokenizer import tokenizer_length as measured

    return measured(tokenizer)


def file_weight_sketch(state: dict, head_dim: int, tok_len: int | None) -> product_units.WeightSketch:
    """The sketch ``seedprints fingerprint --weight-sketch`` records of a model with this state dict: the product's
    ``weight_sketch`` at ``FILE_SKETCH``, called as ``seedprints.model.weights.file_sketch`` calls it."""
    return product_units.weight_sketch(state, head_dim=head_dim, tokenizer_length=tok_len,
                                       size=product_units.FILE_SKETCH)


def file_units_test(ref: product_units.WeightSketch, suspect: product_units.WeightSketch) -> dict:
    """The product's units part on two file sketches, its numbers only (``assumed`` is a sentence, the same each time)."""
    result = product_units.units_test(ref, suspect)
    return {key: value for key, value in result.items() if key != "assumed"}


def same_data_pairs(model_dir: Path, pairs: int, tied: bool, first: int = 0) -> list[dict]:
    """``pairs`` pairs of small llama models, each pair its own two seeds, trained on the same prose in the same order.

    The zoo's independent pairs share lineages (three per regime), so their outcomes are far from independent; these
    pairs are, so a false-positive count on them has the binomial upper bound it is given. Each pair gets the two
    research parts on whole weights (``units-perm``, ``units-orth``) and the product's units part on the sketches two
    fingerprint files would carry (``units-file``). ``model_dir``: a directory with the tokenizer (``tokenizer.json``).
    """
    import torch
    from transformers import PreTrainedTokenizerFast

    from seedprints.zoo.specs import ArchSpec, TrainSpec
    from seedprints.zoo.train import init_model, train

    torch.set_num_threads(1)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(model_dir))
    tok_len = tokenizer_length(model_dir)
    file_tok_len = product_tokenizer_length(tokenizer)  # what a loaded model's sketch is cut to (LoadedModel's)
    if file_tok_len != tok_len:
        raise SystemExit(f"the product reads {file_tok_len} tokenizer rows where this script reads {tok_len}")
    arch = ArchSpec(**SMALL, tie_embeddings=tied)
    spec = TrainSpec(**SMALL_PRETRAIN)
    head_dim = SMALL["hidden_size"] // SMALL["num_heads"]
    rows = []
    for k in range(first, first + pairs):
        sketches, files = [], []
        for seed in (100_000 + 2 * k, 100_001 + 2 * k):
            model = train(init_model(arch, seed), tokenizer, spec)
            state = model.state_dict()
            w = {k2: v.detach().float().numpy() for k2, v in state.items()}
            sketches.append(View(w, tok_len, head_dim))
            files.append(file_weight_sketch(state, head_dim, file_tok_len))
        parts = {name: units_test(*sketches, name.split("-")[1]) for name in ("units-perm", "units-orth")}
        parts["units-file"] = file_units_test(*files)
        rows.append({"regime": f"small {'tied' if tied else 'untied'} same-data pairs", "truth": INDEP,
                     "category": "same data and order, other seed", "parts": parts})
    return rows


# --------------------------------------------------------------------------------------------- summary

def summarise(rows: list[dict]) -> None:
    """Per regime: false positives of each part alone and of the default test with it, z on independent pairs by
    category, and detection of each derivative (both references, every lineage)."""
    for regime in sorted({row["regime"] for row in rows}):
        indep = [r for r in rows if r["regime"] == regime and r["truth"] == INDEP]
        same = [r for r in rows if r["regime"] == regime and r["truth"] != INDEP]
        designs = list(indep[0]["parts"]) if indep else list(same[0]["parts"])
        print(f"\n## regime {regime}: {len(indep)} independent pairs, false positives at alpha {ALPHA}")
        print(f"{'part':<34} {'false positives':>16} {'rate':>7} {'95% upper':>10}")
        lines: dict[str, list[bool]] = defaultdict(list)
        zs: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in indep:
            for dsg, res in r["parts"].items():
                lines[f"{dsg} alone"].append(res["log10_p"] < math.log10(ALPHA))
                for parts in (2, 3):  # its share of alpha as one of the default test's Bonferroni parts
                    lines[f"{dsg} at alpha/{parts}"].append(math.log10(parts) + res["log10_p"] < math.log10(ALPHA))
                if "z" in res:
                    zs[(dsg, r["category"])].append(res["z"])
            for label in ("default probes", "token probes"):
                old = r.get(f"existing {label}")
                if old is None:
                    continue
                lines[f"{label}: existing parts"].append(bonferroni(old) < math.log10(ALPHA))
                for dsg, res in r["parts"].items():
                    lines[f"{label} + {dsg}"].append(bonferroni(old + [res["log10_p"]]) < math.log10(ALPHA))
        for label, flags in lines.items():
            k, n = sum(flags), len(flags)
            print(f"{label:<34} {f'{k}/{n}':>16} {k / n:7.3f} {upper95(k, n):10.3f}")
        for (dsg, cat), values in sorted(zs.items()):
            v = np.asarray(values)
            print(f"  z of {dsg} on '{cat}': n={v.size} mean {v.mean():.2f} sd {v.std():.2f} max {v.max():.2f}")
        if not same:
            continue
        print(f"detected (3 p < {ALPHA}: as a third Bonferroni part on its own), vs pretrained and vs init, every "
              "lineage; smallest z (emb-agree: fewest agreements)")
        print(f"{'derivative':<34} " + " ".join(f"{d:>18}" for d in designs))
        hits: dict[str, dict[str, list[tuple[bool, float]]]] = defaultdict(lambda: defaultdict(list))
        for r in same:
            label = r["suspect"].split(" ", 1)[1]
            for dsg, res in r["parts"].items():
                hit = math.log10(3) + res["log10_p"] < math.log10(ALPHA)
                hits[label][dsg].append((hit, res.get("z", float(res["statistic"]))))
        for label, by_design in hits.items():
            cells = []
            for dsg in designs:
                got = by_design[dsg]
                cells.append(f"{sum(h for h, _ in got)}/{len(got)} {min(z for _, z in got):7.1f}")
            print(f"{label:<34} " + " ".join(f"{c:>18}" for c in cells))
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, default=Path("/work/zoo-cpu-llama"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/seedprints-permutation-research"),
                    help="cache of the trained derivatives")
    ap.add_argument("--designs", default=",".join(DESIGNS))
    ap.add_argument("--regimes", default=None, help="comma-separated regimes (default: every regime of the zoo)")
    ap.add_argument("--no-existing", action="store_true", help="skip the default test's parts (cached fingerprints)")
    ap.add_argument("--json", type=Path, default=None, help="write every pair's numbers here")
    ap.add_argument("--from-json", type=Path, nargs="+", default=None,
                    help="print the summary of runs' --json files and stop")
    ap.add_argument("--same-data-pairs", type=int, default=0,
                    help="also train this many disjoint pairs of small models on the same data")
    ap.add_argument("--pair-kinds", default="untied,tied", help="which of those: untied, tied or both")
    ap.add_argument("--first-pair", type=int, default=0, help="index of the first pair (its seeds), to add pairs later")
    ap.add_argument("--tokenizer", type=Path, default=None,
                    help="for the same-data pairs: a directory with tokenizer.json instead of the zoo's, or where to "
                         "save the zoo build's tokenizer for docs/zoo-cpu-llama.json if it has none (no zoo needed)")
    args = ap.parse_args(argv)
    if args.from_json:
        summarise([row for path in args.from_json for row in json.loads(path.read_text())])
        return 0
    designs = tuple(args.designs.split(","))
    regimes = None if args.regimes is None else [r for r in args.regimes.split(",") if r]
    found, _ = scan_zoo(args.zoo) if regimes != [] or args.tokenizer is None else ([], [])
    entries = {e.name: e for _, e in found}
    dirs = {e.name: p for p, e in found}
    by_regime: dict[str, list[str]] = defaultdict(list)
    for name, e in entries.items():
        by_regime[e.regime].append(name)
    regimes = sorted(by_regime) if regimes is None else regimes
    memo: dict = {}
    rows = []
    t0 = time.time()
    for regime in regimes:
        names = sorted(by_regime[regime])
        config = json.loads((dirs[names[0]] / "config.json").read_text())
        head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
        tok_len = tokenizer_length(dirs[names[0]])
        views = {n: View(load_weights(dirs[n] / "model.safetensors"), tok_len, head_dim) for n in names}
        # independent pairs of the regime
        n_indep = 0
        for x, y in itertools.combinations(names, 2):
            truth = classify_pair(entries[x], entries[y], entries, _memo=memo)
            if truth.truth != INDEP:
                continue
            n_indep += 1
            parts = run_parts(views[truth.ref], views[truth.suspect], designs)
            row = {"regime": regime, "ref": truth.ref, "suspect": truth.suspect, "category": truth.category,
                   "truth": INDEP, "parts": parts}
            if not args.no_existing:
                for label, spec in (("default probes", DEFAULT_SPEC), ("token probes", TOKEN_SPEC)):
                    old = existing_parts(args.zoo / ".fingerprints", truth.ref, truth.suspect, spec)
                    if old is not None:
                        row[f"existing {label}"] = old
            rows.append(row)
        print(f"## regime {regime}: {n_indep} independent pairs done ({time.time() - t0:.0f} s); derivatives:")
        seeds = sorted({entries[n].init_seed for n in names if entries[n].stage == "pretrained"})
        for seed in seeds:
            base = f"llama-s{seed}"
            pretrained = load_weights(dirs[f"{base}-pretrained"] / "model.safetensors")
            d = pretrained["model.embed_tokens.weight"].shape[1]
            perm = np.random.default_rng(1000 + seed).permutation(d)
            work = args.work / regime
            derived = {
                "permute (zoo)": load_weights(dirs[f"{base}-permute"] / "model.safetensors"),
                "permute -> finetune": trained_permuted(dirs[f"{base}-permute"], work / f"{base}-pft.safetensors",
                                                        [FINETUNE]),
                "permute -> continual -> finetune": trained_permuted(
                    dirs[f"{base}-permute"], work / f"{base}-pcft.safetensors", [CONTINUAL, FINETUNE]),
                "finetune -> permute": permute_state(load_weights(dirs[f"{base}-finetune"] / "model.safetensors"), perm),
                "rotate": rotate_state(pretrained, seed),
                "rotate -> int8": int8_state(rotate_state(pretrained, seed)),
                "permute + permute-mlp": permute_neurons(permute_state(pretrained, perm), seed),
                "permute + every unit relabelled": permute_value_channels(
                    permute_neurons(permute_state(pretrained, perm), seed), head_dim, seed),
            }
            for label, w in derived.items():
                sv = View(w, tok_len, head_dim)
                for ref in ("pretrained", "init"):
                    parts = run_parts(views[f"{base}-{ref}"], sv, designs)
                    shown = " ".join(f"{k} z {v['z']:.1f}" for k, v in parts.items() if "z" in v)
                    print(f"  {base} {label} vs {ref}: {shown}")
                    rows.append({"regime": regime, "ref": f"{base}-{ref}", "suspect": f"{base} {label}",
                                 "truth": "same-lineage", "parts": parts})
        sys.stdout.flush()
    tok_dir = None
    if args.same_data_pairs:
        tok_dir = zoo_tokenizer_dir(args.zoo) if args.tokenizer is None else saved_zoo_tokenizer(args.tokenizer)
    for kind in args.pair_kinds.split(",") if args.same_data_pairs else ():
        rows += same_data_pairs(tok_dir, args.same_data_pairs, kind == "tied", args.first_pair)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))
    print(f"\n# summary ({time.time() - t0:.0f} s)")
    summarise(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
