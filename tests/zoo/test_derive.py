"""Tests for seedprints.zoo.derive: weight edits that derive one model from another."""

from __future__ import annotations

import json

import pytest
import torch
import transformers

from seedprints.errors import UsageError, ZooConfigError
from seedprints.zoo import derive

VOCAB = 100
HIDDEN = 32


def _llama(seed: int = 0, *, tie: bool = False) -> transformers.PreTrainedModel:
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=64, vocab_size=VOCAB, tie_word_embeddings=tie,
    )
    return transformers.LlamaForCausalLM(cfg).eval()


def _qwen2(seed: int = 0) -> transformers.PreTrainedModel:
    torch.manual_seed(seed)
    cfg = transformers.Qwen2Config(
        hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=64, vocab_size=VOCAB, tie_word_embeddings=True,
    )
    return transformers.Qwen2ForCausalLM(cfg).eval()


def _gpt2(seed: int = 0) -> transformers.PreTrainedModel:
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(
        n_embd=HIDDEN, n_layer=2, n_head=4, n_positions=64, vocab_size=VOCAB,
        bos_token_id=0, eos_token_id=0,
    )
    return transformers.GPT2LMHeadModel(cfg).eval()


def _mistral(seed: int = 0) -> transformers.PreTrainedModel:
    torch.manual_seed(seed)
    cfg = transformers.MistralConfig(
        hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=64, vocab_size=VOCAB, tie_word_embeddings=False,
    )
    return transformers.MistralForCausalLM(cfg).eval()


def _qwen3(seed: int = 0) -> transformers.PreTrainedModel:
    torch.manual_seed(seed)
    cfg = transformers.Qwen3Config(
        hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=8, intermediate_size=64, vocab_size=VOCAB, tie_word_embeddings=True,
    )
    return transformers.Qwen3ForCausalLM(cfg).eval()


