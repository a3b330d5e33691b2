"""One model, one default spec in every format: a GGUF file's tokenizer length comes from its own token list (without
llama.cpp's padding placeholders), so it gets the spec of the Hugging Face directory it was converted from, and a
PEFT adapter gets its base's."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import gguf
import numpy as np
import pytest
import transformers

from seedprints import api
from seedprints.model.load import load_model
from seedprints.model.metadata import read_tokenizer_length
from seedprints.model.tokenizer import gguf_tokenizer_length, token_list_length
from seedprints.probes import ProbeSpec
from tests.conftest import TINY_VOCAB, _save, build_tokenizer, run, tiny_llama
from tests.gguf_files import llama_cpp_tokens, write_gguf

UNUSED, NORMAL = gguf.TokenType.UNUSED, gguf.TokenType.NORMAL
GEMMA_UNUSED = [f"<unused{i}>" for i in range(4)]  # real tokens of type UNUSED, at the end of the tokenizer
OPTIONS = api.ProbeOptions(n=64, length=8)


def _vocab(model_dir: Path) -> dict[str, int]:
    return transformers.AutoTokenizer.from_pretrained(model_dir).get_vocab()


def _spec(model: Path) -> ProbeSpec:
    spec = api.shared_default_spec([model], OPTIONS)
    assert isinstance(spec, ProbeSpec)
    return spec


def _gguf_in_dir(model_dir: Path, folder: Path, **kwargs) -> Path:
    """A folder holding one GGUF of ``model_dir`` (what an adapter's base may be)."""
    folder.mkdir()
    write_gguf(model_dir, folder / "model.gguf", **kwargs)
    return folder


@pytest.fixture(scope="module")
def hf_length(tiny_llama_dir) -> int:
    """The tiny Llama's tokenizer length, at least 16 rows short of its embedding rows (a padded vocabulary)."""
    length = max(_vocab(tiny_llama_dir).values()) + 1
    assert length + 16 <= TINY_VOCAB
    return length


@pytest.fixture(scope="module")
def gguf_file(tiny_llama_dir, tmp_path_factory) -> Path:
    """The tiny Llama as a Q8_0 GGUF whose token list has a ``[PAD<i>]`` UNUSED placeholder for every padded row."""
    tokens = llama_cpp_tokens(_vocab(tiny_llama_dir), TINY_VOCAB)
    return write_gguf(tiny_llama_dir, tmp_path_factory.mktemp("gguf") / "tiny-Q8_0.gguf", "Q8_0", tokens=tokens)


@pytest.fixture(scope="module")
def adapter_dir(tiny_llama_dir, tmp_path_factory) -> Path:
    """A LoRA adapter on the tiny Llama, saved without tokenizer files (as peft saves it)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM")
    target = tmp_path_factory.mktemp("adapter")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft calls a transformers method deprecated in v5
        model = get_peft_model(transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir), config)
    model.save_pretrained(target)
    assert not (target / "tokenizer.json").exists()
    return target


def _rebase(adapter: Path, target: Path, base: Path) -> Path:
    """A copy of ``adapter`` naming ``base`` as its base model."""
    shutil.copytree(adapter, target)
    config = json.loads((target / "adapter_config.json").read_text())
    (target / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": str(base)}))
    return target


class TestTokenListLength:
    @pytest.mark.parametrize(("names", "types", "length"), [
        ([b"a", b"b", b"[PAD2]", b"[PAD3]"], [NORMAL, NORMAL, UNUSED, UNUSED], 2),
        ([b"a", b"[PAD1]", b"b", b"[PAD3]"], [NORMAL, UNUSED, NORMAL, UNUSED], 3),  # a hole inside counts
        ([b"a", b"<unused0>", b"<unused1>", b"[PAD3]"], [NORMAL, UNUSED, UNUSED, UNUSED], 3),  # real UNUSED tokens
        ([b"a", b"[PAD1]", b"[PAD2]"], [NORMAL, UNUSED, NORMAL], 3),  # a [PAD<i>] of another type is a real token
        ([b"a", b"[PAD]", b"[PAD2]"], [NORMAL, UNUSED, UNUSED], 2),  # [PAD] without digits is a real token
        ([b"a", b"[PAD1]", b"[PAD2]"], None, 1),  # without types the name decides
        ([b"a", b"[PAD1]", b"[PAD2]"], [NORMAL], 1),  # so it does with a type list of another length
        ([b"[PAD0]", b"[PAD1]"], [UNUSED, UNUSED], None),
        ([], [], None),
    ])
    def test_only_the_trailing_placeholders_are_padding(self, names, types, length):
        assert token_list_length(names, types) == length

    def test_the_tensors_are_not_read(self, tmp_path):
        """A GGUF of 128 MiB of tensor data: reading its token list never raises resident memory by much (peak)."""
        status, clear_refs = Path("/proc/self/status"), Path("/proc/self/clear_refs")
        if not clear_refs.exists():
            pytest.skip("needs Linux's /proc to reset and read peak resident memory")
        file, size = tmp_path / "big.gguf", 128 << 20
        writer = gguf.GGUFWriter(str(file), "llama")
        writer.add_token_list(["a", "b", "[PAD2]"])
        writer.add_token_types([NORMAL, NORMAL, UNUSED])
        writer.add_tensor_info("token_embd.weight", [size // 4], np.dtype("float32"), size)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        writer.close()
        with file.open("ab") as handle:  # real bytes, not a sparse hole, so that reading them would be resident
            handle.write(bytes(size + 4096))

        def resident(key: str) -> int:
            line = next(x for x in status.read_text().splitlines() if x.startswith(f"{key}:"))
            return int(line.split()[1]) * 1024

        try:
            clear_refs.write_text("5")  # the peak (VmHWM) starts again from here
        except OSError:
            pytest.skip("cannot reset peak resident memory here")
        before = resident("VmRSS")
        assert gguf_tokenizer_length(file) == 2
        assert resident("VmHWM") - before < size // 4


class TestOneSpecInEveryFormat:
    def test_gguf_and_hf_dir_get_the_same_default_spec(self, tiny_llama_dir, gguf_file, hf_length):
        hf, converted = _spec(tiny_llama_dir), _spec(gguf_file)
        assert hf.kind == "token" and hf.untrained_from == hf_length and hf.scores_untrained_logits
        assert converted.hash == hf.hash and converted == hf
        assert read_tokenizer_length(gguf_file) == hf_length
        assert load_model(gguf_file).tokenizer_length == hf_length  # what `fingerprint` itself uses

    def test_fingerprints_made_apart_compare_same_lineage(self, capsys, tiny_llama_dir, gguf_file, tmp_path):
        hashes = []
        for model, name in ((tiny_llama_dir, "hf"), (gguf_file, "gguf")):
            out = tmp_path / f"{name}.fp.safetensors"
            code, stdout, err = run(capsys, "fingerprint", model, "-o", out, "--n", OPTIONS.n, "--length",
                                    OPTIONS.length, "--json")
            assert code == 0, err
            hashes.append(json.loads(stdout)["probe_hash"])
        assert hashes[0] == hashes[1] == _spec(tiny_llama_dir).hash
        code, stdout, err = run(capsys, "compare", tmp_path / "hf.fp.safetensors", tmp_path / "gguf.fp.safetensors",
                                "--json")
        assert code == 0, err
        result = json.loads(stdout)
        assert result["verdict"] == "same-lineage" and result["details"]["vocab_z"] > 5

    def test_real_unused_tokens_inside_the_vocabulary_count(self, tmp_path):
        tokenizer = build_tokenizer()
        tokenizer.add_tokens(GEMMA_UNUSED, special_tokens=True)
        model_dir = _save(tiny_llama(0), tokenizer, tmp_path / "gemma-like")
        vocab = _vocab(model_dir)
        length = max(vocab.values()) + 1
        tokens = llama_cpp_tokens(vocab, TINY_VOCAB, unused=GEMMA_UNUSED)
        assert tokens[length - 1] == ("<unused3>", UNUSED) and tokens[length] == (f"[PAD{length}]", UNUSED)
        file = write_gguf(model_dir, tmp_path / "gemma-like.gguf", tokens=tokens)
        assert gguf_tokenizer_length(file) == length
        assert _spec(file) == _spec(model_dir) and _spec(file).untrained_from == length

    def test_without_tokenizer_both_fall_back_alike(self, tiny_llama_dir, tmp_path):
        bare = tmp_path / "bare"
        bare.mkdir()
        for name in ("config.json", "model.safetensors"):
            shutil.copy(tiny_llama_dir / name, bare / name)
        file = write_gguf(tiny_llama_dir, tmp_path / "no-tokens.gguf")
        assert read_tokenizer_length(file) is None and load_model(file).tokenizer_length is None
        assert _spec(file) == _spec(bare) and _spec(file).untrained_from is None


class TestAdapters:
    def test_a_plain_adapter_gets_its_base_spec(self, adapter_dir, tiny_llama_dir, hf_length):
        assert _spec(adapter_dir) == _spec(tiny_llama_dir)
        assert load_model(adapter_dir).tokenizer_length == hf_length

    def test_an_adapter_on_a_gguf_gets_the_gguf_spec(self, adapter_dir, tiny_llama_dir, tmp_path, hf_length):
        base = _gguf_in_dir(tiny_llama_dir, tmp_path / "base", tokens=llama_cpp_tokens(_vocab(tiny_llama_dir), TINY_VOCAB))
        adapter = _rebase(adapter_dir, tmp_path / "adapter", base)
        assert _spec(adapter) == _spec(tiny_llama_dir)
        assert load_model(adapter).tokenizer_length == hf_length

    def test_an_adapter_with_its_own_tokenizer_gets_its_own(self, adapter_dir, tmp_path, hf_length):
        adapter = shutil.copytree(adapter_dir, tmp_path / "adapter")
        tokenizer = build_tokenizer()
        tokenizer.add_tokens(["<extra0>", "<extra1>"])
        tokenizer.save_pretrained(adapter)
        assert read_tokenizer_length(adapter) == load_model(adapter).tokenizer_length == hf_length + 2
        assert _spec(adapter).untrained_from == hf_length + 2

    def test_an_adapter_whose_tokenizer_does_not_load_has_none(self, adapter_dir, tmp_path):
        """Loading gives no tokenizer (not its base's), so the spec alone must not take its base's either."""
        adapter = shutil.copytree(adapter_dir, tmp_path / "adapter")
        (adapter / "tokenizer.json").write_text("{not json")
        assert read_tokenizer_length(adapter) is None and load_model(adapter).tokenizer_length is None


class _Vocab:
    """A stand-in tokenizer: only ``get_vocab`` is read."""

    def __init__(self, names: list[str]):
        self.names = names

    def get_vocab(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}


def test_a_tokenizer_rebuilt_from_a_gguf_drops_its_trailing_placeholders():
    from seedprints.model.tokenizer import tokenizer_length

    assert tokenizer_length(_Vocab(["a", "b", "[PAD2]", "[PAD3]"])) == 2
    assert tokenizer_length(_Vocab(["a", "[PAD1]", "b"])) == 3
    assert tokenizer_length(_Vocab(["a", "b"])) == 2
