"""Tests of the model layer (seedprints.model): loading local models and reading last-position hidden states."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
import transformers

from seedprints.errors import ModelLoadError, NonFiniteHiddenStatesError, UsageError
from seedprints.model.forward import extract_hidden_states
from seedprints.model.load import load_model
from seedprints.model.loaded import LoadedModel
from seedprints.model.metadata import model_metadata
from seedprints.probe_files import load_probe_file
from seedprints.probes import embedding_spec, generated, token_spec

TINY_VOCAB = 100  # the conftest models' vocabulary and width
TINY_WIDTH = 32
WORDS = "the quick brown fox jumps over the lazy dog while a small cat sleeps in warm sun"


@pytest.fixture(scope="module")
def llama(tiny_llama_dir) -> LoadedModel:
    return load_model(tiny_llama_dir)


@pytest.fixture(scope="module")
def token_probes():
    return generated(token_spec(n=12, length=9, vocab_bound=TINY_VOCAB))


def _token_file(tmp_path, rows):
    path = tmp_path / "probes.json"
    path.write_text(json.dumps({"token_ids": rows}))
    return load_probe_file(path)


def _text_file(tmp_path, texts):
    path = tmp_path / "probes.json"
    path.write_text(json.dumps({"texts": texts}))
    return load_probe_file(path)


def _ragged_rows(count=11, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, TINY_VOCAB, size=int(rng.integers(1, 20))).tolist() for _ in range(count)]


def _texts(count=11):
    words = WORDS.split()
    return [" ".join(words[i : i + 1 + (3 * i) % 9]) for i in range(count)]


def _alone(module, ids) -> np.ndarray:
    """Reference: run one unpadded row by itself and take its last position."""
    with torch.no_grad():
        out = module(input_ids=torch.tensor([ids], dtype=torch.long)).last_hidden_state
    return out[0, -1].float().numpy()


class TestTokenProbes:
    def test_last_position_matches_manual(self, tiny_llama_dir, llama, token_probes):
        reference = transformers.LlamaModel.from_pretrained(tiny_llama_dir, dtype=torch.float32).eval()
        ids = torch.from_numpy(np.stack(token_probes.token_ids(0, len(token_probes))))
        with torch.no_grad():
            expected = reference(input_ids=ids).last_hidden_state[:, -1].numpy()
        got = extract_hidden_states(llama, token_probes)
        assert got.dtype == np.float32 and got.shape == (12, TINY_WIDTH)
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)

    @pytest.mark.parametrize("batch_size", [1, 5, 64])
    def test_batch_size_does_not_matter(self, llama, token_probes, batch_size):
        base = extract_hidden_states(llama, token_probes, batch_size=4)
        np.testing.assert_allclose(extract_hidden_states(llama, token_probes, batch_size=batch_size), base, atol=1e-5)

    def test_vocab_bound_too_large(self, llama):
        probes = generated(token_spec(n=10, length=4, vocab_bound=32000))
        with pytest.raises(UsageError, match=r"32000.*100.*use vocab_bound=100 or less when fingerprinting"):
            extract_hidden_states(llama, probes)
        with pytest.raises(UsageError, match=r"come from registry entry base, so re-fingerprint that reference "
                                             r"with vocab_bound=100 or less$"):
            extract_hidden_states(llama, probes, probe_origin="registry entry base")

    def test_longer_than_position_table(self, tiny_gpt2_dir):
        probes = generated(token_spec(n=10, length=65, vocab_bound=TINY_VOCAB))
        with pytest.raises(UsageError, match=r"length 65 exceed the 64 positions") as caught:
            extract_hidden_states(load_model(tiny_gpt2_dir), probes)
        assert "use length=64 or less when fingerprinting" in str(caught.value)
        assert "registry entry, re-fingerprint that reference with length=64 or less" in str(caught.value)

    def test_probes_from_a_reference_get_reference_advice(self, tiny_gpt2_dir):
        probes = generated(token_spec(n=10, length=65, vocab_bound=TINY_VOCAB))
        with pytest.raises(UsageError) as caught:
            extract_hidden_states(load_model(tiny_gpt2_dir), probes, probe_origin="fingerprint long.fp")
        assert str(caught.value).endswith(
            "; the probes come from fingerprint long.fp, so re-fingerprint that reference with length=64 or less"
        )

    def test_bad_batch_size(self, llama, token_probes):
        with pytest.raises(UsageError, match="batch_size"):
            extract_hidden_states(llama, token_probes, batch_size=0)

    def test_progress_bar(self, llama, token_probes, capsys):
        got = extract_hidden_states(llama, token_probes, progress=True, batch_size=5)
        assert got.shape == (12, TINY_WIDTH)
        assert capsys.readouterr().out == ""


class TestRaggedProbes:
    def test_token_file_rows_equal_each_row_alone(self, tmp_path, llama):
        rows = _ragged_rows()
        got = extract_hidden_states(llama, _token_file(tmp_path, rows), batch_size=4)
        expected = np.stack([_alone(llama.module, r) for r in rows])
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)

    def test_token_file_id_out_of_vocab(self, tmp_path, llama):
        rows = _ragged_rows()
        rows[3][0] = 150
        with pytest.raises(UsageError, match=r"150.*100 token embeddings; use a probe file whose ids stay below 100"):
            extract_hidden_states(llama, _token_file(tmp_path, rows))

    def test_probe_file_rows_too_long_get_no_length_option(self, tmp_path, tiny_gpt2_dir):
        rows = _ragged_rows()
        rows[2] = [5] * 70
        with pytest.raises(UsageError, match=r"length 70 exceed the 64 positions .*; use a probe file whose rows have "
                                             r"at most 64 tokens when fingerprinting") as caught:
            extract_hidden_states(load_model(tiny_gpt2_dir), _token_file(tmp_path, rows))
        assert "--length" not in str(caught.value)

    def test_text_file_uses_the_tokenizer(self, tmp_path, llama):
        texts = _texts()
        got = extract_hidden_states(llama, _text_file(tmp_path, texts), batch_size=3)
        expected = np.stack([_alone(llama.module, llama.tokenizer(t)["input_ids"]) for t in texts])
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)

    def test_text_needs_a_tokenizer(self, tmp_path, tiny_llama_dir):
        loaded = load_model(transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir))
        assert loaded.tokenizer is None
        with pytest.raises(UsageError, match="tokenizer"):
            extract_hidden_states(loaded, _text_file(tmp_path, _texts()))


class TestEmbeddingProbes:
    def test_matches_manual_inputs_embeds(self, llama):
        probes = generated(embedding_spec(n=10, length=6, hidden_size=TINY_WIDTH))
        embeds = torch.from_numpy(probes.embeddings(0, 10))
        with torch.no_grad():
            expected = llama.module(inputs_embeds=embeds).last_hidden_state[:, -1].numpy()
        np.testing.assert_allclose(extract_hidden_states(llama, probes, batch_size=3), expected, atol=1e-5, rtol=1e-5)

    def test_width_mismatch(self, llama):
        probes = generated(embedding_spec(n=10, length=6, hidden_size=64))
        with pytest.raises(UsageError, match=r"d=64.*hidden size 32"):
            extract_hidden_states(llama, probes)


@pytest.fixture(scope="module")
def half_dirs(tiny_llama_dir, tmp_path_factory):
    """The tiny Llama saved in bfloat16 and in float16 (config dtype set accordingly)."""
    model = transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    dirs = {}
    for dtype in (torch.bfloat16, torch.float16):
        path = tmp_path_factory.mktemp(str(dtype).removeprefix("torch."))
        model.to(dtype).save_pretrained(path)
        assert json.loads((path / "config.json").read_text()).get("dtype", str(dtype)).endswith(str(dtype)[6:])
        dirs[dtype] = path
    return dirs


class TestDtype:
    @pytest.mark.parametrize("stored", [torch.bfloat16, torch.float16])
    def test_auto_runs_half_checkpoints_in_bf16(self, half_dirs, stored, token_probes, monkeypatch):
        """Where bfloat16 is native (a GPU, or a CPU like this one pretends to be); test_precision covers the rest."""
        monkeypatch.setattr("seedprints.model.precision.cpu_has_native_bf16", lambda: True)
        loaded = load_model(half_dirs[stored])
        assert loaded.dtype == torch.bfloat16
        assert next(loaded.module.parameters()).dtype == torch.bfloat16
        assert model_metadata(loaded)["dtype"] == "bfloat16"
        got = extract_hidden_states(loaded, token_probes)
        assert got.dtype == np.float32 and np.isfinite(got).all()

    def test_auto_keeps_fp32_checkpoints(self, llama):
        assert llama.dtype == torch.float32

    def test_explicit_dtype_wins(self, half_dirs):
        loaded = load_model(half_dirs[torch.bfloat16], dtype="float32")
        assert loaded.dtype == torch.float32 and next(loaded.module.parameters()).dtype == torch.float32

    def test_unknown_dtype(self, tiny_llama_dir):
        with pytest.raises(UsageError, match="unknown dtype 'int8'"):
            load_model(tiny_llama_dir, dtype="int8")

    @pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
    def test_cuda_unavailable(self, tiny_llama_dir):
        with pytest.raises(UsageError, match="CUDA is not available"):
            load_model(tiny_llama_dir, device="cuda")


class TestNonFinite:
    def test_inf_weights_are_reported(self, tiny_llama_dir, token_probes):
        model = transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
        with torch.no_grad():
            model.model.layers[0].mlp.down_proj.weight.fill_(float("inf"))
        loaded = load_model(model)
        with pytest.raises(NonFiniteHiddenStatesError, match="NaN/Inf.*float32"):
            extract_hidden_states(loaded, token_probes)

    def test_bf16_hint_suggests_float32(self, tiny_llama_dir, token_probes):
        model = transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
        with torch.no_grad():
            model.model.norm.weight.fill_(float("nan"))
        loaded = load_model(model, dtype="bfloat16")
        with pytest.raises(NonFiniteHiddenStatesError, match=r"bfloat16.*dtype='float32'"):
            extract_hidden_states(loaded, token_probes)


class TestLoadErrors:
    @pytest.fixture
    def copy(self, tiny_llama_dir, tmp_path):
        target = tmp_path / "model"
        shutil.copytree(tiny_llama_dir, target)
        return target

    def _fails(self, path, pattern, **kwargs) -> ModelLoadError:
        with pytest.raises(ModelLoadError, match=pattern) as info:
            load_model(path, **kwargs)
        message = str(info.value)
        assert "\n" not in message and str(path) in message
        return info.value

    def test_missing_directory(self, tmp_path):
        self._fails(tmp_path / "nope", "does not exist.*Hub id")

    def test_file_not_directory(self, tmp_path):
        path = tmp_path / "model.safetensors"
        path.write_bytes(b"x")
        self._fails(path, "is a file, not a model directory")

    def test_no_config(self, tmp_path):
        self._fails(tmp_path, r"not a Hugging Face model directory \(no config.json\)")

    def test_corrupt_config(self, copy):
        (copy / "config.json").write_text("{not json")
        error = self._fails(copy, "not valid JSON")
        assert error.__cause__ is not None

    def test_unknown_model_type(self, copy):
        (copy / "config.json").write_text('{"model_type": "no-such-arch"}')
        self._fails(copy, "model_type 'no-such-arch'.*upgrade transformers")

    def test_config_without_model_type(self, copy):
        (copy / "config.json").write_text('{"hidden_size": 32}')
        self._fails(copy, "no model_type")

    def test_missing_weights(self, copy):
        (copy / "model.safetensors").unlink()
        error = self._fails(copy, "no weights")
        assert isinstance(error.__cause__, OSError)

    def test_corrupt_weights(self, copy):
        (copy / "model.safetensors").write_bytes(b"garbage" * 10)
        self._fails(copy, "is not a safetensors file")

    def test_weights_of_another_model(self, copy):
        from safetensors.torch import save_file

        save_file({"unrelated": torch.zeros(2)}, str(copy / "model.safetensors"), metadata={"format": "pt"})
        self._fails(copy, r"lack \d+ tensor.*randomly initialised")

    def test_remote_code_needs_consent(self, copy):
        config = json.loads((copy / "config.json").read_text())
        config.update(model_type="my-custom", auto_map={"AutoConfig": "configuration_my.MyConfig"})
        (copy / "config.json").write_text(json.dumps(config))
        self._fails(copy, "--trust-remote-code.*only if you trust")

    def test_is_a_model_load_error_and_oserror(self, tmp_path):
        with pytest.raises(OSError):
            load_model(tmp_path / "nope")


class TestInMemory:
    def test_pretrained_model_with_head_uses_base_model(self, tiny_llama_dir, llama, token_probes):
        model = transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
        loaded = load_model(model)
        assert type(loaded.module).__name__ == "LlamaModel"
        assert loaded.hidden_size == TINY_WIDTH and loaded.vocab_size == TINY_VOCAB and not loaded.is_encoder
        assert loaded.revision == "in-memory"
        np.testing.assert_allclose(
            extract_hidden_states(loaded, token_probes), extract_hidden_states(llama, token_probes), atol=1e-6
        )

    def test_plain_module_infers_width(self, token_probes):
        class Toy(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = torch.nn.Embedding(TINY_VOCAB, 8)
                self.mix = torch.nn.Linear(8, 8)

            def forward(self, input_ids, attention_mask=None):
                return torch.tanh(self.mix(self.embed(input_ids).cumsum(dim=1)))

        toy = Toy()
        loaded = load_model(toy)
        assert loaded.hidden_size == 8 and loaded.config is None and loaded.vocab_size is None
        got = extract_hidden_states(loaded, token_probes)
        ids = torch.from_numpy(np.stack(token_probes.token_ids(0, len(token_probes))))
        with torch.no_grad():
            np.testing.assert_allclose(got, toy(ids)[:, -1].numpy(), atol=1e-6)
        assert model_metadata(loaded)["architecture"] == "Toy"


class TestOtherArchitectures:
    def test_gpt2(self, tiny_gpt2_dir, token_probes, tmp_path):
        loaded = load_model(tiny_gpt2_dir)
        assert type(loaded.module).__name__ == "GPT2Model" and not loaded.is_encoder
        assert loaded.hidden_size == TINY_WIDTH and loaded.vocab_size == TINY_VOCAB
        ids = torch.from_numpy(np.stack(token_probes.token_ids(0, len(token_probes))))
        with torch.no_grad():
            expected = loaded.module(input_ids=ids).last_hidden_state[:, -1].numpy()
        np.testing.assert_allclose(extract_hidden_states(loaded, token_probes, batch_size=5), expected, atol=1e-5)
        rows = _ragged_rows()
        got = extract_hidden_states(loaded, _token_file(tmp_path, rows), batch_size=4)
        np.testing.assert_allclose(got, np.stack([_alone(loaded.module, r) for r in rows]), atol=1e-5)

    def test_bert_uses_the_sep_position(self, tiny_bert_dir, tmp_path):
        loaded = load_model(tiny_bert_dir)
        assert type(loaded.module).__name__ == "BertModel" and loaded.is_encoder
        texts = _texts()
        encoded = [loaded.tokenizer(t)["input_ids"] for t in texts]
        assert all(ids[0] == 2 and ids[-1] == 3 for ids in encoded)  # [CLS] ... [SEP]
        got = extract_hidden_states(loaded, _text_file(tmp_path, texts), batch_size=4)
        np.testing.assert_allclose(got, np.stack([_alone(loaded.module, ids) for ids in encoded]), atol=1e-5)
        assert model_metadata(loaded)["model_type"] == "bert"


class TestMetadata:
    def test_fields_are_strings(self, tiny_llama_dir, llama):
        meta = model_metadata(llama)
        assert set(meta) == {
            "model_revision", "config_hash", "dtype", "dtype_reason", "model_type", "architecture", "num_layers", "vocab_size",
            "tokenizer_hash", "transformers_version", "torch_version", "device",
        }
        vocab = json.dumps(llama.tokenizer.get_vocab(), sort_keys=True, ensure_ascii=False)
        assert meta["tokenizer_hash"] == hashlib.sha256(vocab.encode()).hexdigest()[:16]
        assert all(isinstance(v, str) for v in meta.values())
        assert meta["model_revision"] == hashlib.sha256((tiny_llama_dir / "config.json").read_bytes()).hexdigest()[:12]
        assert meta["dtype"] == "float32" and meta["model_type"] == "llama"
        assert meta["architecture"] == "LlamaForCausalLM" and meta["num_layers"] == "2" and meta["vocab_size"] == "100"
        assert len(llama.config_hash) == 16 and llama.model_id == str(tiny_llama_dir)

    def test_config_hash_ignores_unrelated_fields(self, tiny_llama_dir, llama, tmp_path):
        target = tmp_path / "model"
        shutil.copytree(tiny_llama_dir, target)
        config = json.loads((target / "config.json").read_text())
        config["initializer_range"] = 0.5
        (target / "config.json").write_text(json.dumps(config))
        other = load_model(target)
        assert other.config_hash == llama.config_hash and other.revision != llama.revision

    def test_git_revision(self, tiny_llama_dir, tmp_path):
        target = tmp_path / "model"
        shutil.copytree(tiny_llama_dir, target)
        commit = "0123456789abcdef0123456789abcdef01234567"
        (target / ".git" / "refs" / "heads").mkdir(parents=True)
        (target / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        (target / ".git" / "refs" / "heads" / "main").write_text(commit + "\n")
        assert load_model(target).revision == commit

    def test_hub_cache_snapshot_revision(self, tiny_llama_dir, tmp_path):
        commit = "fedcba9876543210fedcba9876543210fedcba98"
        target = tmp_path / "models--x--y" / "snapshots" / commit
        shutil.copytree(tiny_llama_dir, target)
        assert load_model(target).revision == commit


def _tiny(model_type: str):
    """A 2-layer d=32 causal LM of the given family, seeded."""
    torch.manual_seed(0)
    shape = dict(hidden_size=TINY_WIDTH, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 vocab_size=TINY_VOCAB, max_position_embeddings=64)
    configs = {
        "llama": lambda: transformers.LlamaConfig(**shape),
        "mistral": lambda: transformers.MistralConfig(**shape, num_key_value_heads=1),
        "qwen2": lambda: transformers.Qwen2Config(**shape, num_key_value_heads=1),
        "qwen3": lambda: transformers.Qwen3Config(**shape, num_key_value_heads=1, head_dim=16),
        "gpt2": lambda: transformers.GPT2Config(n_embd=TINY_WIDTH, n_layer=2, n_head=2, vocab_size=TINY_VOCAB, n_positions=64),
    }
    return transformers.AutoModelForCausalLM.from_config(configs[model_type]())


class TestLastPositionOnly:
    @pytest.mark.parametrize("model_type", ["llama", "mistral", "qwen2", "qwen3", "gpt2"])
    def test_equals_the_full_pass(self, model_type, token_probes, tmp_path):
        from seedprints.model import fastpath

        loaded = load_model(_tiny(model_type))
        assert fastpath.supports_last_position_only(loaded.module, loaded.config)
        fast = extract_hidden_states(loaded, token_probes, batch_size=5)
        full = extract_hidden_states(loaded, token_probes, batch_size=5, last_position_only=False)
        np.testing.assert_allclose(fast, full, atol=1e-5, rtol=1e-5)
        ragged = _token_file(tmp_path, _ragged_rows())
        np.testing.assert_allclose(
            extract_hidden_states(loaded, ragged, batch_size=4),
            extract_hidden_states(loaded, ragged, batch_size=4, last_position_only=False), atol=1e-5, rtol=1e-5,
        )

    def test_cuts_the_last_layer_mlp_to_one_position(self, llama, token_probes):
        seen = []
        handle = llama.module.layers[-1].mlp.register_forward_hook(lambda m, a, out: seen.append(tuple(out.shape)))
        try:
            extract_hidden_states(llama, token_probes, batch_size=12)
            extract_hidden_states(llama, token_probes, batch_size=12, last_position_only=False)
        finally:
            handle.remove()
        assert seen == [(12, 1, TINY_WIDTH), (12, 9, TINY_WIDTH)]

    def test_bert_equals_the_full_pass(self, tiny_bert_dir, tmp_path):
        from seedprints.model import fastpath

        loaded = load_model(tiny_bert_dir)
        assert fastpath.supports_last_position_only(loaded.module, loaded.config)
        probes = _text_file(tmp_path, _texts())
        fast = extract_hidden_states(loaded, probes, batch_size=4)
        np.testing.assert_allclose(fast, extract_hidden_states(loaded, probes, batch_size=4, last_position_only=False), atol=1e-5)

    def test_unknown_architectures_run_unchanged(self, tiny_llama_dir):
        from seedprints.model import fastpath

        model = transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir)
        model.config.model_type = "not-in-the-table"
        loaded = load_model(model)
        assert not fastpath.supports_last_position_only(loaded.module, loaded.config)

    def test_hooks_are_removed(self, llama, token_probes):
        extract_hidden_states(llama, token_probes)
        assert not llama.module.layers[-1].mlp._forward_pre_hooks and not llama.module.norm._forward_pre_hooks


class TestOutOfMemory:
    def _limit(self, loaded, monkeypatch, limit: int, error) -> list[int]:
        """Make the model fail like an accelerator out of memory on batches above ``limit`` probes."""
        sizes: list[int] = []
        forward = loaded.module.forward

        def guarded(*args, **kwargs):
            batch = kwargs["input_ids"].shape[0]
            sizes.append(batch)
            if batch > limit:
                raise error
            return forward(*args, **kwargs)

        monkeypatch.setattr(loaded.module, "forward", guarded)
        return sizes

    @pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
                                       RuntimeError("MPS backend out of memory (MPS allocated: 8 GB)")])
    def test_backs_off_and_continues(self, tiny_llama_dir, token_probes, monkeypatch, error):
        loaded = load_model(tiny_llama_dir)
        expected = extract_hidden_states(loaded, token_probes, batch_size=3)
        sizes = self._limit(loaded, monkeypatch, 3, error)
        with pytest.warns(UserWarning, match="out of memory at batch size") as record:
            got = extract_hidden_states(loaded, token_probes, batch_size=12)
        assert [str(w.message) for w in record] == [
            "out of memory at batch size 12; continuing with 6", "out of memory at batch size 6; continuing with 3"
        ]
        assert sizes == [12, 6, 3, 3, 3, 3]
        np.testing.assert_allclose(got, expected, atol=1e-6)

    def test_one_probe_too_many(self, tiny_llama_dir, token_probes, monkeypatch):
        loaded = load_model(tiny_llama_dir)
        self._limit(loaded, monkeypatch, 0, torch.cuda.OutOfMemoryError("CUDA out of memory"))
        with pytest.warns(UserWarning), pytest.raises(UsageError, match=r"single probe of length 9.*device_map='auto'.*"
                                                                        r"smaller length= when fingerprinting"):
            extract_hidden_states(loaded, token_probes, batch_size=2)
        with pytest.warns(UserWarning), pytest.raises(UsageError, match=r"come from fingerprint a\.fp, so re-fingerprint "
                                                                        r"that reference with a smaller length=$"):
            extract_hidden_states(loaded, token_probes, batch_size=2, probe_origin="fingerprint a.fp")

    def test_other_runtime_errors_propagate(self, tiny_llama_dir, token_probes, monkeypatch):
        loaded = load_model(tiny_llama_dir)
        self._limit(loaded, monkeypatch, 0, RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
        with pytest.raises(RuntimeError, match="shapes"):
            extract_hidden_states(loaded, token_probes, batch_size=2)


class TestBatchAndPlacement:
    def test_auto_batch_size_on_cpu(self, llama, token_probes):
        from seedprints.model import fastpath

        assert fastpath.auto_batch_size(llama.config, 512, torch.device("cpu"), torch.float32) == fastpath.CPU_BATCH_SIZE
        np.testing.assert_allclose(
            extract_hidden_states(llama, token_probes, batch_size=None), extract_hidden_states(llama, token_probes), atol=1e-6
        )

    def test_auto_batch_size_from_free_gpu_memory(self, llama, monkeypatch):
        from seedprints.model import fastpath

        free = 8 << 30
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 80 << 30))
        per_probe = 2 * (512 * (6 * 32 + 2 * 64) + 2 * 512 * 512)  # bf16: activations + attention scores
        got = fastpath.auto_batch_size(llama.config, 512, torch.device("cuda"), torch.bfloat16)
        assert got == min(fastpath.MAX_AUTO_BATCH_SIZE, free // 2 // per_probe)
        assert fastpath.auto_batch_size(llama.config, 64, torch.device("cuda"), torch.bfloat16) == fastpath.MAX_AUTO_BATCH_SIZE
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1 << 20, 80 << 30))
        assert fastpath.auto_batch_size(llama.config, 512, torch.device("cuda"), torch.bfloat16) == 1

    def test_unknown_device_map(self, tiny_llama_dir):
        with pytest.raises(UsageError, match="unknown device map 'everywhere'; use auto"):
            load_model(tiny_llama_dir, device_map="everywhere")

    def test_cpu_threads_use_available_cores(self, monkeypatch):
        from seedprints.model import fastpath

        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        before = torch.get_num_threads()
        with fastpath.cpu_threads(torch.device("cpu")):
            assert torch.get_num_threads() == fastpath.available_cores()
        assert torch.get_num_threads() == before

    def test_device_map_auto_with_disk_offload(self, tiny_llama_dir, llama, token_probes):
        pytest.importorskip("accelerate")
        loaded = load_model(tiny_llama_dir, device_map="auto", max_memory={"cpu": 30_000})
        placed = set(loaded.module.hf_device_map.values())
        assert "disk" in placed  # the limit forced layers out of memory
        np.testing.assert_allclose(
            extract_hidden_states(loaded, token_probes, device="cpu"), extract_hidden_states(llama, token_probes), atol=1e-5
        )


class TestFastPathVerdicts:
    @pytest.mark.slow
    def test_same_verdicts_as_the_full_fp32_pass(self, tiny_llama_dir, tiny_llama_derived_dir, tiny_llama_other_dir):
        """Fast path (last-position-only, and bf16) vs the full fp32 pass: rows within tolerance, same verdicts."""
        from seedprints.stats import lineage_test

        probes = generated(token_spec(n=200, length=8, vocab_bound=TINY_VOCAB))
        dirs = {"ref": tiny_llama_dir, "derived": tiny_llama_derived_dir, "other": tiny_llama_other_dir}
        full = {k: extract_hidden_states(load_model(d), probes, last_position_only=False) for k, d in dirs.items()}
        fast = {k: extract_hidden_states(load_model(d), probes) for k, d in dirs.items()}
        bf16 = {k: extract_hidden_states(load_model(d, dtype="bfloat16"), probes) for k, d in dirs.items()}
        for name in dirs:
            np.testing.assert_allclose(fast[name], full[name], atol=1e-5)
            np.testing.assert_allclose(bf16[name], full[name], atol=0.1)
        for suspect, verdict in (("derived", "same-lineage"), ("other", "independent")):
            for rows in (full, fast, bf16):
                assert lineage_test(rows["ref"], rows[suspect]).verdict == verdict