def _randomise_(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give norms and biases non-trivial values, so that permuting them is actually tested."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model


BUILDERS = {
    "llama": _llama,
    "llama-tied": lambda: _llama(tie=True),
    "qwen2": _qwen2,
    "gpt2": _gpt2,
    "mistral": _mistral,
    "qwen3": _qwen3,
}


@pytest.fixture(scope="module")
def llama() -> transformers.PreTrainedModel:
    return _randomise_(_llama(0), 0)


@pytest.fixture(scope="module")
def gpt2() -> transformers.PreTrainedModel:
    return _randomise_(_gpt2(0), 0)


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    return torch.randint(0, VOCAB, (2, 12), generator=torch.Generator().manual_seed(3))


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_unchanged(model: torch.nn.Module, snap: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert state.keys() == snap.keys()
    for k, v in snap.items():
        assert torch.equal(state[k], v), f"input tensor {k} was modified"


def _linear_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Block linear weights as [out, in] (Conv1D transposed); no lm_head."""
    out = {}
    for name, mod in model.named_modules():
        if name.endswith("lm_head"):
            continue
        if isinstance(mod, torch.nn.Linear):
            out[name] = mod.weight.detach()
        elif isinstance(mod, transformers.pytorch_utils.Conv1D):
            out[name] = mod.weight.detach().t()
    return out


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


class TestPermuteHidden:
    @pytest.mark.parametrize("family", sorted(BUILDERS))
    def test_logits_preserved_and_weights_change(self, family, ids):
        model = _randomise_(BUILDERS[family](), 1)
        snap = _snapshot(model)
        permuted = derive.permute_hidden(model, seed=5)
        _assert_unchanged(model, snap)
        with torch.no_grad():
            ref = model(ids, output_hidden_states=True)
            got = permuted(ids, output_hidden_states=True)
        torch.testing.assert_close(got.logits, ref.logits, atol=1e-5, rtol=0)
        # the final hidden state is the original one, re-labelled by hidden_permutation
        perm = derive.hidden_permutation(HIDDEN, seed=5)
        torch.testing.assert_close(
            got.hidden_states[-1], ref.hidden_states[-1][..., perm], atol=1e-5, rtol=0
        )
        emb = permuted.get_input_embeddings().weight
        assert not torch.equal(emb, model.get_input_embeddings().weight)
        torch.testing.assert_close(emb, model.get_input_embeddings().weight[:, perm])
        changed = sum(
            not torch.equal(a, b) for a, b in zip(permuted.parameters(), model.parameters())
        )
        assert changed > len(list(model.parameters())) // 2

    def test_tied_embeddings_stay_tied(self):
        permuted = derive.permute_hidden(_qwen2(), seed=1)
        assert permuted.lm_head.weight is permuted.model.embed_tokens.weight

    def test_seeded(self, llama):
        a = derive.permute_hidden(llama, seed=3)
        b = derive.permute_hidden(llama, seed=3)
        c = derive.permute_hidden(llama, seed=4)
        for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(x, y), k
        assert not torch.equal(a.model.norm.weight, c.model.norm.weight)

    def test_unsupported_model_type(self):
        cfg = transformers.GPTNeoXConfig(
            hidden_size=HIDDEN, num_hidden_layers=1, num_attention_heads=4,
            intermediate_size=64, vocab_size=VOCAB,
        )
        model = transformers.GPTNeoXForCausalLM(cfg)
        with pytest.raises(ZooConfigError, match="gpt_neox.*supported: .*llama"):
            derive.permute_hidden(model, seed=0)
        with pytest.raises(ZooConfigError, match="permute-mlp.*gpt_neox"):
            derive.permute_mlp(model, seed=0)


class TestPermuteMlp:
    @pytest.mark.parametrize("family", sorted(BUILDERS))
    def test_logits_preserved_and_weights_change(self, family, ids):
        model = _randomise_(BUILDERS[family](), 2)
        snap = _snapshot(model)
        permuted = derive.permute_mlp(model, seed=7)
        _assert_unchanged(model, snap)
        with torch.no_grad():
            ref = model(ids, output_hidden_states=True)
            got = permuted(ids, output_hidden_states=True)
        torch.testing.assert_close(got.logits, ref.logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(got.hidden_states[-1], ref.hidden_states[-1], atol=1e-5, rtol=0)
        changed = [
            k for k, v in permuted.state_dict().items() if not torch.equal(v, snap[k])
        ]
        assert changed and all(("mlp" in k) for k in changed)


class TestQuantize:
    def test_int8_close_int4_less_close(self, llama):
        ref = _linear_weights(llama)
        q8 = _linear_weights(derive.quantize_roundtrip(llama, 8))
        q4 = _linear_weights(derive.quantize_roundtrip(llama, 4))
        for name, w in ref.items():
            e8, e4 = _rel_err(q8[name], w), _rel_err(q4[name], w)
            assert 0 < e8 < 0.01, name
            assert 5 * e8 < e4 < 0.25, name

    @pytest.mark.parametrize("bits, group_size", [(8, None), (4, None), (4, 16), (8, 24)])
    def test_values_on_grid(self, gpt2, bits, group_size):
        qmax = 2 ** (bits - 1) - 1
        ref = _linear_weights(gpt2)
        quant = _linear_weights(derive.quantize_roundtrip(gpt2, bits, group_size=group_size))
        for name, w in ref.items():
            q = quant[name]
            groups = [(0, w.shape[1])] if group_size is None else [
                (s, min(s + group_size, w.shape[1])) for s in range(0, w.shape[1], group_size)
            ]
            for lo, hi in groups:
                scale = w[:, lo:hi].abs().amax(dim=1, keepdim=True) / qmax
                levels = q[:, lo:hi] / scale
                torch.testing.assert_close(levels, levels.round(), atol=1e-3, rtol=0)
                assert levels.abs().max() <= qmax + 1e-3

    def test_grouping_reduces_int4_error(self, llama):
        ref = _linear_weights(llama)
        per_channel = _linear_weights(derive.quantize_roundtrip(llama, 4))
        grouped = _linear_weights(derive.quantize_roundtrip(llama, 4, group_size=8))
        total = lambda q: sum(_rel_err(q[k], w) for k, w in ref.items())  # noqa: E731
        assert total(grouped) < total(per_channel)

    def test_leaves_embeddings_norms_lm_head_and_input(self, llama, gpt2):
        for model in (llama, gpt2):
            snap = _snapshot(model)
            q = derive.quantize_roundtrip(model, 4)
            _assert_unchanged(model, snap)
            linear = set(_linear_weights(model))
            for key, value in q.state_dict().items():
                module = key.rsplit(".", 1)[0]
                is_block_weight = module in linear and key.endswith("weight")
                assert torch.equal(value, snap[key]) != is_block_weight, key

    @pytest.mark.parametrize("bits", [3, 16, 0, True, "8", 8.0])
    def test_bad_bits(self, llama, bits):
        with pytest.raises(ZooConfigError, match=r"bits=.*allowed values: 4, 8"):
            derive.quantize_roundtrip(llama, bits)

    @pytest.mark.parametrize("group_size", [0, -8, 2.5, True])
    def test_bad_group_size(self, llama, group_size):
        with pytest.raises(ZooConfigError, match=r"'int8'.*group_size="):
            derive.quantize_roundtrip(llama, 8, group_size=group_size)


class TestPrune:
    @pytest.mark.parametrize("fraction", [0.0, 0.3, 0.9])
    def test_right_fraction_per_matrix(self, gpt2, fraction):
        snap = _snapshot(gpt2)
        pruned = derive.magnitude_prune(gpt2, fraction)
        _assert_unchanged(gpt2, snap)
        ref = _linear_weights(gpt2)
        for name, w in _linear_weights(pruned).items():
            zero = w == 0
            assert int(zero.sum()) == round(fraction * w.numel()), name
            kept = ref[name][~zero]
            torch.testing.assert_close(w[~zero], kept, atol=0, rtol=0)
            if 0 < fraction:
                assert ref[name][zero].abs().max() <= kept.abs().min(), name
        torch.testing.assert_close(pruned.transformer.wte.weight, gpt2.transformer.wte.weight)
        torch.testing.assert_close(pruned.transformer.ln_f.bias, gpt2.transformer.ln_f.bias)

    def test_lm_head_untouched(self, llama):
        pruned = derive.magnitude_prune(llama, 0.5)
        assert torch.equal(pruned.lm_head.weight, llama.lm_head.weight)
        assert int((pruned.model.layers[0].mlp.up_proj.weight == 0).sum()) == 64 * 32 // 2

    @pytest.mark.parametrize("fraction", [1.0, -0.1, 1.5, float("nan"), "0.5", None])
    def test_bad_fraction(self, llama, fraction):
        with pytest.raises(ZooConfigError, match=r"'prune'.*fraction=.*\[0, 1\)"):
            derive.magnitude_prune(llama, fraction)


class TestNoise:
    def test_scale_and_seed(self, llama):
        snap = _snapshot(llama)
        a = derive.add_weight_noise(llama, 0.1, seed=11)
        _assert_unchanged(llama, snap)
        b = derive.add_weight_noise(llama, 0.1, seed=11)
        c = derive.add_weight_noise(llama, 0.1, seed=12)
        for (key, x), y, z in zip(a.state_dict().items(), b.state_dict().values(),
                                  c.state_dict().values()):
            assert torch.equal(x, y), key
            w = snap[key]
            if w.numel() >= 1024:  # enough entries to estimate a standard deviation
                assert not torch.equal(x, z), key
                ratio = float((x - w).std() / (0.1 * w.std()))
                assert 0.9 < ratio < 1.1, (key, ratio)

    def test_zero_std_is_a_copy(self, llama):
        n = derive.add_weight_noise(llama, 0.0, seed=0)
        _assert_unchanged(n, _snapshot(llama))

    @pytest.mark.parametrize("std", [-0.01, float("inf"), float("nan"), "0.1"])
    def test_bad_std(self, llama, std):
        with pytest.raises(ZooConfigError, match=r"'noise'.*relative_std=.*\[0, inf\)"):
            derive.add_weight_noise(llama, std, seed=0)

    @pytest.mark.parametrize("seed", [-1, 1.5, None, "1"])
    def test_bad_seed(self, llama, seed):
        with pytest.raises(ZooConfigError, match=r"'noise'.*seed="):
            derive.add_weight_noise(llama, 0.1, seed=seed)


FIRST_ROW = 80  # rows 80 .. VOCAB - 1 stand for the padding past a tokenizer of 80 tokens


def _embedding_rows(model: torch.nn.Module) -> list[torch.Tensor]:
    """The input and output embedding weights (a tied one once)."""
    weights = {id(m.weight): m.weight.detach() for m in (model.get_input_embeddings(), model.get_output_embeddings())}
    return list(weights.values())


class TestPaddingEdits:
    @pytest.mark.parametrize("family", ["llama", "llama-tied", "qwen2"])
    @pytest.mark.parametrize("edit", ["zero-padding", "refresh-padding"])
    def test_only_rows_past_the_tokenizer_change_and_real_logits_stay(self, family, edit):
        model = _randomise_(BUILDERS[family](), 1)
        snap = _snapshot(model)
        new = derive.get_transform(edit)(model, seed=4, first_row=FIRST_ROW)
        _assert_unchanged(model, snap)
        for before, after in zip(_embedding_rows(model), _embedding_rows(new)):
            assert torch.equal(after[:FIRST_ROW], before[:FIRST_ROW])
            assert (after[FIRST_ROW:] != before[FIRST_ROW:]).all()
        embeddings = {k for k in snap if "embed_tokens" in k or "lm_head" in k}
        assert all(torch.equal(v, snap[k]) for k, v in new.state_dict().items() if k not in embeddings)
        real = torch.randint(0, FIRST_ROW, (2, 12), generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            torch.testing.assert_close(new(real).logits[..., :FIRST_ROW], model(real).logits[..., :FIRST_ROW],
                                       atol=0, rtol=0)

    def test_zero_padding_zeroes_input_and_output_rows(self, llama):
        new = derive.zero_padding(llama, FIRST_ROW)
        assert all((w[FIRST_ROW:] == 0).all() for w in _embedding_rows(new))
        assert len(_embedding_rows(new)) == 2  # untied: the embedding and lm_head both

    def test_refresh_padding_draws_the_init_distribution_by_seed(self):
        model = BUILDERS["llama-tied"]()
        new = derive.refresh_padding(model, FIRST_ROW, seed=4)
        assert new.get_input_embeddings().weight is new.get_output_embeddings().weight  # still tied
        fresh = new.get_input_embeddings().weight.detach()[FIRST_ROW:]
        assert fresh.std() == pytest.approx(model.config.initializer_range, rel=0.2)
        assert torch.equal(derive.refresh_padding(model, FIRST_ROW, seed=4).get_input_embeddings().weight, new.lm_head.weight)
        assert not torch.equal(derive.refresh_padding(model, FIRST_ROW, seed=5).lm_head.weight, new.lm_head.weight)

    def test_untied_rows_are_drawn_apart(self, llama):
        inputs, outputs = _embedding_rows(derive.refresh_padding(llama, FIRST_ROW, seed=4))
        assert not torch.equal(inputs[FIRST_ROW:], outputs[FIRST_ROW:])

    @pytest.mark.parametrize(
        ("first_row", "match"),
        [(None, "first_row=None leaves no row"), (VOCAB, f"first_row={VOCAB} leaves no row to edit in a vocabulary of {VOCAB}"),
         (0, "first_row=0 is not allowed"), (True, "first_row=True is not allowed")],
    )
    def test_bad_first_row(self, llama, first_row, match):
        for edit in ("zero-padding", "refresh-padding"):
            with pytest.raises(ZooConfigError, match=match):
                derive.get_transform(edit)(llama, seed=0, first_row=first_row)

    def test_with_first_row_fills_only_padding_edits(self):
        assert derive.with_first_row("zero-padding", {}, 80) == {"first_row": 80}
        assert derive.with_first_row("refresh-padding", {"first_row": 70}, 80) == {"first_row": 70}
        assert derive.with_first_row("int8", {"group_size": 8}, 80) == {"group_size": 8}


@pytest.fixture(scope="module")
def pair():
    return _llama(1), _llama(2)


class TestAverage:
    def test_one_zero_is_first(self, pair):
        a, b = pair
        merged = derive.average_models([a, b], [1.0, 0.0])
        for key, value in merged.state_dict().items():
            assert torch.equal(value, a.state_dict()[key]), key

    def test_half_half_is_mean(self, pair):
        a, b = pair
        snaps = _snapshot(a), _snapshot(b)
        merged = derive.average_models([a, b], [0.5, 0.5])
        _assert_unchanged(a, snaps[0])
        _assert_unchanged(b, snaps[1])
        sa, sb = a.state_dict(), b.state_dict()
        for key, value in merged.state_dict().items():
            torch.testing.assert_close(value, (sa[key] + sb[key]) / 2, atol=1e-7, rtol=0)
        assert merged is not a and merged is not b

    def test_blend_weights(self, pair):
        a, b = pair
        merged = derive.average_models([a, b], [0.25, 0.75])
        w = merged.model.layers[1].mlp.down_proj.weight
        expect = 0.25 * a.model.layers[1].mlp.down_proj.weight + 0.75 * b.model.layers[
            1
        ].mlp.down_proj.weight
        torch.testing.assert_close(w, expect)

    @pytest.mark.parametrize(
        "weights, match",
        [
            ([0.5, 0.6], "sum to 1.1, not 1"),
            ([1.0], "2 models but 1 weights"),
            ([float("nan"), 1.0], "weight nan is not a finite number"),
        ],
    )
    def test_bad_weights(self, pair, weights, match):
        with pytest.raises(UsageError, match=match):
            derive.average_models(list(pair), weights)

    def test_empty(self):
        with pytest.raises(UsageError, match="no models"):
            derive.average_models([], [])

    def test_architecture_mismatch(self, pair, gpt2):
        with pytest.raises(UsageError, match="GPT2LMHeadModel.*LlamaForCausalLM"):
            derive.average_models([pair[0], gpt2], [0.5, 0.5])
        wider = transformers.LlamaForCausalLM(
            transformers.LlamaConfig(
                hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, intermediate_size=96, vocab_size=VOCAB,
                tie_word_embeddings=False,
            )
        )
        with pytest.raises(UsageError, match=r"gate_proj.weight.*shape \(96, 32\)"):
            derive.average_models([pair[0], wider], [0.5, 0.5])


class TestRegistry:
    def test_names(self):
        assert set(derive.TRANSFORMS) == {"int8", "int4", "prune", "noise", "permute",
                                          "permute-mlp", "zero-padding", "refresh-padding"}

    @pytest.mark.parametrize(
        "name, params",
        [
            ("int8", {}),
            ("int4", {"group_size": 16}),
            ("prune", {"fraction": 0.25}),
            ("noise", {"relative_std": 0.05}),
            ("permute", {}),
            ("permute-mlp", {}),
            ("zero-padding", {"first_row": FIRST_ROW}),
            ("refresh-padding", {"first_row": FIRST_ROW}),
        ],
    )
    def test_uniform_signature_and_describe(self, llama, name, params):
        snap = _snapshot(llama)
        out = derive.get_transform(name)(llama, seed=3, **params)
        _assert_unchanged(llama, snap)
        assert type(out) is type(llama)
        assert any(not torch.equal(v, snap[k]) for k, v in out.state_dict().items())
        record = derive.describe(name, params, seed=3)
        assert record["transform"] == name and record["seed"] == 3
        assert record["params"].items() >= params.items()
        assert record["function_preserving"] == name.startswith("permute")
        json.dumps(record)

    def test_describe_fills_defaults(self):
        assert derive.describe("prune", {})["params"] == {"fraction": 0.5}
        assert derive.describe("noise")["params"] == {"relative_std": 0.01}
        assert derive.describe("int4")["params"] == {"group_size": None}
        assert derive.describe("merge", {"weights": [0.3, 0.7]})["params"] == {
            "weights": [0.3, 0.7]
        }

    @pytest.mark.parametrize(
        "name, params, match",
        [
            ("prune", {"fraction": 1.0}, r"'prune': fraction=1.0 .*\[0, 1\)"),
            ("noise", {"relative_std": -1}, r"'noise': relative_std=-1 .*\[0, inf\)"),
            ("int8", {"group_size": 0}, r"'int8': group_size=0"),
            ("int4", {"bits": 8}, r"'int4': unknown parameter 'bits'; allowed parameters: group_size"),
            ("permute", {"fraction": 0.1}, r"'permute': unknown parameter 'fraction'.*none"),
            ("merge", {"weights": [0.5, 0.6]}, r"'merge': weights=\[0.5, 0.6\].*summing to 1"),
        ],
    )
    def test_bad_params(self, llama, name, params, match):
        with pytest.raises(ZooConfigError, match=match):
            derive.describe(name, params)
        if name in derive.TRANSFORMS:
            with pytest.raises(ZooConfigError, match=match):
                derive.TRANSFORMS[name](llama, seed=0, **params)

    @pytest.mark.parametrize("name, hint", [("int16", "int8"), ("prun", "prune"), ("", None)])
    def test_unknown_name(self, name, hint):
        for call in (derive.get_transform, derive.describe):
            with pytest.raises(ZooConfigError, match=f"unknown transform '{name}'") as info:
                call(name)
            assert "Available: int8, int4, prune" in str(info.value)
            if hint:
                assert f"Did you mean '{hint}'" in str(info.value)

    def test_bad_seed_via_registry(self, llama):
        with pytest.raises(ZooConfigError, match=r"'int8': seed=-3"):
            derive.TRANSFORMS["int8"](llama, seed=-3)
