"""The Python API: untrained-token probes, fingerprints that carry logits, and lineage through a hidden permutation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import seedprints
from seedprints import api
from seedprints.model import load as extract
from seedprints.errors import (
    IncompatibleFingerprintsError,
    InsufficientDataError,
    LowPowerWarning,
    NonFiniteHiddenStatesError,
    UsageError,
)
from seedprints.probes import ProbeSpec, generated, token_spec, untrained_token_spec
from seedprints.zoo.derive import permute_hidden

DEFAULT = api.ProbeOptions(n=200, length=16, rare_tokens=12)


@pytest.fixture(scope="module")
def base_fp(tiny_llama_dir):
    return seedprints.fingerprint_model(tiny_llama_dir, options=DEFAULT)


class TestUntrainedTokenSpec:
    def test_inputs_and_outputs_alternate_over_the_rows_past_the_tokenizer(self, tiny_llama_dir):
        loaded = extract.load_model(tiny_llama_dir)
        start = loaded.tokenizer_length
        assert start is not None and start + 24 <= loaded.vocab_size
        spec = api.ProbeOptions(n=20, length=8, rare_tokens=12).spec_for([loaded.vocab_size], loaded.hidden_size, start)
        assert spec.input_tokens == tuple(range(start, start + 24, 2))
        assert spec.output_tokens == tuple(range(start + 1, start + 24, 2))
        assert spec.untrained_from == start and spec.scores_untrained_logits

    def test_default_takes_every_padded_row_up_to_128_each(self):
        spec = untrained_token_spec(20, 8, 1000, 700)
        assert spec.input_tokens == tuple(range(700, 956, 2)) and spec.output_tokens == tuple(range(701, 957, 2))
        small = untrained_token_spec(20, 8, 100, 80)
        assert len(small.input_tokens) == len(small.output_tokens) == 10

    @pytest.mark.parametrize(("rows", "tokenizer"), [(100, 100), (100, 90), (100, None)])
    def test_without_padding_the_probes_are_uniform_and_score_nothing(self, rows, tokenizer):
        spec = untrained_token_spec(20, 8, rows, tokenizer)
        assert spec == token_spec(20, 8, rows) and not spec.scores_untrained_logits

    def test_spec_depends_only_on_the_vocabulary(self, tiny_llama_dir, tiny_llama_other_dir):
        one = seedprints.fingerprint_model(tiny_llama_dir, n=20, length=8).spec
        other = seedprints.fingerprint_model(tiny_llama_other_dir, n=20, length=8).spec
        both = api.shared_default_spec([tiny_llama_dir, tiny_llama_other_dir], api.ProbeOptions(n=20, length=8))
        assert one == other == both and one.scores_untrained_logits

    def test_rare_is_the_old_name(self):
        assert api.ProbeOptions(kind="rare").kind == "untrained"

    def test_too_few_tokens(self):
        with pytest.raises(UsageError, match="rare_tokens=4 is too few"):
            api.ProbeOptions(n=20, length=8, rare_tokens=4).spec_for([100], 32, 50)

    def test_probes_never_feed_a_scored_token(self, base_fp):
        """Odd probes feed padding rows, even probes tokenizer ids: never a token whose logit is scored."""
        ids = np.stack(generated(base_fp.spec).token_ids(0, 200))
        assert set(np.unique(ids[1::2])) <= set(base_fp.spec.input_tokens)
        assert ids[0::2].max() < base_fp.spec.trained_inputs_below <= base_fp.spec.untrained_from
        assert not set(np.unique(ids)) & set(base_fp.spec.output_tokens)

    def test_untrained_from_must_lie_below_the_outputs(self):
        with pytest.raises(UsageError, match="untrained_from=50"):
            ProbeSpec(kind="token", n=20, length=4, vocab_bound=100, input_tokens=(60, 62), output_tokens=(41, 63),
                      untrained_from=50)


class TestFingerprintWithLogits:
    def test_logits_are_hidden_times_unembedding(self, base_fp, tiny_llama_dir):
        import torch
        import transformers

        model = transformers.AutoModelForCausalLM.from_pretrained(tiny_llama_dir, local_files_only=True)
        ids = torch.from_numpy(np.stack(generated(base_fp.spec).token_ids(0, 5)))
        with torch.no_grad():
            logits = model(input_ids=ids).logits[:, -1, list(base_fp.spec.output_tokens)].numpy()
        np.testing.assert_allclose(base_fp.logits[:5], logits, rtol=1e-4, atol=1e-5)

    def test_in_memory_model_gives_the_same_fingerprint(self, base_fp, tiny_llama_dir):
        import transformers

        model = transformers.AutoModelForCausalLM.from_pretrained(tiny_llama_dir, local_files_only=True)
        again = seedprints.fingerprint_model(model, base_fp.spec)
        np.testing.assert_allclose(again.logits, base_fp.logits, rtol=1e-5, atol=1e-6)

    def test_like_reuses_the_spec(self, base_fp, tmp_path):
        base_fp.save(tmp_path / "base.safetensors")
        assert api.probes_like(tmp_path / "base.safetensors") == base_fp.spec

    def test_model_without_head_refuses_logit_probes(self, base_fp):
        import transformers

        config = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                          intermediate_size=64, vocab_size=100)
        bare = transformers.LlamaModel(config)
        with pytest.raises(UsageError, match="no LM head"):
            seedprints.fingerprint_model(bare, base_fp.spec)


class TestLineageThroughPermutation:
    def test_vocab_statistic_sees_a_permuted_copy(self, base_fp, tiny_llama_dir, tiny_llama_other_dir):
        import transformers

        permuted = permute_hidden(transformers.AutoModelForCausalLM.from_pretrained(tiny_llama_dir, local_files_only=True), seed=3)
        same = seedprints.compare(base_fp, seedprints.fingerprint_model(permuted, base_fp.spec))
        unrelated = seedprints.compare(base_fp, seedprints.fingerprint_model(tiny_llama_other_dir, base_fp.spec))
        assert same.verdict == "same-lineage" and same.details["vocab_z"] > 5 > same.details["hidden_z"]
        assert unrelated.verdict == "independent"

    def test_spec_token_lists_are_validated(self):
        with pytest.raises(UsageError, match="disjoint"):
            ProbeSpec(kind="token", n=20, length=4, vocab_bound=50, input_tokens=(1, 2), output_tokens=(2, 3))
        with pytest.raises(UsageError, match="below vocab_bound"):
            ProbeSpec(kind="token", n=20, length=4, vocab_bound=50, input_tokens=(1, 60))


@pytest.fixture(scope="module")
def pair():
    """Two random fingerprints of 40 token probes (no model needed)."""
    from seedprints.fingerprint import Fingerprint
    from seedprints.probes import token_spec

    rng = np.random.default_rng(0)
    spec = token_spec(40, 4, 100)
    return [Fingerprint(hidden=rng.standard_normal((40, 16)).astype(np.float32), spec=spec, model_id=f"m{i}") for i in range(2)]


class TestCompareArguments:
    """compare refuses a bad seed or budget with one clear error before any model is touched."""

    @pytest.mark.parametrize(("settings", "error", "fragment"), [
        ({"seed": -1}, UsageError, "seed must be 0 or more"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
        ({"budget": 0}, UsageError, "budget of 0 probes is too small; the lineage test needs at least 20"),
        ({"budget": -1}, UsageError, "budget of -1 probes is too small"),
        ({"budget": 5}, UsageError, "budget of 5 probes is too small"),
        ({"budget": 5, "method": "paper"}, UsageError, "the paper test needs at least 10"),
        ({"budget": 22, "early_stop": True}, UsageError, "below the first look of early stopping .25 probes."),
        ({"budget": True}, TypeError, "budget must be an int"),
        ({"budget": "30"}, TypeError, "budget must be an int"),
    ])
    def test_bad_settings(self, pair, settings, error, fragment):
        with pytest.raises(error, match=fragment):
            seedprints.compare(*pair, **settings)

    def test_checked_before_any_model_is_loaded(self, tmp_path):
        with pytest.raises(UsageError, match="budget of 3 probes is too small"):
            seedprints.compare(tmp_path / "no-model", tmp_path / "no-model-either", budget=3)

    def test_good_settings_run(self, pair):
        assert seedprints.compare(*pair, seed=np.int64(3), budget=np.int64(30)).n == 30


class TestAdviceNamesPythonParameters:
    """Advice reached through the API names keyword arguments (``n=``), never CLI flags (``--n``)."""

    @staticmethod
    def _refused(error, call):
        with pytest.raises(error) as caught:
            call()
        message = str(caught.value)
        assert "--" not in message, message
        return message

    def test_too_few_probes(self, pair):
        few = [fp.prefix(10) for fp in pair]
        assert "(use n=1000 or more)" in self._refused(InsufficientDataError, lambda: seedprints.compare(*few))

    def test_other_probes(self, pair):
        other = dataclasses.replace(pair[1], spec=token_spec(40, 4, 100, seed=7))
        message = self._refused(IncompatibleFingerprintsError, lambda: seedprints.compare(pair[0], other))
        assert message.endswith("(seedprints.fingerprint_model(suspect, reference.spec))")

    def test_non_finite_hidden_states(self, pair):
        hidden = pair[1].hidden.copy()
        hidden[0, 0] = np.nan
        broken = dataclasses.replace(pair[1], hidden=hidden)
        assert "re-extract with dtype='float32'" in self._refused(NonFiniteHiddenStatesError,
                                                                  lambda: seedprints.compare(pair[0], broken))

    def test_early_stop_with_the_paper_method(self, pair):
        message = self._refused(UsageError, lambda: seedprints.compare(*pair, method="paper", early_stop=True))
        assert "drop early_stop=True for method='paper'" in message

    def test_identify_budget_below_the_first_look(self, pair, tmp_path):
        message = self._refused(UsageError, lambda: seedprints.identify(pair[0], tmp_path / "r.db", budget=22, early_stop=True))
        assert message.endswith("raise budget= or drop early_stop=True")

    def test_low_power_warning(self, pair):
        with pytest.warns(LowPowerWarning) as caught:
            seedprints.compare(*pair, method="paper", buffer_k=1)
        message = str(caught[0].message)
        assert "a larger buffer k (buffer_k=)" in message and "--" not in message
