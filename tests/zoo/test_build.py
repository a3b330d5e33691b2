"""Tests of seedprints.zoo.build: config checking, the plan's ground truth, and resumable builds."""

from __future__ import annotations

import copy
import json

import pytest

from seedprints.cli import main
from seedprints.errors import ZooConfigError
from seedprints.zoo.build import build_zoo, load_config, parse_config, plan
from seedprints.zoo.configs import BUILTIN_CONFIGS
from seedprints.zoo.manifest import read_manifest, same_lineage, scan_zoo

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
        assert load_config(name).name == name

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            (bad(colour="red"), "unknown keys \\['colour'\\]"),
            (bad(pretrain=None), "missing key 'pretrain'"),
            (bad(families=[]), "non-empty list"),
            (bad(families=[{"arch": TINY["families"][0]["arch"], "seeds": [1, 1]}]), "appears twice"),
            (bad(families=[{"arch": TINY["families"][0]["arch"], "seeds": [-1]}]), "non-negative"),
            (bad(families=[{"arch": {**TINY["families"][0]["arch"], "family": "rnn"}, "seeds": [1]}]), "unknown model family"),
            (bad(checkpoints=[3]), "checkpoints must be steps between 1 and"),
            (bad(edits=[{"transform": "prune", "fraction": 1.5}]), "prune"),
            (bad(edits=[{"transform": "shuffle"}]), "shuffle"),
            (bad(blend=[1.2]), "strictly between 0 and 1"),
            (bad(finetune=None), "blend needs"),
            (bad(pretrain={"domain": "poetry"}), "unknown corpus domain"),
            (bad(tokenizer_vocab=5000), "tokenizer_vocab"),
            (bad(lora={"train": {}, "rank": 0}), "lora.rank"),
        ],
    )
    def test_bad_configs_name_the_problem(self, raw, message):
        with pytest.raises(ZooConfigError, match=message):
            parse_config(raw)

    def test_missing_or_invalid_file(self, tmp_path):
        with pytest.raises(ZooConfigError, match="does not exist"):
            load_config(tmp_path / "none.json")
        (tmp_path / "x.json").write_text("{")
        with pytest.raises(ZooConfigError, match="not valid JSON"):
            load_config(tmp_path / "x.json")


class TestPlan:
    def test_cpu_zoo_size_and_truth(self):
        entries = [p.entry for p in plan(load_config("cpu"), tokenizer=None)]
        names = [e.name for e in entries]
        assert len(names) == len(set(names))
        independent = sum(not same_lineage(a, b) for i, a in enumerate(entries) for b in entries[i + 1 :])
        related = sum(same_lineage(a, b) for i, a in enumerate(entries) for b in entries[i + 1 :])
        assert independent >= 300 and related >= 100  # the zoo issue's minimum pair counts
        by_name = {e.name: e for e in entries}
        assert not same_lineage(by_name["llama-s101-distilled"], by_name["llama-s1-pretrained"])
        blend = by_name["llama-blend-s1-s2-w0.3"]
        assert same_lineage(blend, by_name["llama-s1-init"]) and same_lineage(blend, by_name["llama-s2-init"])

    def test_parents_come_first(self):
        seen: set[str] = set()
        for item in plan(load_config("cpu"), tokenizer=None):
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

    def test_cli_reports_bad_config(self, tmp_path, capsys):
        (tmp_path / "c.json").write_text(json.dumps(bad(colour=1)))
        assert main(["zoo", "build", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "z")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("Error: zoo config: unknown keys")
