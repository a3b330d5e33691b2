"""Tests of seedprints.model.sources and the loading policy: pickled weights, remote code, GGUF files, PEFT adapters."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from seedprints.cli import main
from seedprints.errors import ModelLoadError
from seedprints.model.fit import read_model_shape
from seedprints.model.forward import extract_hidden_states
from seedprints.model.load import load_model
from seedprints.model.sources import inspect_source, weights_digest
from seedprints.probes import generated, token_spec
from tests.gguf_files import write_gguf

TINY_VOCAB = 100


@pytest.fixture(scope="module")
def probes():
    return generated(token_spec(n=12, length=9, vocab_bound=TINY_VOCAB))


@pytest.fixture(scope="module")
def reference(tiny_llama_dir, probes) -> np.ndarray:
    return extract_hidden_states(load_model(tiny_llama_dir), probes)


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and "Traceback" not in err[0]
    return err[0]


# ----------------------------------------------------------------------------------------------------------------------
# Pickle policy and remote code


@pytest.fixture(scope="module")
def pickled_dir(tiny_llama_dir, tmp_path_factory) -> Path:
    """The tiny Llama saved as pytorch_model.bin only (no safetensors)."""
    target = tmp_path_factory.mktemp("pickled")
    model = transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir)
    model.config.save_pretrained(target)
    torch.save(model.state_dict(), target / "pytorch_model.bin")
    return target


class TestPicklePolicy:
    def test_pickled_only_is_refused(self, pickled_dir):
        with pytest.raises(ModelLoadError, match=r"pickled weights \(pytorch_model.bin\).*run code.*allow_pickle=True") as info:
            load_model(pickled_dir)
        assert str(pickled_dir) in str(info.value) and "\n" not in str(info.value)

    def test_allow_pickle_loads_the_same_model(self, pickled_dir, probes, reference):
        got = extract_hidden_states(load_model(pickled_dir, allow_pickle=True), probes)
        np.testing.assert_allclose(got, reference, atol=1e-6)

    def test_safetensors_beside_pickle_loads_without_the_flag(self, tiny_llama_dir, tmp_path, probes, reference):
        target = _copy(tiny_llama_dir, tmp_path / "both")
        (target / "pytorch_model.bin").write_bytes(b"not even a pickle")  # never opened
        np.testing.assert_allclose(extract_hidden_states(load_model(target), probes), reference, atol=1e-6)

    def test_cli_refuses_pickle_with_one_line_and_no_file(self, pickled_dir, tmp_path, capsys):
        out = tmp_path / "fp.safetensors"
        code = main(["fingerprint", str(pickled_dir), "-o", str(out), "--probe", "token", "--n", "10", "--length", "4"])
        assert code == 1 and "--allow-pickle" in _one_error_line(capsys)
        assert list(tmp_path.iterdir()) == []

    def test_cli_allow_pickle(self, pickled_dir, tmp_path):
        out = tmp_path / "fp.safetensors"
        args = ["fingerprint", str(pickled_dir), "-o", str(out), "--probe", "token", "--n", "10", "--length", "4"]
        assert main([*args, "--allow-pickle", "--json"]) == 0 and out.is_file()


class TestDirectoryChecks:
    def test_safetensors_without_config(self, tiny_llama_dir, tmp_path):
        target = tmp_path / "weights-only"
        target.mkdir()
        shutil.copy(tiny_llama_dir / "model.safetensors", target)
        with pytest.raises(ModelLoadError, match=r"holds safetensors weights but is not a Hugging Face model directory \(no config"):
            load_model(target)

    def test_safetensors_only_directory_loads(self, tiny_llama_dir, tmp_path, probes, reference):
        target = tmp_path / "plain"
        target.mkdir()
        for name in ("config.json", "model.safetensors"):
            shutil.copy(tiny_llama_dir / name, target)
        loaded = load_model(target)
        assert loaded.tokenizer is None
        np.testing.assert_allclose(extract_hidden_states(loaded, probes), reference, atol=1e-6)

    def test_trust_remote_code_warns_naming_the_directory(self, tiny_llama_dir):
        with pytest.warns(UserWarning, match=rf"trust_remote_code=True: Python code shipped in {tiny_llama_dir}"):
            load_model(tiny_llama_dir, trust_remote_code=True)

    def test_weights_digest_sees_changed_weights(self, tiny_llama_dir, tiny_llama_derived_dir):
        same = weights_digest([tiny_llama_dir / "model.safetensors"])
        assert same == weights_digest([tiny_llama_dir / "model.safetensors"])
        assert same != weights_digest([tiny_llama_derived_dir / "model.safetensors"])
        assert load_model(tiny_llama_dir).weights_digest != load_model(tiny_llama_derived_dir).weights_digest


# ----------------------------------------------------------------------------------------------------------------------
# GGUF


class TestGGUF:
    @pytest.mark.parametrize("qtype, tolerance", [("F32", 1e-5), ("Q8_0", 0.05)])
    def test_fingerprint_equals_the_hf_one(self, tiny_llama_dir, tmp_path, probes, reference, qtype, tolerance):
        file = write_gguf(tiny_llama_dir, tmp_path / f"tiny-{qtype}.gguf", qtype)
        loaded = load_model(file)
        assert type(loaded.module).__name__ == "LlamaModel" and loaded.model_id == str(file)
        got = extract_hidden_states(loaded, probes)
        np.testing.assert_allclose(got, reference, atol=tolerance)
        if qtype == "Q8_0":
            assert np.abs(got - reference).max() > 0  # really quantised
        head = transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir).lm_head.weight.detach()
        np.testing.assert_allclose(loaded.unembedding().numpy(), head.numpy(), atol=tolerance / 10)

    def test_directory_with_one_gguf_and_shape(self, tiny_llama_dir, tmp_path, probes, reference):
        write_gguf(tiny_llama_dir, tmp_path / "model.gguf")
        assert inspect_source(tmp_path).kind == "gguf"
        assert read_model_shape(tmp_path) == (32, TINY_VOCAB)
        np.testing.assert_allclose(extract_hidden_states(load_model(tmp_path), probes), reference, atol=1e-5)

    def test_several_gguf_files(self, tiny_llama_dir, tmp_path):
        for name in ("a.gguf", "b.gguf"):
            write_gguf(tiny_llama_dir, tmp_path / name)
        with pytest.raises(ModelLoadError, match="several GGUF files.*pass the one"):
            load_model(tmp_path)

    def test_unsupported_quantisation_type_is_named(self, tiny_llama_dir, tmp_path):
        file = write_gguf(tiny_llama_dir, tmp_path / "odd.gguf", raw_type="Q8_1")
        with pytest.raises(ModelLoadError, match=r"blk.0.ffn_up.weight as Q8_1, a quantisation type"):
            load_model(file)

    def test_unsupported_architecture_is_named(self, tiny_llama_dir, tmp_path):
        file = write_gguf(tiny_llama_dir, tmp_path / "odd.gguf", architecture="rwkv9")
        with pytest.raises(ModelLoadError, match=r"architecture 'rwkv9'.*does not support"):
            load_model(file)

    def test_not_a_gguf(self, tmp_path):
        file = tmp_path / "fake.gguf"
        file.write_bytes(b"GGUF but not really" * 4)
        with pytest.raises(ModelLoadError, match="not a readable GGUF file"):
            load_model(file)

    def test_cli_fingerprints_a_gguf_quietly(self, tiny_llama_dir, tmp_path, capsys):
        file = write_gguf(tiny_llama_dir, tmp_path / "tiny.gguf", "Q8_0")
        out = tmp_path / "fp.safetensors"
        assert main(["fingerprint", str(file), "-o", str(out), "--n", "10", "--length", "4", "--rare-tokens", "8", "--json"]) == 0
        captured = capsys.readouterr()
        assert json.loads(captured.out)["model_id"] == str(file) and captured.err == ""

    def test_cli_names_the_quantisation_type(self, tiny_llama_dir, tmp_path, capsys):
        file = write_gguf(tiny_llama_dir, tmp_path / "odd.gguf", raw_type="Q8_1")
        out = tmp_path / "fp.safetensors"
        assert main(["fingerprint", str(file), "-o", str(out), "--probe", "token", "--n", "10", "--length", "4"]) == 1
        assert "Q8_1" in _one_error_line(capsys) and not out.exists()


# ----------------------------------------------------------------------------------------------------------------------
# PEFT adapters


@pytest.fixture(scope="module")
def adapter(tiny_llama_dir, tmp_path_factory) -> tuple[Path, transformers.PreTrainedModel]:
    """A LoRA adapter (random non-zero B) on the tiny Llama, and the merged model it should give."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(3)
    base = transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft calls a transformers method deprecated in v5
        peft_model = get_peft_model(base, config)
    target = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(target)
    merged = peft_model.merge_and_unload().eval()
    return target, merged


