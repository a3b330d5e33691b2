"""Tests for seedprints.seeds and ``seedprints seeds register``: candidate inits, seed lists, registration."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from seedprints import seeds
from seedprints.cli import main
from seedprints.errors import ModelLoadError, RegistryError, UsageError
from seedprints.probes import token_spec

TINY = {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64, "vocab_size": 100, "max_position_embeddings": 64}
SPEC = token_spec(60, 8, 100)


def _weights_equal(a, b) -> bool:
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "config.json"
    path.write_text(json.dumps(TINY))
    return path


class TestInit:
    def test_matches_transformers_own_init(self):
        import torch
        import transformers

        torch.manual_seed(5)
        own = transformers.LlamaForCausalLM(seeds.load_config(TINY))
        assert _weights_equal(seeds.init_model_from_config(TINY, 5), own)

    def test_seeds_differ_and_model_is_float32_eval(self):
        import torch

        a, b = seeds.init_model_from_config(TINY, 1), seeds.init_model_from_config(TINY, 2)
        assert not _weights_equal(a, b)
        assert not a.training and all(p.dtype == torch.float32 for p in a.parameters())

    def test_caller_rng_untouched(self):
        import torch

        torch.manual_seed(0)
        expected = torch.rand(3)
        torch.manual_seed(0)
        seeds.init_model_from_config(TINY, 9)
        assert torch.equal(torch.rand(3), expected)

    def test_config_forms_agree(self, config_file):
        sha = seeds.config_sha256(TINY)
        assert seeds.config_sha256(config_file) == seeds.config_sha256(config_file.parent) == sha
        assert seeds.config_sha256({**TINY, "transformers_version": "0.0", "architectures": ["X"]}) == sha
        assert seeds.config_sha256({**TINY, "hidden_size": 64}) != sha
        assert _weights_equal(seeds.init_model_from_config(config_file, 4), seeds.init_model_from_config(TINY, 4))

    def test_fingerprint_metadata(self):
        import transformers

        fps = list(seeds.fingerprint_seeds(TINY, [3, 4], SPEC))
        assert [fp.metadata["init_seed"] for fp in fps] == ["3", "4"]
        meta = fps[0].metadata
        assert meta["init_method"] == "transformers" and meta["init_config_sha256"] == seeds.config_sha256(TINY)
        assert transformers.__version__ in meta["init_framework"] and meta["transformers_version"] == transformers.__version__
        assert fps[0].model_id.endswith("seed-3") and fps[0].spec == SPEC

    @pytest.mark.parametrize("bad, fragment", [
        ({"hidden_size": 32}, "no model_type"),
        ({"model_type": "no-such-model"}, "cannot build"),
        ([1, 2], "JSON object"),
    ])
    def test_bad_configs(self, bad, fragment):
        with pytest.raises(ModelLoadError, match=fragment):
            seeds.init_model_from_config(bad, 0)

    def test_bad_config_files(self, tmp_path):
        with pytest.raises(ModelLoadError, match="does not exist"):
            seeds.load_config(tmp_path / "missing.json")
        (tmp_path / "bad.json").write_text("{not json")
        with pytest.raises(ModelLoadError, match="not a readable JSON"):
            seeds.load_config(tmp_path / "bad.json")

    @pytest.mark.parametrize("change, fragment", [
        ({"hidden_size": "abc"}, "hidden_size must be an integer of at least 1, not 'abc'"),
        ({"vocab_size": -5}, "vocab_size must be an integer of at least 2"),
        ({"num_hidden_layers": True}, "num_hidden_layers must be an integer"),
        ({"num_attention_heads": 3}, "not a multiple of the number of attention heads"),
        ({"torch_dtype": "float99"}, "'float99' is not a torch dtype"),
        ({"model_type": ["llama"]}, "model_type ['llama'] is not a name"),
        ({"vocab_size": 10**9}, "(256.0 GB in float32), more than this machine's 16.0 GB of memory"),
    ])
    def test_configs_transformers_refuses_or_cannot_hold(self, change, fragment, monkeypatch):
        monkeypatch.setattr(seeds._config, "_memory_bytes", lambda: 16 * 10**9)
        with pytest.raises(ModelLoadError, match=re.escape(fragment)):
            seeds.check_config({**TINY, **change})

    def test_unreadable_config_files(self, tmp_path):
        (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
        with pytest.raises(ModelLoadError, match="nests too deeply"):
            seeds.load_config(tmp_path / "deep.json")
        os.mkfifo(tmp_path / "fifo.json")
        with pytest.raises(ModelLoadError, match="not a regular file"):
            seeds.load_config(tmp_path / "fifo.json")

    def test_bad_init_and_seed(self):
        with pytest.raises(UsageError, match="unknown init method"):
            seeds.init_model_from_config(TINY, 0, init="megatron")
        with pytest.raises(UsageError, match="out of range"):
            seeds.init_model_from_config(TINY, -1)


class TestParseSeeds:
    @pytest.mark.parametrize("text, expected", [
        ("0-3", [0, 1, 2, 3]), ("1,5,9", [1, 5, 9]), ("0-2,100", [0, 1, 2, 100]), (" 7 ", [7]), ("3,1-3", [1, 2, 3]),
    ])
    def test_good(self, text, expected):
        assert seeds.parse_seeds(text) == expected

    @pytest.mark.parametrize("text, fragment", [
        ("", "not a seed"), ("1,,2", "not a seed"), ("a-b", "not a seed"), ("-3", "not a seed"), ("5-2", "below the start"),
        ("1.5", "not a seed"), (str(2**64), "too large"), ("0-1000000", "more than"), ("9" * 5000, "too large"),
        ("0-" + "9" * 5000, "too large"),
    ])
    def test_bad(self, text, fragment):
        with pytest.raises(UsageError, match=fragment):
            seeds.parse_seeds(text)


class TestRegister:
    def test_register_resume_and_identify(self, tmp_path, monkeypatch):
        from seedprints import api
        from seedprints.encoding import rank_fingerprint
        from seedprints.registry import Registry
        from seedprints.stats.lineage import lineage_test_ranked
        from seedprints.zoo.derive import add_weight_noise

        db = tmp_path / "seeds.db"
        with Registry.open(db) as reg:
            report = seeds.register_seeds(reg, TINY, [0, 1, 2], SPEC, prefix="tiny-", tags={"lab": "x"})
            assert report.added == ["tiny-seed-0", "tiny-seed-1", "tiny-seed-2"] and report.skipped == []
            entry = reg.get("tiny-seed-1")
            assert entry.tags == {"config": seeds.config_sha256(TINY), "init": "transformers", "lab": "x", "seed": "1"}
            assert entry.probe_hash == SPEC.hash

            monkeypatch.setattr(seeds._rebuild, "fingerprint_init", lambda *a, **k: pytest.fail("resumed run fingerprinted again"))
            again = seeds.register_seeds(reg, TINY, [0, 1, 2], SPEC, prefix="tiny-", tags={"lab": "x"})
            assert again.added == [] and len(again.skipped) == 3
            with pytest.raises(RegistryError, match="made otherwise"):
                seeds.register_seeds(reg, TINY, [1], token_spec(61, 8, 100), prefix="tiny-", tags={"lab": "x"})
            with pytest.raises(UsageError, match="set by seeds register"):
                seeds.register_seeds(reg, TINY, [5], SPEC, tags={"seed": "5"})
            with pytest.raises(TypeError, match="tags must be a dict"):
                seeds.register_seeds(reg, TINY, [5], SPEC, tags=["lab"])
            with pytest.raises(UsageError, match="read as an option; choose another name"):
                seeds.register_seeds(reg, TINY, [5], SPEC, prefix="-")

            # a model grown from seed 1 (init plus 5% weight noise, standing in for training)
            suspect = add_weight_noise(seeds.init_model_from_config(TINY, 1), 0.05, seed=7)
            ranked_suspect = rank_fingerprint(api.fingerprint_model(suspect, SPEC))
            results = {e.tags["seed"]: lineage_test_ranked(r, ranked_suspect) for e, r in reg.ranked(probe_hash=SPEC.hash)}
        assert min(results, key=lambda s: results[s].log10_p) == "1"
        assert results["1"].verdict == "same-lineage"
        assert results["0"].verdict == results["2"].verdict == "independent"


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, fragment: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], err


class TestCli:
    def test_register_json_and_like(self, capsys, tmp_path, config_file):
        db = tmp_path / "r.db"
        code, out, _ = _run(capsys, "seeds", "register", "--config", config_file, "--seeds", "0-1", "--registry", db,
                            "--n", "40", "--length", "8", "--tag", "lab=x", "--json")
        assert code == 0
        payload = json.loads(out)
        assert payload["added"] == ["seed-0", "seed-1"] and payload["probe_hash"] == token_spec(40, 8, 100).hash
        fp_path = tmp_path / "like.fp.safetensors"
        next(seeds.fingerprint_seeds(TINY, [7], SPEC)).save(fp_path)
        code, out, _ = _run(capsys, "seeds", "register", "--config", config_file, "--seeds", "1", "--registry", db,
                            "--like", fp_path, "--name-prefix", "like-", "--json")
        assert code == 0 and json.loads(out)["probe_hash"] == SPEC.hash

    def test_identify_names_the_seed(self, capsys, tmp_path, config_file):
        from seedprints.zoo.derive import add_weight_noise

        db = tmp_path / "r.db"
        assert main(["seeds", "register", "--config", str(config_file), "--seeds", "0-2", "--registry", str(db),
                     "--n", "60", "--length", "8", "--json"]) == 0
        add_weight_noise(seeds.init_model_from_config(TINY, 2), 0.05, seed=1).save_pretrained(tmp_path / "grown")
        capsys.readouterr()
        code, out, _ = _run(capsys, "identify", tmp_path / "grown", "--registry", db, "--json")
        assert code == 0
        assert [c["name"] for c in json.loads(out)["candidates"]][0] == "seed-2"

    @pytest.mark.parametrize("args, fragment", [
        (["--seeds", "1-x"], "bad seed list"),
        (["--seeds", "0-1", "--init", "megatron"], "unknown init method"),
    ])
    def test_bad_arguments(self, capsys, tmp_path, config_file, args, fragment):
        db = tmp_path / "r.db"
        code, _, err = _run(capsys, "seeds", "register", "--config", config_file, "--registry", db, *args)
        _one_line_error(code, err, fragment)
        assert not db.exists()

    @pytest.mark.parametrize("content, fragment", [
        ("{not json", "not a readable JSON"), ('{"hidden_size": 8}', "no model_type"),
        ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
        (json.dumps({**TINY, "vocab_size": -5, "bos_token_id": 1}), "vocab_size must be an integer of at least 2"),
        (json.dumps({**TINY, "hidden_size": "abc"}), "hidden_size must be an integer"),
        (json.dumps({**TINY, "num_attention_heads": 3}), "correct the config"),
        (json.dumps({**TINY, "dtype": "float99"}), "not a torch dtype"),
        (json.dumps({**TINY, "vocab_size": 10**15}), "more than this machine's"),
    ])
    def test_bad_config_json(self, capsys, tmp_path, content, fragment):
        config = tmp_path / "config.json"
        config.write_text(content)
        db = tmp_path / "r.db"
        code, _, err = _run(capsys, "seeds", "register", "--config", config, "--seeds", "0", "--registry", db)
        _one_line_error(code, err, fragment)
        assert not db.exists()

    def test_probe_options_with_like(self, capsys, tmp_path, config_file):
        like = next(seeds.fingerprint_seeds(TINY, [7], SPEC)).save(tmp_path / "like.fp.safetensors")
        code, _, err = _run(capsys, "seeds", "register", "--config", config_file, "--seeds", "0", "--registry",
                            tmp_path / "r.db", "--like", like, "--n", "77", "--length", "4")
        assert code == 2 and "--n, --length would be ignored: the probes are those of --like" in err, err
        assert not (tmp_path / "r.db").exists()

    def test_shared_options_have_their_one_default(self):
        """register's probe and model flags are the shared ones, with the defaults they have on fingerprint."""
        import inspect

        from seedprints.cli import fingerprint
        from seedprints.cli import seeds as cli_seeds

        shared = inspect.signature(fingerprint.fingerprint).parameters
        own = inspect.signature(cli_seeds.register).parameters
        offered = {"n", "length", "probe_seed", "vocab_bound", "device", "batch_size"}
        assert {name: own[name].default for name in offered} == {name: shared[name].default for name in offered}

    def test_like_a_directory(self, capsys, tmp_path, config_file):
        code, _, err = _run(capsys, "seeds", "register", "--config", config_file, "--seeds", "0", "--registry",
                            tmp_path / "r.db", "--like", tmp_path)
        _one_line_error(code, err, "is a directory; give the .fp.safetensors file")
        assert not (tmp_path / "r.db").exists()

    def test_like_made_from_a_probe_file(self, capsys, tmp_path, config_file):
        """seeds register has no --probe-file, so it must not advise passing one."""
        from seedprints.fingerprint import Fingerprint
        from seedprints.probe_files import load_probe_file

        (tmp_path / "probes.json").write_text(json.dumps({"token_ids": [[i, i + 1, i + 2] for i in range(20)]}))
        spec = load_probe_file(tmp_path / "probes.json").spec
        like = Fingerprint(hidden=np.zeros((20, 32), np.float32), spec=spec, model_id="m").save(tmp_path / "file.fp")
        code, _, err = _run(capsys, "seeds", "register", "--config", config_file, "--seeds", "0", "--registry",
                            tmp_path / "r.db", "--like", like)
        _one_line_error(code, err, "made from a probe file")
        assert "--probe-file" not in err and not (tmp_path / "r.db").exists()

    @pytest.mark.parametrize("args, fragment", [
        (["--name-prefix=-x"], "'-xseed-3' starts with '-', which seedprints commands would read as an option; "
                               "choose another --name-prefix"),
        (["--name-prefix", "a/"], "path separator; choose another --name-prefix"),
        (["--tag", "seed=9"], "set by seeds register itself"),
    ])
    def test_bad_names_and_tags_create_no_registry(self, capsys, tmp_path, config_file, args, fragment):
        code, _, err = _run(capsys, "seeds", "register", "--config", config_file, "--seeds", "1,3",
                            "--registry", tmp_path / "r.db", *args)
        _one_line_error(code, err, fragment)
        assert not (tmp_path / "r.db").exists()

    def test_repeated_tag_key(self, capsys, tmp_path, config_file):
        code, _, err = _run(capsys, "seeds", "register", "--config", config_file, "--seeds", "0",
                            "--registry", tmp_path / "r.db", "--tag", "lab=a", "--tag", "lab=b")
        assert code == 2 and "given twice" in err and not (tmp_path / "r.db").exists()

    def test_fifo_config_creates_no_registry(self, capsys, tmp_path):
        os.mkfifo(tmp_path / "config.json")
        code, _, err = _run(capsys, "seeds", "register", "--config", tmp_path / "config.json", "--seeds", "0",
                            "--registry", tmp_path / "r.db")
        _one_line_error(code, err, "not a regular file")
        assert not (tmp_path / "r.db").exists()

    def test_huge_seed_creates_no_registry(self, capsys, tmp_path, config_file):
        code, _, err = _run(capsys, "seeds", "register", "--config", config_file, "--seeds", "9" * 5000,
                            "--registry", tmp_path / "r.db")
        _one_line_error(code, err, "too large")
        assert not (tmp_path / "r.db").exists()

    def test_odd_config_gives_no_transformers_warning(self, capfd, tmp_path):
        """transformers logs through its own stderr handler, which only capfd sees."""
        config = tmp_path / "config.json"
        config.write_text(json.dumps({**TINY, "vocab_size": -5, "bos_token_id": 1, "eos_token_id": 2}))
        code = main(["seeds", "register", "--config", str(config), "--seeds", "0", "--registry", str(tmp_path / "r.db")])
        _one_line_error(code, capfd.readouterr().err, "vocab_size must be an integer of at least 2")
