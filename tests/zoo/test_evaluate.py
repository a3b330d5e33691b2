"""Tests for seedprints.zoo.evaluate, truth and metrics: the zoo harness, on a tiny zoo built without training."""

from __future__ import annotations

import json
import math
import os
from itertools import combinations
from pathlib import Path

import pytest

from seedprints.errors import UsageError, ZooConfigError
from seedprints.options import ProbeOptions, RunOptions
from seedprints.stats.methods import METHODS
from seedprints.zoo import evaluate as ev
from seedprints.zoo import metrics
from seedprints.zoo import truth as pair_truth
from seedprints.zoo.fingerprinting import ZOO_PROBES
from seedprints.zoo.manifest import ModelEntry, lineage_id, write_manifest

from ..conftest import assert_close_results, assert_one_line_error, run

VOCAB = 100
PROBES = dict(probes=ProbeOptions(n=60, length=8, rare_tokens=12))


def _tokenizer():
    """A word-level tokenizer built offline (as tests/conftest.py does)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["the quick brown fox jumps over the lazy dog"],
                            trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def _llama(seed: int, hidden: int = 32):
    import torch
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=64, vocab_size=VOCAB, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(cfg).eval()


def _gpt2(seed: int):
    import torch
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=VOCAB, n_positions=64,
                                  bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(cfg).eval()


def _entry(name: str, family: str, seed: int, stage: str, label: str | None = None, parents=(), steps=0,
           lineages=None, params=None) -> ModelEntry:
    return ModelEntry(name=name, family=family, init_seed=seed, lineages=tuple(lineages or (lineage_id(family, seed),)),
                      stage=stage, label=label or stage, parents=tuple(parents), params=params or {}, steps=steps)


# name -> expected (ref, suspect, truth, category) for a selection of pairs
EXPECTED = {
    ("llama-s0-init", "llama-s0-pre"): ("llama-s0-init", "llama-s0-pre", "same-lineage", "init→pretrained"),
    ("llama-s0-init", "llama-s0-int8"): ("llama-s0-init", "llama-s0-int8", "same-lineage", "init→int8"),
    ("llama-s0-pre", "llama-s0-int8"): ("llama-s0-pre", "llama-s0-int8", "same-lineage", "int8"),
    ("llama-s0-noise", "llama-s0-pre"): ("llama-s0-pre", "llama-s0-noise", "same-lineage", "noise"),
    ("llama-s0-permute", "llama-s0-pre"): ("llama-s0-pre", "llama-s0-permute", "same-lineage", "permute"),
    ("llama-s0-int8", "llama-s0-noise"): ("llama-s0-int8", "llama-s0-noise", "same-lineage", "related (siblings)"),
    ("llama-blend", "llama-s0-pre"): ("llama-s0-pre", "llama-blend", "same-lineage", "blend"),
    ("llama-blend", "llama-s1-init"): ("llama-s1-init", "llama-blend", "same-lineage", "init→blend"),
    ("llama-s0-init", "llama-s1-init"): ("llama-s0-init", "llama-s1-init", "independent", "independent"),
    ("llama-s0-pre", "llama-s1-pre"): ("llama-s0-pre", "llama-s1-pre", "independent", pair_truth.SAME_DATA),
    ("llama-s0-pre", "llama-s2-distill"): ("llama-s2-distill", "llama-s0-pre", "independent", pair_truth.DISTILLED),
    ("gpt2-s0-init", "llama-s0-init"): ("gpt2-s0-init", "llama-s0-init", "independent", pair_truth.CROSS_FAMILY),
}


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory) -> Path:
    """11 tiny models of known lineage (one of another width), a broken config and a directory without manifest."""
    from seedprints.zoo import derive

    zoo = tmp_path_factory.mktemp("zoo")
    tok = _tokenizer()

    def save(model, entry: ModelEntry) -> None:
        model.save_pretrained(zoo / entry.name)
        tok.save_pretrained(zoo / entry.name)
        write_manifest(zoo / entry.name, entry)

    init0, init1 = _llama(0), _llama(1)
    pre0 = derive.add_weight_noise(init0, 0.05, seed=10)  # stands in for pretraining
    pre1 = derive.add_weight_noise(init1, 0.05, seed=11)
    save(init0, _entry("llama-s0-init", "llama", 0, "init"))
    save(init1, _entry("llama-s1-init", "llama", 1, "init"))
    save(pre0, _entry("llama-s0-pre", "llama", 0, "pretrained", parents=["llama-s0-init"], steps=100))
    save(pre1, _entry("llama-s1-pre", "llama", 1, "pretrained", parents=["llama-s1-init"], steps=100))
    for label, model in (("int8", derive.quantize_roundtrip(pre0, 8)),
                         ("noise", derive.add_weight_noise(pre0, 0.01, seed=3)),
                         ("permute", derive.permute_hidden(pre0, seed=4))):
        save(model, _entry(f"llama-s0-{label}", "llama", 0, "edit", label, parents=["llama-s0-pre"], steps=100))
    save(derive.average_models([pre0, pre1], [0.7, 0.3]),
         _entry("llama-blend", "llama", 0, "blend", parents=["llama-s0-pre", "llama-s1-pre"], steps=100,
                lineages=["llama-s0", "llama-s1"],
                params={"weight": 0.7, "weights": {"llama-s0-pre": 0.7, "llama-s1-pre": 0.3}}))
    save(derive.add_weight_noise(_llama(2), 0.05, seed=12),
         _entry("llama-s2-distill", "llama", 2, "distill", steps=50, params={"teacher": "llama-s0-pre"}))
    save(_gpt2(0), _entry("gpt2-s0-init", "gpt2", 0, "init"))
    save(_llama(3, hidden=48), _entry("llama-wide-s3-init", "llama", 3, "init"))
    # broken: a manifest but a config.json that is not JSON
    broken = zoo / "llama-broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    write_manifest(broken, _entry("llama-broken", "llama", 5, "init"))
    # a model directory without manifest
    stray = zoo / "stray-model"
    _llama(6).save_pretrained(stray)
    return zoo


@pytest.fixture(scope="module")
def evaluated(tiny_zoo, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    lines: list[str] = []
    report = ev.evaluate_zoo(tiny_zoo, out, alpha=0.01, **PROBES, say=lines.append)
    return report, out, lines


def _pair(report, a, b):
    return next(p for p in report.pairs if {p.ref, p.suspect} == {a, b})


def report_entry(report, name):
    """The sorted lineages of a model, as the report lists them."""
    return sorted(next(m for m in report.models if m["name"] == name)["lineages"])


class TestEvaluateZoo:
    def test_files_written(self, evaluated):
        report, out, _ = evaluated
        expected = {"results.json", "summary.md", "detection.png", "calibration.png", "roc.png", "init-curve.png",
                    "blend-curve.png"} | {f"heatmap-{method}.png" for method in METHODS}
        assert expected <= {p.name for p in out.iterdir()}
        assert {p.name for p in report.paths.values()} == expected
        assert all(p.stat().st_size > 0 for p in report.paths.values())
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    def test_results_json(self, evaluated):
        report, out, _ = evaluated
        text = (out / "results.json").read_text()
        data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in results.json"))
        assert data["settings"]["probe"] == {"kind": None, "n": 60, "length": 8, "seed": 42,
                                         "per_method": {"lineage": "untrained", "paper": "token"}}
        assert data["settings"]["methods"] == list(METHODS)  # all methods by default
        assert set(data["summaries"]) == set(METHODS)
        specs = {spec["probe_kind"]: spec for spec in data["settings"]["probe_specs"].values()}
        assert set(specs) == {"untrained", "token"} and specs["token"]["vocab_bound"] == VOCAB
        untrained = specs["untrained"]
        assert len(untrained["input_tokens"]) == len(untrained["output_tokens"]) == PROBES["probes"].rare_tokens
        assert min(untrained["input_tokens"] + untrained["output_tokens"]) == untrained["untrained_from"]
        assert len(data["pairs"]) == len(report.pairs)
        first = data["pairs"][0]
        assert {"ref", "suspect", "truth", "category", "results"} <= set(first)
        assert first["results"]["paper"]["method"] == "paper"
        assert data["skipped"] == {"different_width": 10}
        assert data == report.to_dict()

    def test_regimes(self, evaluated):
        report, out, _ = evaluated
        regimes = report.summaries["lineage"]["regimes"]
        assert [r["regime"] for r in regimes] == ["unseen-tail"]  # manifests without a regime: the default one
        assert regimes[0]["false_positive"] == report.summaries["lineage"]["false_positive"]
        row = next(r for r in regimes[0]["categories"] if r["category"] == "permute")
        assert row["median_vocab_z"] > 3 > row["median_hidden_z"]
        assert all(r["median_vocab_z"] is None for r in report.summaries["paper"]["regimes"][0]["categories"])
        assert "## Method `lineage` per training regime" in (out / "summary.md").read_text()

    def test_pair_count(self, evaluated):
        report, _, _ = evaluated
        names = [m["name"] for m in report.models]
        assert len(names) == 11
        widths = {m["name"]: m["hidden_size"] for m in report.models}
        equal = [p for p in combinations(names, 2) if widths[p[0]] == widths[p[1]]]
        assert len(report.pairs) == len(equal) == math.comb(11, 2) - 10
        assert len({frozenset((p.ref, p.suspect)) for p in report.pairs}) == len(report.pairs)

    def test_ground_truth(self, evaluated):
        report, _, _ = evaluated
        for (a, b), (ref, suspect, truth, category) in EXPECTED.items():
            pair = _pair(report, a, b)
            assert (pair.ref, pair.suspect, pair.truth, pair.category) == (ref, suspect, truth, category), (a, b)

    def test_copies_detected_in_paper_mode(self, evaluated):
        report, _, _ = evaluated
        for label in ("noise", "int8"):
            result = _pair(report, "llama-s0-pre", f"llama-s0-{label}").results["paper"]
            assert result.verdict == "same-lineage", (label, result)
            assert result.settings["buffer_k"] == 3  # the default: 10% of d = 32

    def test_failed(self, evaluated):
        report, _, _ = evaluated
        assert {f.name for f in report.failed} == {"llama-broken", "stray-model"}
        assert all(f.message and "\n" not in f.message for f in report.failed)
        summary = (Path(report.paths["summary"])).read_text()
        assert "llama-broken" in summary and "stray-model" in summary

    def test_summary_page(self, evaluated):
        report, out, _ = evaluated
        text = (out / "summary.md").read_text()
        assert f"Produced by `seedprints zoo eval {report.settings['zoo_dir']} --out {out}" in text
        for needle in ("init→int8", pair_truth.SAME_DATA, "p ~ 1e-26", "p in 0.1 .. 0.9", "ROC AUC", "![roc](roc.png)"):
            assert needle in text, needle

    def test_summaries(self, evaluated):
        report, _, _ = evaluated
        summary = report.summaries["paper"]
        cats = {row["category"]: row for row in summary["categories"]}
        assert cats["int8"]["truth"] == "same-lineage" and cats["int8"]["pairs"] == 1
        assert cats[pair_truth.CROSS_FAMILY]["truth"] == "independent"
        fp = summary["false_positive"]
        assert fp["pairs"] == sum(1 for p in report.pairs if p.truth == "independent")
        assert fp["ci"][0] <= (fp["rate"] or 0) <= fp["ci"][1]
        groups = {frozenset({tuple(report_entry(report, p.ref)), tuple(report_entry(report, p.suspect))})
                  for p in report.pairs if p.truth == "independent"}
        assert summary["false_positive_lineage_pairs"]["pairs"] == len(groups) < fp["pairs"]
        assert summary["auc"] is not None and 0 <= summary["auc"] <= 1
        assert [p["steps"] for p in summary["init_curve"]] == sorted(p["steps"] for p in summary["init_curve"])
        weights = {(p["ref"], round(p["weight"], 6)) for p in summary["blend_curve"]}
        assert {("llama-s0-pre", 0.7), ("llama-s1-pre", 0.3), ("llama-s0-init", 0.7)} <= weights

    def test_rerun_uses_cache(self, evaluated, tiny_zoo, tmp_path, monkeypatch):
        from seedprints import api

        calls: list[str] = []
        real = api.fingerprint_model

        def counting(model, *args, **kwargs):
            calls.append(Path(model).name)
            return real(model, *args, **kwargs)

        monkeypatch.setattr(api, "fingerprint_model", counting)
        report = ev.evaluate_zoo(tiny_zoo, tmp_path / "again", **PROBES)
        assert calls == []
        assert all(m["cached"] for m in report.models)
        first, _, _ = evaluated
        assert_close_results([p.results["paper"].z for p in report.pairs], [p.results["paper"].z for p in first.pairs])
        # new weights invalidate that model's cached fingerprint
        weights = tiny_zoo / "llama-s0-noise" / "model.safetensors"
        later = os.stat(weights).st_mtime_ns + 10**9 * 3600
        os.utime(weights, ns=(later, later))
        ev.evaluate_zoo(tiny_zoo, tmp_path / "third", **PROBES)
        assert calls == ["llama-s0-noise"] * 2  # once per kind of probes (untrained for lineage, token for paper)

    def test_pair_testing_reports_progress(self, evaluated, tiny_zoo, tmp_path, monkeypatch, capsys):
        monkeypatch.setattr("seedprints.progress.PLAIN_EVERY_S", 0.0)  # a line on every advance
        report = ev.evaluate_zoo(tiny_zoo, tmp_path / "again", **PROBES, run=RunOptions(progress=True))
        names = len(report.models)
        lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("testing pairs: ")]
        total = names * (names - 1) // 2
        assert lines and lines[-1].startswith(f"testing pairs: {total}/{total} (100%)")

    def test_bad_arguments(self, tiny_zoo, tmp_path):
        with pytest.raises(UsageError, match="unknown method"):
            ev.evaluate_zoo(tiny_zoo, tmp_path, methods=["nope"], **PROBES)
        with pytest.raises(UsageError, match="alpha"):
            ev.evaluate_zoo(tiny_zoo, tmp_path, alpha=1.5, **PROBES)
        with pytest.raises(ZooConfigError):
            ev.evaluate_zoo(tmp_path / "missing", tmp_path / "out", **PROBES)
        with pytest.raises(UsageError, match="must be positive"):
            ev.evaluate_zoo(tiny_zoo, tmp_path, **PROBES, run=RunOptions(batch_size=0))
        with pytest.raises(UsageError, match="drop probe_file"):
            ev.evaluate_zoo(tiny_zoo, tmp_path / "out", probes=ProbeOptions(probe_file="probes.json"))

    def test_cli_defaults(self):
        """The zoo verbs' --n and --length default to ZOO_PROBES's (which the CLI does not import at start-up), their
        --probe-seed, --device and --batch-size to what they are on fingerprint."""
        import inspect

        from seedprints.cli import fingerprint
        from seedprints.cli import zoo as cli_zoo

        shared = inspect.signature(fingerprint.fingerprint).parameters
        for verb in (cli_zoo.evaluate, cli_zoo.seeds, cli_zoo.identify):
            own = inspect.signature(verb).parameters
            assert (own["n"].default, own["length"].default) == (ZOO_PROBES.n, ZOO_PROBES.length)
            assert {k: own[k].default for k in ("probe_seed", "device", "batch_size")} == {
                k: shared[k].default for k in ("probe_seed", "device", "batch_size")}


class TestClassifyPair:
    def test_siblings_orientation_by_steps_then_name(self):
        a = _entry("b-model", "llama", 0, "finetune", parents=["x"], steps=5)
        b = _entry("a-model", "llama", 0, "finetune", parents=["y"], steps=5)
        truth = pair_truth.classify_pair(a, b, {"b-model": a, "a-model": b})
        assert (truth.ref, truth.truth, truth.category) == ("a-model", "same-lineage", pair_truth.SIBLINGS)

    def test_transitive_ancestry(self):
        init = _entry("i", "llama", 0, "init")
        pre = _entry("p", "llama", 0, "pretrained", parents=["i"], steps=10)
        ft = _entry("f", "llama", 0, "finetune", parents=["p"], steps=12)
        entries = {e.name: e for e in (init, pre, ft)}
        truth = pair_truth.classify_pair(ft, init, entries)
        assert (truth.ref, truth.suspect, truth.category, truth.ancestor) == ("i", "f", "init→finetune", "i")

    def test_pretrain_data_seed(self):
        a = _entry("a", "llama", 0, "pretrained", steps=10, params={"pretrain_data_seed": 1})
        b = _entry("b", "llama", 1, "pretrained", steps=10, params={"pretrain_data_seed": 2})
        c = _entry("c", "llama", 2, "pretrained", steps=10, params={"pretrain_data_seed": 1})
        student = _entry("d", "llama", 3, "distill", parents=["t"], steps=10, params={"teacher": "t"})
        entries = {e.name: e for e in (a, b, c, student)}
        assert pair_truth.classify_pair(a, b, entries).category == pair_truth.INDEPENDENT
        assert pair_truth.classify_pair(a, c, entries).category == pair_truth.SAME_DATA
        assert pair_truth.classify_pair(a, student, entries).category == pair_truth.INDEPENDENT  # the student records no data seed

    def test_blend_weights_as_written_by_zoo_build(self):
        blend = _entry("bl", "llama", 0, "blend", parents=["p0", "p1"], lineages=["llama-s0", "llama-s1"],
                       params={"weight": 0.25, "weights": {"p0": 0.25, "p1": 0.75}})
        assert pair_truth.blend_weights(blend) == {"p0": 0.25, "p1": 0.75}
        legacy = _entry("bl", "llama", 0, "blend", parents=["p0", "p1"], params={"weight": 0.25})
        assert pair_truth.blend_weights(legacy) == {"p0": 0.25, "p1": 0.75}


class TestClopperPearson:
    def test_zero_successes(self):
        # k = 0: upper = 1 - (alpha/2)**(1/n) in closed form
        lower, upper = metrics.clopper_pearson(0, 10)
        assert lower == 0.0
        assert upper == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-9)
        assert upper == pytest.approx(0.3085, abs=1e-4)

    def test_all_successes_and_middle(self):
        lower, upper = metrics.clopper_pearson(10, 10)
        assert upper == 1.0 and lower == pytest.approx(0.025 ** (1 / 10), rel=1e-9)
        # 5 of 10: [0.187, 0.813] (R: binom.test(5, 10)$conf.int = 0.1870800 0.8129200)
        lower, upper = metrics.clopper_pearson(5, 10)
        assert (lower, upper) == (pytest.approx(0.18708, abs=1e-5), pytest.approx(0.81292, abs=1e-5))

    def test_empty(self):
        assert metrics.clopper_pearson(0, 0) == (None, None)


class TestRocAuc:
    def test_separated(self):
        assert metrics.roc_auc([5.0, 7.0, math.inf], [0.1, 1.0]) == 1.0
        assert metrics.roc_auc([0.1], [5.0, 7.0]) == 0.0

    def test_ties(self):
        assert metrics.roc_auc([1.0, 1.0], [1.0, 1.0, 1.0]) == 0.5
        # one positive above one negative, tied with the other: (1 + 0.5) / 2
        assert metrics.roc_auc([2.0], [1.0, 2.0]) == 0.75

    def test_empty_and_nan(self):
        assert metrics.roc_auc([], [1.0]) is None
        assert metrics.roc_auc([2.0, math.nan], [1.0]) == 1.0

    def test_curve_ends(self):
        fpr, tpr = metrics.roc_curve([3.0, 2.0], [2.0, 1.0])
        assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
        assert (fpr[1], tpr[1]) == (0.0, 0.5)  # the top score is a positive


class TestReadmeBlock:
    def test_block_replaces_only_the_marked_lines(self, evaluated):
        from seedprints.zoo import summary

        report, _, _ = evaluated
        text = f"intro\n{summary.README_START}\nold numbers\n{summary.README_END}\noutro\n"
        new = summary.update_readme(text, summary.readme_block(report))
        assert new.startswith("intro\n") and new.endswith("\noutro\n") and "old numbers" not in new
        for method in ("lineage", "paper"):
            assert f"`{method}`: false-positive rate" in new and "in its worst training regime (`unseen-tail`" in new
        assert summary.update_readme(new, summary.readme_block(report)) == new  # idempotent

    def test_readme_without_markers(self, tmp_path):
        from seedprints.errors import UsageError
        from seedprints.zoo import summary

        (tmp_path / "README.md").write_text("no block here\n")
        with pytest.raises(UsageError, match="no results block"):
            summary.read_readme(tmp_path / "README.md")
        with pytest.raises(UsageError, match="cannot read README"):
            summary.read_readme(tmp_path / "missing.md")
        (tmp_path / "latin.md").write_bytes(b"caf\xe9\n")
        with pytest.raises(UsageError, match="is not UTF-8 text"):
            summary.read_readme(tmp_path / "latin.md")

    def test_readme_fifo_is_refused_without_blocking(self, fifo, capsys):
        (fifo.parent / "zoo").mkdir()
        code, _, err = run(capsys, "zoo", "eval", fifo.parent / "zoo", "--out", fifo.parent / "r", "--update-readme", fifo)
        assert_one_line_error(code, err, "is not a regular file (a pipe or device)")
        assert not (fifo.parent / "r").exists()


class TestNothingEvaluated:
    """A zoo whose every model fails is an error (exit 1, one line), not a results page of nothing."""

    MANIFEST = {"name": "m1", "family": "llama", "init_seed": 0, "lineages": ["llama-s0"], "stage": "pretrained",
                "label": "pretrained"}

    @pytest.mark.parametrize("verb", ["eval", "identify"])
    def test_every_model_fails(self, one_model_zoo, capsys, verb):
        zoo = one_model_zoo(self.MANIFEST, config="{not json")
        out = zoo.parent / "results"
        code, _, err = run(capsys, "zoo", verb, zoo, "--out", out, "--n", 8, "--length", 4)
        assert_one_line_error(code, err, f"none of the 1 models of {zoo} could be evaluated; first failure: m1: ")
        assert not out.exists()

    def test_api_raises(self, one_model_zoo):
        zoo = one_model_zoo(self.MANIFEST, config="{not json")
        with pytest.raises(ZooConfigError, match="could be evaluated"):
            ev.evaluate_zoo(zoo, zoo.parent / "results", **PROBES)
        assert not (zoo.parent / "results").exists()

    def test_out_that_is_a_file_fails_before_fingerprinting(self, tiny_zoo, tmp_path, capsys, monkeypatch):
        from seedprints import api

        monkeypatch.setattr(api, "fingerprint_model", pytest.fail)
        (tmp_path / "notes.txt").write_text("keep")
        code, _, err = run(capsys, "zoo", "eval", tiny_zoo, "--out", tmp_path / "notes.txt")
        assert_one_line_error(code, err, "exists and is not a folder")
        assert (tmp_path / "notes.txt").read_text() == "keep"


@pytest.fixture(scope="module")
def identified(tiny_zoo, tmp_path_factory):
    from seedprints.zoo.identify_eval import evaluate_identify

    out = tmp_path_factory.mktemp("identify")
    return evaluate_identify(tiny_zoo, out, **PROBES), out


class TestIdentifyOnZoo:
    """`seedprints zoo identify`: register the base models, identify every other model against them."""

    def test_candidates_and_suspects(self, identified):
        report, out = identified
        assert report.candidates == ["llama-s0-pre", "llama-s1-pre", "llama-s2-distill"]
        suspects = {o.suspect for o in report.outcomes} | set(report.not_identified)
        assert "llama-s0-int8" in suspects and not suspects & set(report.candidates)
        assert "llama-wide-s3-init" in report.not_identified  # no candidate of its width
        assert {"results.json", "summary.md"} <= {p.name for p in out.iterdir()}

    def test_derived_models_find_their_parent_first(self, identified):
        report, _ = identified
        by_name = {o.suspect: o for o in report.outcomes}
        for name in ("llama-s0-int8", "llama-s0-noise", "llama-s0-permute"):
            outcome = by_name[name]
            assert outcome.best == "llama-s0-pre" and outcome.best_is_true and outcome.true_detected
            assert outcome.true_candidates == ("llama-s0-pre",) and not outcome.false_identifications
        assert set(by_name["llama-blend"].true_candidates) == {"llama-s0-pre", "llama-s1-pre"}
        assert by_name["gpt2-s0-init"].true_rank is None

    def test_summary_counts_match_outcomes(self, identified):
        report, out = identified
        overall = report.overall
        assert overall["suspects"] == len(report.outcomes)
        assert overall["top1"] == sum(o.best_is_true for o in report.outcomes if o.true_rank is not None)
        page = (out / "summary.md").read_text()
        assert "| int8 | 1 | 1/1 (100%) |" in page and "## Not identified" in page