class TestAdapters:
    def test_merged_on_load(self, adapter, probes, reference):
        path, merged = adapter
        assert json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
        loaded = load_model(path)
        assert type(loaded.module).__name__ == "LlamaModel" and loaded.model_id == str(path)
        got = extract_hidden_states(loaded, probes)
        np.testing.assert_allclose(got, extract_hidden_states(load_model(merged), probes), atol=1e-5)
        assert np.abs(got - reference).max() > 1e-3  # the adapter changed the model
        assert read_model_shape(path) == (32, TINY_VOCAB)

    def test_base_flag(self, adapter, tiny_llama_dir, tmp_path, probes):
        path = _copy(adapter[0], tmp_path / "adapter")
        config = json.loads((path / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = "someone/llama-on-the-hub"
        (path / "adapter_config.json").write_text(json.dumps(config))
        with pytest.raises(ModelLoadError, match=r"'someone/llama-on-the-hub', which is not a local directory.*base=DIR"):
            load_model(path)
        got = extract_hidden_states(load_model(path, base=tiny_llama_dir), probes)
        np.testing.assert_allclose(got, extract_hidden_states(load_model(adapter[1]), probes), atol=1e-5)

    def test_missing_base_dir(self, adapter, tmp_path):
        with pytest.raises(ModelLoadError, match=r"base model directory .* does not exist; pass base=DIR$"):
            load_model(adapter[0], base=tmp_path / "nope")

    def test_adapter_of_another_architecture(self, adapter, tiny_gpt2_dir):
        with pytest.raises(ModelLoadError, match=r"(cannot apply adapter|do not fit)"):
            load_model(adapter[0], base=tiny_gpt2_dir)

    def test_pickled_adapter_is_refused(self, adapter, tmp_path):
        path = _copy(adapter[0], tmp_path / "adapter")
        (path / "adapter_model.safetensors").unlink()
        (path / "adapter_model.bin").write_bytes(b"pickle")
        with pytest.raises(ModelLoadError, match=r"pickled adapter weights.*--allow-pickle"):
            load_model(path)

    def test_cli_adapter_without_base(self, adapter, tmp_path, capsys):
        path = _copy(adapter[0], tmp_path / "adapter")
        config = json.loads((path / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = str(tmp_path / "gone")
        (path / "adapter_config.json").write_text(json.dumps(config))
        out = tmp_path / "fp.safetensors"
        assert main(["fingerprint", str(path), "-o", str(out), "--probe", "token", "--n", "10", "--length", "4"]) == 1
        assert "--base" in _one_error_line(capsys) and not out.exists()


@pytest.mark.filterwarnings("default:--trust-remote-code:UserWarning")  # shown, as the CLI shows it, to be read on stderr
def test_cli_trust_remote_code_warns_in_one_line(tiny_llama_dir, tmp_path, capsys):
    out = tmp_path / "fp.safetensors"
    args = ["fingerprint", str(tiny_llama_dir), "-o", str(out), "--probe", "token", "--n", "10", "--length", "4"]
    assert main([*args, "--trust-remote-code", "--json"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"Warning: --trust-remote-code: Python code shipped in {tiny_llama_dir} may run with your permissions"]
