"""Tests for seedprints.zoo.specs, batches, train and saved_models: init, training loops, LoRA merge, distillation, saving."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from seedprints.errors import OutputPathError, ZooConfigError
from seedprints.zoo.tokenizer import build_tokenizer
from seedprints.zoo.batches import iter_batches, tail_occurrences
from seedprints.zoo.saved_models import load_saved, save_model
from seedprints.zoo.specs import CPU_DEFAULT, PAPER_TOY, ArchSpec, TrainSpec
from seedprints.zoo.train import distill, eval_loss, init_model, train, train_lora

TINY = ArchSpec(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, vocab_size=512, max_position=64)
# ~100k characters of prose: ~30k tokens, plenty of 32-token blocks; 3e-3 moves a d=32 model fast.
SPEC = TrainSpec(domain="prose", steps=12, batch_size=8, seq_len=32, lr=3e-3, warmup=2, max_chars=100_000)


@pytest.fixture(scope="module")
def trained(tokenizer):
    """A tiny llama trained for 40 steps (a teacher / LoRA base)."""
    return train(init_model(TINY, 0), tokenizer, dataclasses.replace(SPEC, steps=40))


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class TestArchSpec:
    def test_constants(self):
        assert CPU_DEFAULT == ArchSpec()
        assert (CPU_DEFAULT.family, CPU_DEFAULT.hidden_size, CPU_DEFAULT.num_layers) == ("llama", 256, 4)
        assert (CPU_DEFAULT.num_heads, CPU_DEFAULT.intermediate_size, CPU_DEFAULT.vocab_size) == (4, 688, 4096)
        assert CPU_DEFAULT.max_position == 256
        assert (PAPER_TOY.hidden_size, PAPER_TOY.num_layers, PAPER_TOY.num_heads) == (768, 12, 12)
        assert (PAPER_TOY.intermediate_size, PAPER_TOY.vocab_size) == (2048, 32000)

    @pytest.mark.parametrize(("family", "tie", "tied"), [("llama", False, False), ("qwen2", False, False),
                                                         ("gpt2", False, True), ("llama", True, True), ("qwen2", True, True)])
    def test_to_config(self, family, tie, tied):
        config = dataclasses.replace(TINY, family=family, tie_embeddings=tie).to_config()
        assert config.model_type == family
        assert config.tie_word_embeddings is tied
        assert config.get_text_config().vocab_size == 512

    def test_dict_round_trip(self):
        assert ArchSpec.from_dict(PAPER_TOY.to_dict()) == PAPER_TOY
        with pytest.raises(ZooConfigError, match="unknown ArchSpec key.*hidden"):
            ArchSpec.from_dict({"hiden_size": 3})

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [({"family": "bert"}, "llama, qwen2, gpt2"), ({"hidden_size": 0}, "hidden_size"), ({"num_heads": 3}, "divisible"),
         ({"tie_embeddings": "yes"}, "tie_embeddings must be true or false")],
    )
    def test_invalid(self, kwargs, match):
        with pytest.raises(ZooConfigError, match=match):
            ArchSpec(**kwargs)


class TestTrainSpec:
    def test_invalid(self):
        with pytest.raises(ZooConfigError, match="prose, code, topics"):
            TrainSpec(domain="poetry")
        with pytest.raises(ZooConfigError, match="steps"):
            TrainSpec(steps=0)
        with pytest.raises(ZooConfigError, match="precision"):
            TrainSpec(precision="fp8")
        with pytest.raises(ZooConfigError, match="unknown TrainSpec key"):
            TrainSpec.from_dict({"stepz": 3})

    def test_dict_round_trip(self):
        assert TrainSpec.from_dict(SPEC.to_dict()) == SPEC


class TestInitModel:
    def test_same_seed_same_weights(self):
        assert _same(_state(init_model(TINY, 7)), _state(init_model(TINY, 7)))

    def test_other_seed_other_weights(self):
        a, b = _state(init_model(TINY, 7)), _state(init_model(TINY, 8))
        assert all(not torch.equal(a[k], b[k]) for k in a if a[k].std() > 0)

    def test_matches_framework_init_and_keeps_global_rng(self):
        from transformers import AutoModelForCausalLM

        torch.manual_seed(123)
        before = torch.rand(3)
        torch.manual_seed(123)
        model = init_model(TINY, 7)
        assert torch.equal(torch.rand(3), before)  # caller's RNG untouched
        torch.manual_seed(7)
        reference = AutoModelForCausalLM.from_config(TINY.to_config())
        assert _same(_state(model), _state(reference))
        assert all(p.dtype == torch.float32 for p in model.parameters())

    @pytest.mark.parametrize("family", ["qwen2", "gpt2"])
    def test_families(self, family):
        model = init_model(dataclasses.replace(TINY, family=family), 0)
        assert model.config.model_type == family


class TestBatches:
    def test_same_data_seed_same_batches(self, tokenizer):
        a = list(iter_batches(tokenizer, SPEC))
        b = list(iter_batches(tokenizer, SPEC))
        assert len(a) == SPEC.steps
        assert all(x.shape == (SPEC.batch_size, SPEC.seq_len) and x.dtype == torch.long for x in a)
        assert all(torch.equal(x, y) for x, y in zip(a, b))

    def test_other_data_seed_other_order_same_blocks(self, tokenizer):
        a = torch.cat(list(iter_batches(tokenizer, SPEC)))
        b = torch.cat(list(iter_batches(tokenizer, dataclasses.replace(SPEC, data_seed=1))))
        assert not torch.equal(a, b)
        # both draw from the same block set
        blocks = {tuple(r) for r in torch.cat(list(iter_batches(tokenizer, SPEC, steps=500))).tolist()}
        assert {tuple(r) for r in b.tolist()} <= blocks

    def test_epochs_cycle(self, tokenizer):
        spec = dataclasses.replace(SPEC, max_chars=3_000, batch_size=4, seq_len=16)
        rows = torch.cat(list(iter_batches(tokenizer, spec, steps=40)))
        assert len({tuple(r) for r in rows.tolist()}) < len(rows)  # blocks repeat after an epoch

    def test_seen_tail_trains_every_token(self, tokenizer):
        spec = dataclasses.replace(SPEC, steps=40, seen_tail=True)
        counts = torch.bincount(torch.cat(list(iter_batches(tokenizer, spec))).flatten(), minlength=len(tokenizer))
        plain = torch.bincount(torch.cat(list(iter_batches(tokenizer, dataclasses.replace(spec, seen_tail=False)))).flatten(),
                               minlength=len(tokenizer))
        assert (plain[3:] == 0).any() and (counts[3:] > 0).all()  # specials 0-2 are left alone

    def test_tail_counts_are_zipfian_from_1_to_20(self):
        ids, counts = np.unique(tail_occurrences(3, 4003, seed=0), return_counts=True)
        assert ids.tolist() == list(range(3, 4003)) and counts.min() == 1 and counts.max() == 20
        assert np.median(counts) == 2 and 0.4 < np.mean(counts == 1) < 0.6

    def test_seen_tail_needs_room(self, tokenizer):
        with pytest.raises(ZooConfigError, match="seen_tail needs"):
            next(iter_batches(tokenizer, dataclasses.replace(SPEC, steps=2, seen_tail=True)))

    def test_too_small_corpus(self, tokenizer):
        with pytest.raises(ZooConfigError, match="raise max_chars"):
            next(iter_batches(tokenizer, dataclasses.replace(SPEC, max_chars=100)))


class TestTrain:
    def test_loss_goes_down_and_weights_change(self, tokenizer):
        model = init_model(TINY, 0)
        before = _state(model)
        history: list[float] = []
        returned = train(model, tokenizer, SPEC, history=history)
        assert returned is model
        assert len(history) == SPEC.steps
        assert sum(history[-3:]) / 3 < history[0] - 0.3
        assert not model.training
        assert not _same(before, _state(model))

    def test_deterministic(self, tokenizer):
        a = train(init_model(TINY, 0), tokenizer, SPEC)
        b = train(init_model(TINY, 0), tokenizer, SPEC)
        assert _same(_state(a), _state(b))

    def test_checkpoints(self, tokenizer):
        seen: list[tuple[int, float]] = []

        def callback(model, step):
            seen.append((step, model.lm_head.weight.sum().item()))
            model.eval()  # train() must put it back in training mode

        train(init_model(TINY, 0), tokenizer, SPEC, checkpoints={0: callback, 3: callback, 12: callback})
        assert [s for s, _ in seen] == [0, 3, 12]
        assert len({w for _, w in seen}) == 3

    def test_eval_loss(self, tokenizer, trained):
        fresh = eval_loss(init_model(TINY, 0), tokenizer, SPEC, batches=2)
        assert eval_loss(trained, tokenizer, SPEC, batches=2) < fresh

    def test_fp32_precision(self, tokenizer):
        history: list[float] = []
        train(init_model(TINY, 0), tokenizer, dataclasses.replace(SPEC, steps=3, precision="fp32"), history=history)
        assert len(history) == 3 and all(h == h for h in history)

    def test_rejects_too_big_tokenizer_or_sequence(self, tokenizer):
        small_vocab = dataclasses.replace(TINY, vocab_size=300)
        with pytest.raises(ZooConfigError, match="vocab_size"):
            train(init_model(small_vocab, 0), tokenizer, SPEC)
        with pytest.raises(ZooConfigError, match="positions"):
            train(init_model(TINY, 0), tokenizer, dataclasses.replace(SPEC, seq_len=65))


class TestTrainLora:
    @pytest.mark.parametrize("family", ["llama", "gpt2"])
    def test_merge_returns_plain_model_with_changed_weights(self, tokenizer, family):
        base = init_model(dataclasses.replace(TINY, family=family), 0)
        before = _state(base)
        history: list[float] = []
        merged = train_lora(base, tokenizer, dataclasses.replace(SPEC, steps=6), rank=4, history=history)
        after = _state(merged)
        assert type(merged).__module__.startswith("transformers.")
        assert after.keys() == before.keys()  # no lora_A / lora_B / base_layer left
        changed = {k for k in before if not torch.equal(before[k], after[k])}
        targets = ("q_proj", "v_proj", "gate_proj", "up_proj", "down_proj", "c_attn", "c_fc", "c_proj")
        assert changed and all(any(t in k for t in targets) for k in changed)
        assert all(p.requires_grad for p in merged.parameters())
        assert len(history) == 6


class TestDistill:
    def test_student_learns_teacher(self, tokenizer, trained):
        teacher_before = _state(trained)
        student = init_model(TINY, 1)
        history: list[float] = []
        spec = dataclasses.replace(SPEC, steps=15)
        out = distill(student, trained, tokenizer, spec, history=history)
        assert out is student
        assert _same(teacher_before, _state(trained))
        assert sum(history[-3:]) / 3 < history[0]


class TestSaveModel:
    def test_round_trip(self, tokenizer, trained, tmp_path):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        out = save_model(trained, tokenizer, tmp_path / "zoo" / "base-seed0")
        assert out == tmp_path / "zoo" / "base-seed0"
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in out.iterdir()}
        assert [p.name for p in out.parent.iterdir()] == ["base-seed0"]  # no temp dir left
        loaded = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
        assert _same(_state(trained), _state(loaded))
        assert loaded.dtype == torch.float32
        tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
        text = "Return the sum of x and y."
        assert tok(text)["input_ids"] == tokenizer(text)["input_ids"]
        assert tok.eos_token_id == tokenizer.eos_token_id

    def test_overwrite(self, tokenizer, tmp_path):
        first, second = init_model(TINY, 0), init_model(TINY, 1)
        save_model(first, tokenizer, tmp_path / "m")
        save_model(second, tokenizer, tmp_path / "m")
        from transformers import AutoModelForCausalLM

        loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "m", local_files_only=True)
        assert _same(_state(second), _state(loaded))
        assert [p.name for p in tmp_path.iterdir()] == ["m"]
        with pytest.raises(OutputPathError, match="overwrite=False"):
            save_model(first, tokenizer, tmp_path / "m", overwrite=False)

    def test_load_saved_gives_float32_of_a_bf16_model(self, tokenizer, tmp_path):
        model = init_model(TINY, 0)
        save_model(copy.deepcopy(model).to(torch.bfloat16), tokenizer, tmp_path / "m")
        loaded = load_saved(tmp_path / "m")
        assert all(p.dtype == torch.float32 for p in loaded.parameters())
        assert _same(_state(model.to(torch.bfloat16).float()), _state(loaded))

    def test_refuses_file_target(self, tokenizer, tmp_path):
        target = tmp_path / "file"
        target.write_text("x")
        with pytest.raises(OutputPathError, match="is a file"):
            save_model(copy.deepcopy(init_model(TINY, 0)), tokenizer, target)
        assert [p.name for p in tmp_path.iterdir()] == ["file"]


@pytest.mark.slow
def test_cpu_default_pretraining_reaches_loss():
    """The default TrainSpec on CPU_DEFAULT: ~1 min on 2 cores, loss 8.4 -> ~5.2 (prose)."""
    tok = build_tokenizer(CPU_DEFAULT.vocab_size)
    history: list[float] = []
    train(init_model(CPU_DEFAULT, 0), tok, TrainSpec(), history=history)
    assert history[0] > 8.0
    assert sum(history[-10:]) / 10 < 5.6
