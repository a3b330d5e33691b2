"""Tests of the units part (seedprints.stats.units): its null is the relabelling of MLP neurons and value channels,
and it sees a copy whose hidden dimensions were relabelled or rotated, fine-tuned or not, on small llama models built
here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import transformers

from seedprints.errors import IncompatibleFingerprintsError, UsageError
from seedprints.stats import lineage_test
from seedprints.stats.lineage import permutation_moments
from seedprints.stats.units import (
    FILE_SKETCH, SketchSize, WeightSketch, alignment, common_prefix, units_abstains, units_test, weight_sketch,
)
from seedprints.zoo.permute import permute_hidden, permute_mlp

WIDTH, HEADS, VOCAB = 32, 4, 160


def tiny(seed: int, width: int = WIDTH) -> transformers.LlamaForCausalLM:
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(hidden_size=width, num_hidden_layers=2, num_attention_heads=HEADS,
                                      intermediate_size=64, vocab_size=VOCAB, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(config).eval()


def sketch(model) -> WeightSketch:
    return weight_sketch(model.state_dict(), head_dim=model.config.hidden_size // HEADS)


def train(model, steps: int, data_seed: int) -> transformers.LlamaForCausalLM:
    """A few AdamW steps on the same token batches for every model given the same data_seed."""
    gen = torch.Generator().manual_seed(data_seed)
    batches = [torch.randint(0, VOCAB // 2, (8, 16), generator=gen) for _ in range(steps)]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for ids in batches:
        loss = model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def rotated(model, seed: int) -> dict[str, np.ndarray]:
    """Fold the norm weights into the layers that read them and rotate the residual stream (QuaRot's construction)."""
    w = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    d = model.config.hidden_size
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    out = {"model.embed_tokens.weight": w["model.embed_tokens.weight"] @ q}
    for layer in range(model.config.num_hidden_layers):
        p = f"model.layers.{layer}."
        for norm, readers in (("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
                              ("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"))):
            for name in readers:
                out[p + name + ".weight"] = (w[p + name + ".weight"] * w[p + norm + ".weight"][None, :]) @ q
        for name in ("self_attn.o_proj", "mlp.down_proj"):
            out[p + name + ".weight"] = q.T @ w[p + name + ".weight"]
    return out


@pytest.fixture(scope="module")
def base():
    return train(tiny(1), 30, data_seed=0)


class TestNull:
    def test_moments_are_those_of_relabelled_neurons(self):
        # The null is "the suspect's neurons relabelled uniformly": brute-force relabellings of one layer's MLP
        # neurons give the mean and variance units_test adds up for that layer.
        rng = np.random.default_rng(0)
        a, b = sketch(tiny(1)), sketch(tiny(2))
        one_layer = lambda s, mlp: WeightSketch(s.embedding, (mlp,), (), s.head_dim)  # noqa: E731
        ref = one_layer(a, a.mlp[0])
        stats = [units_test(ref, one_layer(b, b.mlp[0][rng.permutation(b.mlp[0].shape[0])]))["statistic"]
                 for _ in range(3000)]
        got = units_test(ref, one_layer(b, b.mlp[0]))
        assert np.mean(stats) == pytest.approx(got["null_mean"], abs=4 * got["null_sd"] / math.sqrt(3000))
        assert np.std(stats) == pytest.approx(got["null_sd"], rel=0.06)

    def test_moments_match_hoeffding_on_one_block(self):
        a, b = sketch(tiny(3)), sketch(tiny(4))
        r, _ = alignment(a, b)
        got = units_test(WeightSketch(a.embedding, (a.mlp[0],), (), a.head_dim),
                         WeightSketch(b.embedding, (b.mlp[0],), (), b.head_dim))
        aligned = np.concatenate([b.mlp[0][:, i * WIDTH:(i + 1) * WIDTH] @ r.T for i in range(3)], axis=1)
        unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
        mean, var = permutation_moments(unit(a.mlp[0].astype(np.float64)) @ unit(aligned).T)
        assert got["null_mean"] == pytest.approx(mean) and got["null_sd"] == pytest.approx(math.sqrt(var))

    def test_independent_models_trained_on_the_same_data_are_not_flagged(self):
        # Same data, same order, other seeds: the pair the test must never accuse. The alignment finds whatever
        # they share; the null does not come from it.
        models = [train(tiny(seed), 30, data_seed=0) for seed in (11, 12, 13, 14)]
        zs = [units_test(sketch(x), sketch(y))["z"] for i, x in enumerate(models) for y in models[i + 1:]]
        assert max(abs(z) for z in zs) < 3.5, zs

    def test_untrained_inits_give_standard_z(self):
        sketches = [sketch(tiny(seed)) for seed in range(20, 36)]
        zs = np.array([units_test(x, y)["z"] for x, y in zip(sketches[::2], sketches[1::2])])
        assert np.all(np.abs(zs) < 4) and abs(zs.mean()) < 1.2, zs


class TestPower:
    def test_a_relabelled_copy_is_seen(self, base):
        got = units_test(sketch(base), sketch(permute_hidden(base, seed=3)))
        assert got["z"] > 30 and got["alignment_fit"] == pytest.approx(1.0, abs=1e-6)

    def test_a_relabelled_then_fine_tuned_copy_is_seen(self, base):
        copy = train(permute_hidden(base, seed=3), 20, data_seed=5)
        assert units_test(sketch(base), sketch(copy))["z"] > 20

    def test_a_rotated_copy_is_seen(self, base):
        got = units_test(sketch(base), weight_sketch(rotated(base, seed=1), head_dim=WIDTH // HEADS))
        assert got["z"] > 20 and got["alignment_fit"] == pytest.approx(1.0, abs=1e-6)

    def test_relabelled_mlp_neurons_leave_the_value_channels(self, base):
        # The units it reads by index: relabelled MLP neurons hide those, the value channels still carry it.
        both = permute_mlp(permute_hidden(base, seed=3), seed=4)
        got = units_test(sketch(base), sketch(both))
        mlp_only = units_test(*(WeightSketch(s.embedding, s.mlp, (), s.head_dim) for s in (sketch(base), sketch(both))))
        assert got["z"] > 10 and abs(mlp_only["z"]) < 4


class TestInLineageTest:
    def test_a_third_bonferroni_part_with_its_note(self, base):
        rng = np.random.default_rng(0)
        h = rng.standard_normal((100, WIDTH))
        copy = permute_hidden(base, seed=3)
        result = lineage_test(h, h[:, rng.permutation(WIDTH)], n_permutations=0,
                              weights_ref=sketch(base), weights_suspect=sketch(copy))
        d = result.details
        assert result.verdict == "same-lineage" and d["units_z"] > 30 and "could have been seen" in d["permutation_note"]
        assert result.log10_p == pytest.approx(max(-1e300, math.log10(2) + min(d["hidden_log10_p"], d["units_log10_p"])))
        assert "assumed" in " ".join(d) and "MLP-neuron" in result.settings["statistic"]

    def test_without_weights_the_note_says_why_not(self):
        rng = np.random.default_rng(1)
        h = rng.standard_normal((100, WIDTH))
        result = lineage_test(h, rng.standard_normal((100, WIDTH)), n_permutations=0)
        assert "units_z" not in result.details
        assert result.details["permutation_note"].startswith("a relabelling of the hidden dimensions could not")
        assert "none were given" in result.details["permutation_note"]

    def test_unequal_widths_abstain_with_a_reason(self, base):
        rng = np.random.default_rng(2)
        h = rng.standard_normal((100, WIDTH))
        result = lineage_test(h, h, n_permutations=0, weights_ref=sketch(base), weights_suspect=sketch(tiny(5, width=48)))
        assert "units_z" not in result.details and "hidden sizes differ" in result.details["permutation_note"]
        assert units_abstains(sketch(base), sketch(tiny(5, width=48))) is not None

    def test_weights_of_one_side_only_are_refused(self, base):
        h = np.random.default_rng(3).standard_normal((100, WIDTH))
        with pytest.raises(IncompatibleFingerprintsError, match="one model only"):
            lineage_test(h, h, weights_ref=sketch(base))
        with pytest.raises(IncompatibleFingerprintsError, match="cannot compare"):
            units_test(sketch(base), sketch(tiny(5, width=48)))

    def test_a_sketch_needs_llama_blocks(self):
        with pytest.raises(UsageError, match="embed_tokens"):
            weight_sketch({"wte.weight": np.zeros((4, 4))}, head_dim=2)
        with pytest.raises(UsageError, match="head_dim"):
            WeightSketch(np.zeros((4, 4)), (), (np.zeros((6, 8)),), 4)


class TestFromModelDirectories:
    def test_api_sketches_saved_models(self, base, tmp_path):
        # The units part from two model directories as a user has them: a model and its permuted copy.
        from seedprints import api

        base.save_pretrained(tmp_path / "base")
        permute_hidden(base, seed=3).save_pretrained(tmp_path / "copy")
        ref, sus = api.weight_sketch(tmp_path / "base"), api.weight_sketch(tmp_path / "copy")
        assert ref.embedding.shape == (VOCAB, WIDTH) and len(ref.mlp) == 2 and ref.head_dim == WIDTH // HEADS
        assert units_test(ref, sus)["z"] > 30


class TestSketchSize:
    def test_a_sized_sketch_keeps_the_first_rows_units_and_heads(self, base):
        whole = sketch(base)
        small = weight_sketch(base.state_dict(), head_dim=WIDTH // HEADS, size=SketchSize(rows_per_dim=2, units=5, heads=1))
        assert small.embedding.shape == (2 * WIDTH, WIDTH) and [m.shape[0] for m in small.mlp] == [5, 5]
        assert [v.shape[0] for v in small.values] == [WIDTH // HEADS] * 2
        np.testing.assert_array_equal(small.mlp[1], whole.mlp[1][:5])
        np.testing.assert_array_equal(small.values[0], whole.values[0][:WIDTH // HEADS])
        assert small.summary() == {"embedding_rows": 64, "layers": 2, "mlp_units": 10, "value_channels": 16}

    def test_sketches_of_different_sizes_are_read_on_their_common_prefix(self, base):
        copy = permute_hidden(base, seed=3)
        big = weight_sketch(base.state_dict(), head_dim=WIDTH // HEADS, size=SketchSize(units=20, heads=2))
        small = weight_sketch(copy.state_dict(), head_dim=WIDTH // HEADS, size=SketchSize(rows_per_dim=3, units=7, heads=1))
        cut = common_prefix(big, small)
        assert cut[0].embedding.shape == cut[1].embedding.shape == (3 * WIDTH, WIDTH)
        assert [m.shape[0] for m in cut[0].mlp] == [7, 7] and [v.shape[0] for v in cut[1].values] == [8, 8]
        assert units_test(big, small) == units_test(*cut)
        assert units_test(big, small)["units"] == 2 * 7 + 2 * 8 and units_test(big, small)["z"] > 10

    def test_the_null_holds_on_a_prefix_of_the_units(self):
        # Relabellings that keep the first k units among themselves are exchangeable too: independent models read on
        # the file-sized prefix still give standard z's.
        size = SketchSize(rows_per_dim=FILE_SKETCH.rows_per_dim, units=16, heads=1)
        sketches = [weight_sketch(tiny(seed).state_dict(), head_dim=WIDTH // HEADS, size=size) for seed in range(40, 56)]
        zs = np.array([units_test(x, y)["z"] for x, y in zip(sketches[::2], sketches[1::2])])
        assert np.all(np.abs(zs) < 4) and abs(zs.mean()) < 1.2, zs

    def test_different_layer_counts_abstain(self, base):
        one_layer = WeightSketch(sketch(base).embedding, sketch(base).mlp[:1], sketch(base).values[:1], WIDTH // HEADS)
        assert "numbers of MLP layers" in units_abstains(sketch(base), one_layer)
