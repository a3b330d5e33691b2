"""Tests of seedprints.zoo.build: config checking, the plan's ground truth, and resumable builds."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from seedprints.cli import main
from seedprints.errors import ZooConfigError
from seedprints.zoo.build import build_zoo, plan
from seedprints.zoo.collapse import LONG_RUN, collapse_stats
from seedprints.zoo.configs import BUILTIN_CONFIGS
from seedprints.zoo.manifest import read_manifest, same_lineage, scan_zoo
from seedprints.zoo.truth import classify_pair
from seedprints.zoo.zoo_config import COLLAPSED, REGIMES, load_zoo_config, parse_config

from ..conftest import assert_one_line_error, run

TINY = {
    "name": "tiny",
    "tokenizer_vocab": 300,
    "families": [{"arch": {"family": "llama", "hidden_size": 32, "num_layers": 1, "num_heads": 2,
                           "intermediate_size": 64, "vocab_size": 300, "max_position": 64}, "seeds": [1, 2]}],
    "pretrain": {"domain": "prose", "steps": 3, "batch_size": 2, "seq_len": 16, "warmup": 0, "max_chars": 20000},
    "checkpoints": [1],
    "finetune": {"domain": "code", "steps": 2, "batch_size": 2, "seq_len": 16, "warmup": 0, "max_chars": 20000},
    "edits": [{"transform": "int8"}, {"transform": "permute"}],
    "blend": [0.5],
}


TIED_ARCH = {**TINY["families"][0]["arch"], "vocab_size": 340, "tie_embeddings": True}  # 40 rows past the tokenizer
COLLAPSING = {**TINY, "families": [{"arch": TIED_ARCH, "seeds": [1], "derive": "full", "regime": COLLAPSED}],
              "edits": [{"transform": "zero-padding"}, {"transform": "refresh-padding"}], "blend": []}


def bad(**changes):
    raw = copy.deepcopy(TINY)
    for key, value in changes.items():
        if value is None:
            raw.pop(key)
        else:
            raw[key] = value
    return raw


class TestConfig:
    @pytest.mark.parametrize("name", sorted(BUILTIN_CONFIGS))
    def test_builtin_configs_parse(self, name):
        assert load_zoo_config(name).name == name

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            (bad(colour="red"), "unknown keys \\['colour'\\]"),
            (bad(pretrain=None), "missing key 'pretrain'"),
            (bad(families=[]), "non-empty list"),
            (bad(families=[{"arch": TINY["families"][0]["arch"], "seeds": [1, 1]}]), "seeds must be a list without repeats"),
            (bad(families=[{"arch": TINY["families"][0]["arch"], "seeds": [1]}] * 2), "appears twice"),
            (bad(families=[{"arch": TINY["families"][0]["arch"], "seeds": [-1]}]), "seeds\\[0\\] must be an integer >= 0"),
            (bad(families=[{"arch": {**TINY["families"][0]["arch"], "family": "rnn"}, "seeds": [1]}]), "unknown model family"),
            (bad(checkpoints=[3]), "checkpoints must be steps between 1 and"),
            (bad(edits=[{"transform": "prune", "fraction": 1.5}]), "prune"),
            (bad(edits=[{"transform": "shuffle"}]), "shuffle"),
            (bad(blend=[1.2]), "strictly between 0 and 1"),
            (bad(finetune=None), "blend needs"),
            (bad(families=[{**TINY["families"][0], "regime": "lunar"}]), "regime must be one of"),
            (bad(pretrain={"domain": "poetry"}), "unknown corpus domain"),
            (bad(tokenizer_vocab=5000), "tokenizer_vocab"),
            (bad(lora={"train": {}, "rank": 0}), "lora.rank"),
            (bad(families=[{**TINY["families"][0], "regime": COLLAPSED}]), "regime tied-collapsed needs a tied arch"),
            (bad(edits=[{"transform": "zero-padding", "first_row": 0}]), "first_row=0 is not allowed"),
        ],
    )
    def test_bad_configs_name_the_problem(self, raw, message):
        with pytest.raises(ZooConfigError, match=message):
            parse_config(raw)

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            (bad(name=5), "name must be a non-empty string, got 5"),
            (bad(families=5), "families must be a non-empty list"),
            (bad(families=[{"arch": 5, "seeds": [1]}]), "families\\[0\\].arch must be an object"),
            (bad(families=[{"arch": TINY["families"][0]["arch"], "seeds": 1}]), "families\\[0\\].seeds must be a list"),
            (bad(families=[{"arch": TINY["families"][0]["arch"], "seeds": [True]}]), "seeds\\[0\\] must be an integer >= 0, got true"),
            (bad(families=[{"arch": {**TINY["families"][0]["arch"], "hidden_size": "abc"}, "seeds": [1]}]),
             "families\\[0\\].arch: ArchSpec.hidden_size must be an integer, got 'abc'"),
            (bad(families=[{"arch": {**TINY["families"][0]["arch"], "num_heads": 2.0}, "seeds": [1]}]), "num_heads must be an integer"),
            (bad(checkpoints=5), "checkpoints must be a list of integers >= 1 such as \\[1, 2\\], got 5"),
            (bad(checkpoints=[1, 1]), "checkpoints must be a list without repeats"),
            (bad(checkpoints=["1"]), "checkpoints\\[0\\] must be an integer"),
            (bad(edits=5), "edits must be a list"),
            (bad(edits=[{"transform": ["int8"]}]), "edits\\[0\\] must be an object with a 'transform' name"),
            (bad(blend=5), "blend must be a list of weights"),
            (bad(blend=["0.5"]), "blend\\[0\\] must be a finite number, got '0.5'"),
            (bad(blend=[0.5, 0.5]), "blend must be a list without repeats"),
            (bad(merge="yes"), "merge must be true or false"),
            (bad(pretrain={**TINY["pretrain"], "steps": "many"}), "pretrain: TrainSpec.steps must be an integer, got 'many'"),
            (bad(pretrain={**TINY["pretrain"], "lr": float("nan")}), "TrainSpec.lr must be a finite number"),
            (bad(pretrain={**TINY["pretrain"], "max_chars": 1.5}), "TrainSpec.max_chars must be an integer"),
            (bad(finetune=5), "finetune must be an object of training settings"),
            (bad(lora={"train": {}, "rank": True}), "lora.rank must be an integer >= 1, got true"),
            (bad(distill={"teacher_seed": 1, "student_seeds": 9}), "distill.student_seeds must be a list of integers"),
            (bad(distill={"teacher_seed": 1.0, "student_seeds": [9]}), "distill.teacher_seed must be one of"),
            (bad(distill={"teacher_seed": 1, "student_seeds": [9], "temperature": "hot"}),
             "distill.temperature must be a finite number, got 'hot'"),
            (bad(distill={"teacher_seed": 1, "student_seeds": [9], "temperature": 0}), "distill.temperature must be a positive"),
            (bad(tokenizer_vocab=True), "tokenizer_vocab must be an int"),
            (bad(tokenizer_vocab=100), "tokenizer_vocab must be an int from 259"),
        ],
    )
    def test_wrong_types_and_ranges_name_the_key(self, raw, message):
        with pytest.raises(ZooConfigError, match=message) as caught:
            parse_config(raw)
        assert "\n" not in str(caught.value)

    def test_tokenizer_vocab_defaults_to_an_arch_vocab_checked_up_front(self):
        arch = {**TINY["families"][0]["arch"], "vocab_size": 128}
        with pytest.raises(ZooConfigError, match="tokenizer_vocab must be an int from 259 .* raise vocab_size"):
            parse_config(bad(tokenizer_vocab=None, families=[{"arch": arch, "seeds": [1, 2]}]))

    def test_missing_or_invalid_file(self, tmp_path):
        with pytest.raises(ZooConfigError, match="does not exist"):
            load_zoo_config(tmp_path / "none.json")
        (tmp_path / "x.json").write_text("{")
        with pytest.raises(ZooConfigError, match="not valid JSON"):
            load_zoo_config(tmp_path / "x.json")
        with pytest.raises(ZooConfigError, match="not a regular file"):
            load_zoo_config(tmp_path)

    def test_fifo_is_refused_without_blocking(self, fifo):
        with pytest.raises(ZooConfigError, match="not a regular file .*give a JSON file"):
            load_zoo_config(fifo)

    @pytest.mark.parametrize(
        ("text", "fragment"),
        [
            ('{"name": ' + "9" * 5000 + "}", "integer too long"),
            ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
            ("\xff{}", "not UTF-8"),
        ],
    )
    def test_unreadable_json_names_the_reason(self, tmp_path, text, fragment):
        (tmp_path / "c.json").write_bytes(text.encode("latin-1"))
        with pytest.raises(ZooConfigError, match=f"is not valid JSON \\(.*{fragment}"):
            load_zoo_config(tmp_path / "c.json")


class TestPlan:
    def test_cpu_zoo_size_and_truth(self):
        entries = [p.entry for p in plan(load_zoo_config("cpu"), tokenizer=None)]
        names = [e.name for e in entries]
        assert len(names) == len(set(names))
        independent = sum(not same_lineage(a, b) for i, a in enumerate(entries) for b in entries[i + 1 :])
        related = sum(same_lineage(a, b) for i, a in enumerate(entries) for b in entries[i + 1 :])
        assert independent >= 300 and related >= 100  # the zoo issue's minimum pair counts
        by_name = {e.name: e for e in entries}
        assert not same_lineage(by_name["llama-s101-distilled"], by_name["llama-s1-pretrained"])
        blend = by_name["llama-blend-s1-s2-w0.5"]
        assert same_lineage(blend, by_name["llama-s1-init"]) and same_lineage(blend, by_name["llama-s2-init"])

    def test_cpu_zoo_has_every_regime_with_enough_independent_pairs(self):
        entries = [p.entry for p in plan(load_zoo_config("cpu"), tokenizer=None)]
        for regime in REGIMES:
            members = [e for e in entries if e.regime == regime]
            pairs = sum(not same_lineage(a, b) for i, a in enumerate(members) for b in members[i + 1:])
            assert pairs >= 100, regime  # the calibration issue's minimum for the seen-tail regime

    def test_regimes_shape_the_pretraining(self):
        by_name = {p.entry.name: p for p in plan(load_zoo_config("cpu"), tokenizer=None)}
        unseen, seen = by_name["llama-s1-pretrained"].pretrain, by_name["llama-s21-pretrained"].pretrain
        shared = [by_name[f"llama-s{s}-pretrained"].pretrain for s in (31, 32)]
        assert not unseen.seen_tail and seen.seen_tail and seen.data_seed == unseen.data_seed
        assert shared[0].corpus_seed != shared[1].corpus_seed and shared[0].data_seed != shared[1].data_seed
        assert shared[0].max_chars == shared[1].max_chars < (unseen.max_chars or 0)
        assert by_name["llama-s21-pretrained"].entry.params["train"]["seen_tail"] is True

    def test_tied_collapsed_lineages_are_full_lineages_whose_pretraining_collapses(self):
        planned = plan(load_zoo_config("cpu"), tokenizer=None)
        by_name = {p.entry.name: p for p in planned}
        collapsed = [p for p in planned if p.entry.regime == COLLAPSED]
        assert sorted({p.entry.init_seed for p in collapsed}) == [41, 42, 43]
        labels = sorted(p.entry.label for p in collapsed if p.entry.init_seed == 41)
        assert labels == sorted(p.entry.label for p in planned if p.entry.lineages == ("llama-s1",))
        assert [p.entry.name for p in planned if p.collapse is not None] == [p.entry.name for p in collapsed
                                                                          if p.entry.stage == "pretrained"]
        pretrained = by_name["llama-s41-pretrained"]
        assert pretrained.collapse == LONG_RUN and pretrained.entry.params["collapse"]["weight_decay"] == LONG_RUN.weight_decay
        assert pretrained.pretrain == by_name["llama-s1-pretrained"].pretrain  # the unseen-tail data, in its order
        assert "collapse" not in by_name["llama-s41-step50"].entry.params  # an early checkpoint has not collapsed yet

    @pytest.mark.parametrize("edit", ["zero-padding", "refresh-padding"])
    def test_padding_edits_start_at_the_tokenizer_length_and_are_scored_as_themselves(self, edit):
        config = load_zoo_config("cpu")
        entries = {p.entry.name: p.entry for p in plan(config, tokenizer=None)}
        derived = entries[f"llama-s41-{edit}"]
        assert derived.params["params"] == {"first_row": config.tokenizer_vocab} and derived.parents == ("llama-s41-pretrained",)
        assert classify_pair(entries["llama-s41-pretrained"], derived, entries).category == edit
        assert classify_pair(entries["llama-s41-init"], derived, entries).category == f"init→{edit}"
        assert classify_pair(entries["llama-s1-pretrained"], derived, entries).truth == "independent"

    def test_parents_come_first(self):
        seen: set[str] = set()
        for item in plan(load_zoo_config("cpu"), tokenizer=None):
            assert set(item.entry.parents) <= seen
            seen.add(item.entry.name)


class TestBuild:
    def test_build_then_resume(self, tmp_path):
        config = parse_config(TINY)
        first = build_zoo(config, tmp_path)
        assert len(first.built) == 13 and not first.skipped  # 2 seeds x (init, step1, pretrained, finetune, int8, permute) + 1 blend
        found, failed = scan_zoo(tmp_path)
        assert not failed and len(found) == len(first.built)
        assert read_manifest(tmp_path / "llama-s1-step1").steps == 1
        again = build_zoo(config, tmp_path)
        assert not again.built and len(again.skipped) == len(first.built)

    def test_tied_collapsed_build_stores_bf16_collapsed_rows(self, tmp_path):
        from safetensors.torch import load_file

        report = build_zoo(parse_config(COLLAPSING), tmp_path)
        assert len(report.built) == 6  # init, step1, pretrained, finetune and the two padding edits

        def embedding(name: str):
            return load_file(tmp_path / name / "model.safetensors")["model.embed_tokens.weight"]

        assert embedding("llama-s1-init").dtype == torch.float32  # the lineage root, as the init draws it
        pretrained = embedding("llama-s1-pretrained")
        assert pretrained.dtype == torch.bfloat16 and pretrained.shape[0] == 340
        padded, ordinary = torch.arange(300, 340), torch.arange(3, 300)
        assert collapse_stats(pretrained, padded, ordinary).distinct <= 4
        assert (embedding("llama-s1-zero-padding")[300:] == 0).all()
        assert torch.equal(embedding("llama-s1-zero-padding")[:300], pretrained[:300])
        assert collapse_stats(embedding("llama-s1-refresh-padding"), padded, ordinary).distinct == 40
        assert not build_zoo(parse_config(COLLAPSING), tmp_path).built

    def test_cli_reports_bad_config(self, tmp_path, capsys):
        (tmp_path / "c.json").write_text(json.dumps(bad(colour=1)))
        assert main(["zoo", "build", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "z")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("Error: zoo config: unknown keys")

    @pytest.mark.parametrize(
        ("text", "fragment"),
        [
            (json.dumps(bad(checkpoints=5)), "checkpoints must be a list"),
            (json.dumps(bad(edits=5)), "edits must be a list"),
            (json.dumps(bad(blend=5)), "blend must be a list"),
            (json.dumps(bad(distill={"teacher_seed": 1, "student_seeds": 9})), "distill.student_seeds must be a list"),
            (json.dumps(bad(distill={"teacher_seed": 1, "student_seeds": [9], "temperature": "hot"})), "distill.temperature"),
            (json.dumps(bad(pretrain={**TINY["pretrain"], "steps": "many"})), "TrainSpec.steps must be an integer"),
            (json.dumps(bad(families=[{"arch": {**TINY["families"][0]["arch"], "hidden_size": "abc"}, "seeds": [1]}])),
             "ArchSpec.hidden_size must be an integer, got 'abc'"),
            (json.dumps(bad(tokenizer_vocab=100)), "tokenizer_vocab must be an int from 259"),
            ('{"name": ' + "9" * 5000 + "}", "integer too long"),
            ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
        ],
    )
    def test_cli_bad_config_one_line_and_no_zoo_folder(self, tmp_path, capsys, text, fragment):
        (tmp_path / "c.json").write_text(text)
        code, _, err = run(capsys, "zoo", "build", "--config", tmp_path / "c.json", "--out", tmp_path / "z")
        assert_one_line_error(code, err, "Error: zoo config", fragment)
        assert "unexpected" not in err and not (tmp_path / "z").exists()

    def test_cli_fifo_config(self, fifo, capsys):
        code, _, err = run(capsys, "zoo", "build", "--config", fifo, "--out", fifo.parent / "z")
        assert_one_line_error(code, err, "not a regular file")
        assert not (fifo.parent / "z").exists()

    def test_cli_out_is_a_file(self, tmp_path, capsys):
        (tmp_path / "c.json").write_text(json.dumps(TINY))
        (tmp_path / "notes.txt").write_text("keep")
        code, _, err = run(capsys, "zoo", "build", "--config", tmp_path / "c.json", "--out", tmp_path / "notes.txt")
        assert_one_line_error(code, err, "cannot create zoo folder", "choose another --out")
        assert (tmp_path / "notes.txt").read_text() == "keep"
