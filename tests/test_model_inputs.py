"""Broken model directories: each gets one clear error before anything is built, and nothing reaches the network."""

from __future__ import annotations

import json
import os
import shutil
import socket
import types
import warnings
from pathlib import Path

import pytest

from .conftest import assert_one_line_error, run
from seedprints.model import forward, load as extract, sources as formats
from seedprints.errors import ModelLoadError
from seedprints.model.config import validate_config
from seedprints.model.hf import offline_hub
from seedprints.model.load import load_model
from seedprints.probe_files import load_probe_file


def _copy(src: Path, dst: Path, **config_changes) -> Path:
    """A copy of a model directory with some config.json fields replaced."""
    shutil.copytree(src, dst)
    if config_changes:
        config = json.loads((dst / "config.json").read_text())
        config.update(config_changes)
        (dst / "config.json").write_text(json.dumps(config))
    return dst


def _fingerprint(capsys, model: Path, out: Path) -> tuple[int, str]:
    code, _, err = run(capsys, "fingerprint", model, "-o", out, "--n", 10, "--length", 8)
    return code, err


@pytest.fixture
def no_network(monkeypatch):
    """Any DNS look-up or socket connection fails the test loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError("seedprints tried the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


# ----------------------------------------------------------------------------------------------------------------------
# PEFT adapters and the hub


def _weightless_adapter(base: Path, where: Path) -> Path:
    where.mkdir(parents=True)
    config = {"peft_type": "LORA", "base_model_name_or_path": str(base), "r": 4, "target_modules": ["q_proj"]}
    (where / "adapter_config.json").write_text(json.dumps(config))
    return where


class TestAdapterWithoutWeights:
    def test_refused_before_any_lookup(self, tiny_llama_dir, tmp_path, monkeypatch, no_network):
        monkeypatch.chdir(tmp_path)
        _weightless_adapter(tiny_llama_dir, tmp_path / "ns" / "adapter")
        with pytest.raises(ModelLoadError, match=r"no adapter_model\.safetensors; copy"):
            load_model("ns/adapter")  # a relative path shaped like a hub id: the case that used to go online

    def test_cli_one_line_no_file(self, tiny_llama_dir, tmp_path, capsys, no_network):
        adapter = _weightless_adapter(tiny_llama_dir, tmp_path / "adapter")
        code, err = _fingerprint(capsys, adapter, tmp_path / "out.fp")
        assert_one_line_error(code, err, "no adapter_model.safetensors")
        assert not (tmp_path / "out.fp").exists()

    def test_junk_adapter_config_named(self, tmp_path):
        (tmp_path / "adapter").mkdir()
        (tmp_path / "adapter" / "adapter_config.json").write_text("[" * 100_000)
        with pytest.raises(ModelLoadError, match=r"adapter_config\.json is not valid JSON \(it nests too deeply\)"):
            load_model(tmp_path / "adapter")


class TestOfflineHub:
    def test_peft_hub_fallback_stays_offline(self, tmp_path, monkeypatch, no_network):
        from huggingface_hub import constants
        from peft.utils import load_peft_weights

        monkeypatch.chdir(tmp_path)
        (tmp_path / "ns" / "adapter").mkdir(parents=True)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        with pytest.raises(AssertionError, match="network"):  # without the guard peft asks the hub
            load_peft_weights("ns/adapter", device="cpu")
        with offline_hub(), pytest.raises(Exception) as caught:
            load_peft_weights("ns/adapter", device="cpu")
        assert not isinstance(caught.value, AssertionError)
        assert constants.HF_HUB_OFFLINE is False and "HF_HUB_OFFLINE" not in os.environ

    def test_model_loads_run_offline(self, tiny_llama_dir, monkeypatch):
        from huggingface_hub import constants

        seen = []
        original = extract._from_pretrained
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

        def spy(*args, **kwargs):
            seen.append((constants.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")))
            return original(*args, **kwargs)

        monkeypatch.setattr(extract, "_from_pretrained", spy)
        load_model(tiny_llama_dir)
        assert seen == [(True, "1")]
        assert constants.HF_HUB_OFFLINE is False


# ----------------------------------------------------------------------------------------------------------------------
# Config and index files


class TestConfigFiles:
    def test_junk_shard_index(self, tiny_llama_dir, tmp_path, capsys):
        model = _copy(tiny_llama_dir, tmp_path / "m")
        (model / "model.safetensors.index.json").write_text("{junk")
        with pytest.raises(ModelLoadError, match=r"index\.json is not valid JSON .*re-download"):
            load_model(model)
        code, err = _fingerprint(capsys, model, tmp_path / "out.fp")
        assert_one_line_error(code, err, "model.safetensors.index.json is not valid JSON")
        assert not (tmp_path / "out.fp").exists()

    def test_shard_index_without_weight_map(self, tiny_llama_dir, tmp_path):
        model = _copy(tiny_llama_dir, tmp_path / "m")
        (model / "model.safetensors.index.json").write_text('{"metadata": {}}')
        with pytest.raises(ModelLoadError, match=r"index\.json has no weight_map object"):
            load_model(model)

    def test_config_with_huge_integer(self, tiny_llama_dir, tmp_path):
        model = _copy(tiny_llama_dir, tmp_path / "m")
        (model / "config.json").write_text('{"model_type": "llama", "hidden_size": ' + "9" * 5000 + "}")
        with pytest.raises(ModelLoadError, match=r"config\.json is not valid JSON \(it holds an integer too long"):
            load_model(model)

    def test_model_type_must_be_a_string(self, tiny_llama_dir, tmp_path):
        model = _copy(tiny_llama_dir, tmp_path / "m", model_type=["llama"])
        with pytest.raises(ModelLoadError, match=r"model_type as list \['llama'\]; it must be a string"):
            load_model(model)

    def test_unknown_dtype_named(self, tiny_llama_dir, tmp_path):
        model = _copy(tiny_llama_dir, tmp_path / "m", dtype="float99")
        with pytest.raises(ModelLoadError, match=r"dtype 'float99', which is not a torch dtype; set it to"):
            load_model(model)

    def test_width_given_as_text(self, tiny_llama_dir, tmp_path):
        model = _copy(tiny_llama_dir, tmp_path / "m", hidden_size="abc")
        with pytest.raises(ModelLoadError, match=r"sets hidden_size to 'abc'; it must be a positive integer"):
            load_model(model)

    def test_transformers_validation_reason_is_kept(self, tiny_llama_dir, tmp_path):
        model = _copy(tiny_llama_dir, tmp_path / "m", intermediate_size="abc")
        with pytest.raises(ModelLoadError, match=r"'intermediate_size': TypeError: .*expected int.*; fix config\.json"):
            load_model(model)

    def test_fifo_as_model_path(self, tmp_path):
        fifo = tmp_path / "model"
        os.mkfifo(fifo)
        with pytest.raises(ModelLoadError, match=r"not a regular file or directory \(a pipe or device\)"):
            load_model(fifo)


class TestImpossibleConfig:
    @pytest.mark.parametrize(
        ("field", "value"), [("hidden_size", 0), ("num_hidden_layers", 0), ("vocab_size", -5), ("num_attention_heads", 0)]
    )
    def test_refused_before_building(self, tiny_llama_dir, tmp_path, field, value):
        model = _copy(tiny_llama_dir, tmp_path / "m", **{field: value})
        with pytest.raises(ModelLoadError, match=rf"sets {field} to {value}; it must be a positive integer"):
            load_model(model)

    def test_cli_prints_only_the_error(self, tiny_llama_dir, tmp_path, capsys):
        model = _copy(tiny_llama_dir, tmp_path / "m", hidden_size=0)
        code, err = _fingerprint(capsys, model, tmp_path / "out.fp")
        assert_one_line_error(code, err, "sets hidden_size to 0")
        assert not (tmp_path / "out.fp").exists()

    def test_heads_must_divide_the_width(self):
        config = types.SimpleNamespace(hidden_size=32, num_attention_heads=3, num_hidden_layers=2, vocab_size=100)
        with pytest.raises(ModelLoadError, match=r"hidden_size 32, which num_attention_heads 3 does not divide"):
            validate_config(config, "cfg.json")
        validate_config(types.SimpleNamespace(**{**vars(config), "head_dim": 16}), "cfg.json")  # explicit head_dim


# ----------------------------------------------------------------------------------------------------------------------
# Config against checkpoint


class TestConfigAgainstWeights:
    @pytest.mark.parametrize(
        ("change", "fragment"),
        [
            ({"vocab_size": 50}, "model.embed_tokens.weight is [100, 32] in the checkpoint but [50, 32] by config.json"),
            ({"hidden_size": 64}, "model.embed_tokens.weight is [100, 32] in the checkpoint but [100, 64]"),
            ({"vocab_size": 10**12}, "but [1000000000000, 32] by config.json"),
        ],
    )
    def test_shape_mismatch_names_the_tensor(self, tiny_llama_dir, tmp_path, capsys, change, fragment):
        model = _copy(tiny_llama_dir, tmp_path / "m", **change)
        code, err = _fingerprint(capsys, model, tmp_path / "out.fp")
        assert_one_line_error(code, err, fragment, "fix config.json")
        assert "above report" not in err and not (tmp_path / "out.fp").exists()

    def test_mismatch_found_by_transformers_still_one_line(self, tiny_llama_dir, tmp_path, monkeypatch):
        model = _copy(tiny_llama_dir, tmp_path / "m", vocab_size=50)
        monkeypatch.setattr(formats, "safetensors_shapes", lambda files: None)  # skip our own check
        with pytest.raises(ModelLoadError, match=r"tensor shapes in .* do not match its config") as caught:
            load_model(model)
        assert "above report" not in str(caught.value) and "\n" not in str(caught.value)

    def test_tensors_beyond_the_config_are_refused(self, tiny_llama_dir, tmp_path, capsys):
        model = _copy(tiny_llama_dir, tmp_path / "m", num_hidden_layers=1)
        with pytest.raises(ModelLoadError, match=r"hold 9 tensor\(s\) the config does not describe \(e\.g\. model\.layers\.1\."):
            load_model(model)
        code, err = _fingerprint(capsys, model, tmp_path / "out.fp")
        assert_one_line_error(code, err, "the config does not match the checkpoint")

    @pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_bert_dir", "tiny_gpt2_dir"])
    def test_task_heads_are_not_unused_tensors(self, fixture, request):
        assert load_model(request.getfixturevalue(fixture)).hidden_size == 32  # lm_head / cls.* stay unread


# ----------------------------------------------------------------------------------------------------------------------
# Files that are pipes, and broken tokenizers


def _text_probe_file(tmp_path: Path) -> Path:
    path = tmp_path / "texts.txt"
    path.write_text("".join(f"the quick brown fox number {i}\n" for i in range(12)))
    return path


def _fingerprint_texts(capsys, model: Path, tmp_path: Path) -> tuple[int, str]:
    code, _, err = run(capsys, "fingerprint", model, "-o", tmp_path / "out.fp", "--probe-file", _text_probe_file(tmp_path))
    return code, err


class TestSpecialFilesInModelFolder:
    @pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
    def test_pipe_is_named_not_taken_for_absent(self, tiny_llama_dir, tmp_path, capsys, fifo, name):
        model = _copy(tiny_llama_dir, tmp_path / "m")
        (model / name).unlink()
        fifo.rename(model / name)
        with pytest.raises(ModelLoadError, match=rf"{name} is not a regular file \(a pipe or device\); replace it"):
            load_model(model)
        code, err = _fingerprint(capsys, model, tmp_path / "out.fp")
        assert_one_line_error(code, err, f"{name} is not a regular file")
        assert "no weights" not in err and "no config.json" not in err and not (tmp_path / "out.fp").exists()


class TestBrokenTokenizer:
    def test_silent_at_load_and_for_token_probes(self, tiny_llama_dir, tmp_path, capsys):
        model = _copy(tiny_llama_dir, tmp_path / "m")
        (model / "tokenizer.json").write_text("{junk")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loaded = load_model(model)
        assert loaded.tokenizer is None and "tokenizer.json is not valid JSON" in loaded.tokenizer_error
        code, _, err = run(capsys, "fingerprint", model, "-o", tmp_path / "out.fp", "--n", 10, "--length", 8)
        assert code == 0 and err.strip() == "", err

    def test_text_probes_name_the_junk_file(self, tiny_llama_dir, tmp_path, capsys):
        model = _copy(tiny_llama_dir, tmp_path / "m")
        (model / "tokenizer.json").write_text("{junk")
        code, err = _fingerprint_texts(capsys, model, tmp_path)
        assert_one_line_error(code, err, f"{model / 'tokenizer.json'} is not valid JSON", "or use token probes")
        assert "has none" not in err and not (tmp_path / "out.fp").exists()

    def test_pipe_tokenizer_file(self, tiny_llama_dir, tmp_path, capsys, fifo):
        model = _copy(tiny_llama_dir, tmp_path / "m")
        (model / "tokenizer.json").unlink()
        fifo.rename(model / "tokenizer.json")
        code, err = _fingerprint_texts(capsys, model, tmp_path)
        assert_one_line_error(code, err, "tokenizer.json is not a regular file (a pipe or device)")

    def test_whole_reason_is_kept(self, tiny_llama_dir, tmp_path, monkeypatch):
        import transformers

        def fail(*args, **kwargs):
            raise ValueError("cannot build it from one of:\n(1) a serialization file,\n(2) a slow tokenizer.")

        monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fail)
        loaded = load_model(tiny_llama_dir)
        with pytest.raises(ModelLoadError) as caught:
            forward.extract_hidden_states(loaded, load_probe_file(_text_probe_file(tmp_path)))
        message = str(caught.value)
        assert "ValueError: cannot build it from one of: (1) a serialization file, (2) a slow tokenizer;" in message
        assert "\n" not in message and "(tokenizer.json, tokenizer_config.json" in message


class TestProbesFromAReference:
    def test_compare_advises_re_fingerprinting(self, tiny_llama_dir, tiny_gpt2_dir, tmp_path, capsys):
        long = tmp_path / "long.fp"
        assert run(capsys, "fingerprint", tiny_llama_dir, "-o", long, "--probe", "token", "--n", 10, "--length", 80)[0] == 0
        code, _, err = run(capsys, "compare", long, tiny_gpt2_dir)
        assert_one_line_error(code, err, "length 80 exceed the 64 positions",
                              f"the probes come from fingerprint {long}, so re-fingerprint that reference with --length 64 or less")

    def test_identify_names_the_registry(self, tiny_llama_dir, tiny_gpt2_dir, tmp_path, capsys):
        long, registry = tmp_path / "long.fp", tmp_path / "reg.db"
        assert run(capsys, "fingerprint", tiny_llama_dir, "-o", long, "--probe", "token", "--n", 30, "--length", 80)[0] == 0
        assert run(capsys, "registry", "add", long, "--name", "long", "--registry", registry)[0] == 0
        code, _, err = run(capsys, "identify", tiny_gpt2_dir, "--registry", registry)
        assert_one_line_error(code, err, f"the probes come from registry {registry}, so re-fingerprint")


class TestSavedBuffers:
    """Buffers older checkpoints saved (position_ids, rotary inv_freq, GPT-2's causal mask) are not refused as
    tensors the config does not describe: transformers rebuilds them, and famous checkpoints carry them."""

    @pytest.mark.parametrize(("fixture", "anchor", "buffer", "shape"), [
        ("tiny_llama_dir", "layers.0.self_attn.q_proj.weight", "layers.0.self_attn.rotary_emb.inv_freq", (4,)),
        ("tiny_gpt2_dir", "h.0.attn.c_attn.weight", "h.0.attn.bias", (1, 1, 8, 8)),
        ("tiny_gpt2_dir", "h.0.attn.c_attn.weight", "h.0.attn.masked_bias", ()),
        ("tiny_bert_dir", "embeddings.word_embeddings.weight", "embeddings.position_ids", (1, 8)),
    ])
    def test_extra_saved_buffers_load(self, request, tmp_path, fixture, anchor, buffer, shape):
        import shutil

        import torch
        from safetensors.torch import load_file, save_file

        model = tmp_path / "model"
        shutil.copytree(request.getfixturevalue(fixture), model)
        weights = load_file(model / "model.safetensors")
        key = next(k for k in weights if k.endswith(anchor))
        weights[key[: -len(anchor)] + buffer] = torch.zeros(shape)
        save_file(weights, model / "model.safetensors", metadata={"format": "pt"})
        assert load_model(model).hidden_size == 32


def test_a_tokenizer_is_built_once_per_comparison_and_again_for_the_next(tiny_llama_dir, tiny_llama_derived_dir, monkeypatch):
    """compare reads both tokenizers for the spec and again to load the models: within one call, tokenizer files of
    the same content (a derivative ships its base's) are built once; a later call builds anew (an edited tokenizer is
    never served from an old call)."""
    import transformers

    import seedprints
    from seedprints.api import ProbeOptions

    built: list[str] = []
    original = transformers.AutoTokenizer.from_pretrained

    def counting(path, *args, **kwargs):
        built.append(str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", counting)
    small = ProbeOptions(n=20, length=8)
    seedprints.compare(tiny_llama_dir, tiny_llama_derived_dir, options=small)
    assert (tiny_llama_dir / "tokenizer.json").read_bytes() == (tiny_llama_derived_dir / "tokenizer.json").read_bytes()
    assert built == [str(tiny_llama_dir)]
    seedprints.compare(tiny_llama_dir, tiny_llama_derived_dir, options=small)
    assert built == [str(tiny_llama_dir)] * 2


def test_tokenizers_are_shared_by_content_not_by_name(tiny_llama_dir, tmp_path):
    """Within one scope, a copy with the same tokenizer files gets the same tokenizer; one with other bytes in a
    tokenizer file gets its own."""
    import json

    from seedprints.model.reuse import reusing_tokenizers
    from seedprints.model.tokenizer import load_tokenizer

    same, other = tmp_path / "same", tmp_path / "other"
    shutil.copytree(tiny_llama_dir, same)
    shutil.copytree(tiny_llama_dir, other)
    (other / "tokenizer.json").write_text(json.dumps(json.loads((other / "tokenizer.json").read_text()), indent=1))
    with reusing_tokenizers():
        first = load_tokenizer(tiny_llama_dir, False)[0]
        assert load_tokenizer(same, False)[0] is first
        assert load_tokenizer(other, False)[0] is not first
    assert load_tokenizer(same, False)[0] is not first  # outside the scope nothing is kept


@pytest.mark.parametrize(("content", "fragment"), [
    (b"<html><body>Not Found</body></html>\n", "is not a safetensors file (it starts with text, not a safetensors header"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 12\n", "is a Git LFS pointer, not the weights; run `git lfs pull`"),
    (b"\x00\x01\x02", "is not a safetensors file (it starts with data"),
    (None, "is cut short: its header alone needs"),
])
def test_a_weight_file_that_is_not_safetensors_gets_our_words(capsys, tiny_llama_dir, tmp_path, content, fragment):
    """Text, a Git LFS pointer, junk or a cut download under model.safetensors: one line that says which, before the
    library's own message ("header too small") can reach the user."""
    model = tmp_path / "model"
    shutil.copytree(tiny_llama_dir, model)
    weights = model / "model.safetensors"
    weights.write_bytes(content if content is not None else weights.read_bytes()[:200])
    code, _, err = run(capsys, "fingerprint", model, "-o", tmp_path / "out.fp", "--n", 20, "--length", 8)
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "out.fp").exists()
