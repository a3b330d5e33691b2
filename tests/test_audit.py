"""``seedprints audit``: padded embedding rows found and measured (healthy, collapsed onto one vector, zeroed, none),
the parts of the default test classified from them, on every kind of model input, with one-line errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from seedprints.audit import MIN_RELATIVE_SPREAD, audit_model
from seedprints.options import RunOptions
from tests.conftest import TINY_VOCAB, TINY_WIDTH, _save, assert_one_line_error, build_tokenizer, run
from tests.hub_server import TINY_REPO, tiny_hub

TOKENS = 64  # the word-level test tokenizer's length: rows from here up to the vocabulary are padding
PADDED = TINY_VOCAB - TOKENS
CPU = RunOptions(device="cpu")


def _llama(path: Path, *, rows: int = TINY_VOCAB, tied: bool = False, edit=None, bf16: bool = False) -> Path:
    """A tiny Llama (seed 0) with ``rows`` embedding rows, its rows changed by ``edit(model)``, saved with the tokenizer."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(hidden_size=TINY_WIDTH, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=64, vocab_size=rows, max_position_embeddings=256,
                                      tie_word_embeddings=tied)
    model = transformers.LlamaForCausalLM(config)
    if edit is not None:
        with torch.no_grad():
            edit(model)
    return _save(model.to(torch.bfloat16) if bf16 else model, build_tokenizer(), path)


def _collapse(model) -> None:
    """Padded rows set to one vector plus 1e-6 noise (as in long-trained tied LLMs); 4 in-vocabulary rows to that vector."""
    import torch

    generator = torch.Generator().manual_seed(7)
    weight = model.get_input_embeddings().weight
    vector = torch.randn(TINY_WIDTH, generator=generator) * 0.02
    weight[TOKENS:] = vector + 1e-6 * torch.randn(PADDED, TINY_WIDTH, generator=generator)
    weight[TOKENS - 4:TOKENS] = vector


def _zero_padding(model) -> None:
    model.get_input_embeddings().weight[TOKENS:] = 0
    model.get_output_embeddings().weight[TOKENS:] = 0


def _without_model(data: dict) -> dict:
    return {key: value for key, value in data.items() if key != "model"}


@pytest.fixture(scope="module")
def healthy(tiny_llama_dir) -> dict:
    return audit_model(tiny_llama_dir, run=CPU).to_dict()


def test_healthy_padding_is_usable(healthy):
    assert healthy["tokenizer_length"] == TOKENS and healthy["tied"] is False
    for name in ("input", "output"):
        matrix = healthy[name]
        assert (matrix["rows"], matrix["padded_rows"], matrix["zero_rows"], matrix["in_vocab_twins"]) == (100, PADDED, 0, 0)
        padded = matrix["padded"]
        assert (padded["rows"], padded["distinct"], padded["groups"], padded["largest_group"], padded["zero"]) == (
            PADDED, PADDED, 0, 1, 0)
        assert matrix["ordinary_spread"] == pytest.approx(0.02, rel=0.05)  # the init's std
        assert 0.9 < padded["relative_spread"] < 1.1 and padded["along_mean"] < 0.1
    assert healthy["probe_spec"].endswith("untrained inputs=18 untrained logit tokens=18 [2ee0c156ed0a6359]")
    assert [healthy[p]["status"] for p in ("hidden_part", "untrained_inputs", "vocab_part")] == ["usable"] * 3
    assert healthy["untrained_inputs"]["rows"]["rows"] == 18 and healthy["vocab_part"]["rows"]["distinct"] == 18
    assert healthy["permutation_visible"] is True


def test_collapsed_tied_bf16_padding_is_degenerate(tmp_path):
    result = audit_model(_llama(tmp_path / "m", tied=True, edit=_collapse, bf16=True), run=CPU)
    assert result.tied is True and result.output is None and result.input.dtype == "bfloat16"
    padded = result.input.padded
    # bf16 rounds the noise away but for the few elements near zero: a handful of distinct rows, as in Qwen
    assert (padded.distinct, padded.groups, padded.largest_group, padded.zero) == (2, 2, 33, 0)
    assert 1e-6 < padded.spread < 1e-5 and padded.relative_spread < 1e-3 and padded.along_mean > 0.9999999
    assert result.input.in_vocab_twins == 4  # the rows set to the vector, byte-identical to the 33 once stored in bf16
    for part in (result.untrained_inputs, result.vocab_part):
        assert part.status == "degenerate" and part.rows.distinct == 2
        assert part.reason.startswith("only 2 distinct rows among the 18 ")
    assert result.permutation_visible is False and result.permutation_reason.endswith("which is degenerate here")


def test_collapsed_float32_padding_is_degenerate_by_its_spread(tmp_path):
    """Kept in float32 the noise keeps every row distinct; their spread around the one vector gives them away."""
    result = audit_model(_llama(tmp_path / "m", tied=True, edit=_collapse), run=CPU)
    padded = result.input.padded
    assert padded.distinct == PADDED and padded.relative_spread < 1e-4 and padded.along_mean > 0.999
    assert result.input.in_vocab_twins == 0
    vocab = result.vocab_part
    assert vocab.status == "degenerate" and vocab.rows.relative_spread < MIN_RELATIVE_SPREAD
    assert "one vector plus noise" in vocab.reason and result.permutation_visible is False


def test_zeroed_padding_is_counted_and_degenerate(tmp_path):
    result = audit_model(_llama(tmp_path / "m", edit=_zero_padding), run=CPU)
    assert result.tied is False
    for matrix in (result.input, result.output):
        assert (matrix.zero_rows, matrix.padded.zero, matrix.padded.distinct, matrix.padded.along_mean) == (PADDED, PADDED, 1, None)
        assert matrix.in_vocab_twins == 0
    assert result.vocab_part.status == result.untrained_inputs.status == "degenerate"
    assert result.vocab_part.reason == "all 18 scored output rows are zero"


def test_no_padding_leaves_the_vocab_part_absent(tmp_path):
    result = audit_model(_llama(tmp_path / "m", rows=TOKENS), run=CPU)
    assert (result.input.padded_rows, result.input.padded, result.input.in_vocab_twins) == (0, None, None)
    assert result.vocab_part.status == result.untrained_inputs.status == "absent"
    assert result.vocab_part.reason.startswith("0 padded rows, fewer than the 16")
    assert "untrained" not in result.probe_spec and result.permutation_visible is False


def test_gguf_without_a_token_list_has_no_padding_to_tell(tiny_llama_dir, tmp_path):
    pytest.importorskip("gguf")
    from tests.gguf_files import write_gguf

    result = audit_model(write_gguf(tiny_llama_dir, tmp_path / "m.gguf"), run=CPU).to_dict()
    assert result["tokenizer_length"] is None and result["tied"] is False
    assert (result["input"]["rows"], result["input"]["padded_rows"], result["output"]["zero_rows"]) == (100, 0, 0)
    assert result["vocab_part"]["status"] == "absent" and result["vocab_part"]["reason"].startswith("no tokenizer")
    assert result["input"]["ordinary_spread"] == pytest.approx(0.02, rel=0.05)


def test_gguf_with_llama_cpp_token_list_audits_as_its_directory(tiny_llama_dir, tmp_path, healthy):
    """llama.cpp's converter names the padded rows ``[PAD<i>]``: the F32 file's audit is its directory's."""
    pytest.importorskip("gguf")
    from tests.gguf_files import llama_cpp_tokens, write_gguf

    tokens = llama_cpp_tokens(build_tokenizer().get_vocab(), TINY_VOCAB)
    result = audit_model(write_gguf(tiny_llama_dir, tmp_path / "m.gguf", tokens=tokens), run=CPU).to_dict()
    assert result["model"] == str(tmp_path / "m.gguf") and _without_model(result) == _without_model(healthy)


def test_peft_adapter_is_audited_merged(tiny_llama_dir, tmp_path, healthy):
    """A LoRA adapter on attention and MLP leaves the embeddings alone: the audit equals its base's."""
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(3)
    base = transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft calls a transformers method deprecated in v5
        get_peft_model(base, config).save_pretrained(tmp_path / "adapter")
    result = audit_model(tmp_path / "adapter", run=CPU).to_dict()
    assert result["model"] == str(tmp_path / "adapter") and _without_model(result) == _without_model(healthy)


def test_hub_id_through_the_cli(tiny_llama_dir, tiny_llama_derived_dir, tmp_path, monkeypatch, capsys, healthy):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for name in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with tiny_hub(tiny_llama_dir, tiny_llama_derived_dir) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        code, out, err = run(capsys, "audit", f"{TINY_REPO}@v1", "--json", "--device", "cpu")
    assert code == 0, err
    result = json.loads(out)
    assert "models--tiny-org--tiny-llama" in result["model"]
    assert _without_model(result) == {"schema_version": 1, **_without_model(healthy)}


def test_json_keys(tiny_llama_dir, capsys):
    code, out, err = run(capsys, "audit", tiny_llama_dir, "--json", "--device", "cpu")
    assert code == 0 and err == "", err
    result = json.loads(out)
    assert list(result) == ["schema_version", "model", "tokenizer_length", "tied", "input", "output", "probe_spec",
                            "hidden_part", "untrained_inputs", "vocab_part", "permutation_visible", "permutation_reason"]
    assert list(result["input"]) == list(result["output"]) == [
        "dtype", "rows", "padded_rows", "zero_rows", "padded", "ordinary_spread", "in_vocab_twins"]
    assert list(result["input"]["padded"]) == list(result["vocab_part"]["rows"]) == [
        "rows", "distinct", "groups", "largest_group", "zero", "spread", "relative_spread", "along_mean"]
    assert list(result["vocab_part"]) == ["status", "reason", "rows"] and result["hidden_part"]["rows"] is None


def test_terminal_output(tiny_llama_dir, capsys):
    code, out, err = run(capsys, "audit", tiny_llama_dir, "--device", "cpu")
    assert code == 0 and err == "", err
    assert f"100 embedding rows, tokenizer {TOKENS} tokens: {PADDED} padded" in out and "separate matrix" in out
    assert "18 scored output rows: 18 distinct" in out
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("permutation visible: yes (fingerprints that carry a weight sketch") and "which is usable here" in last


@pytest.mark.parametrize("case", ["missing", "not a model", "gguf of unknown architecture"])
def test_bad_input_is_one_line_and_writes_nothing(case, tiny_llama_dir, tmp_path, monkeypatch, capsys):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    if case == "missing":
        model, fragment = inputs / "nope", "does not exist"
    elif case == "not a model":
        (inputs / "notes.txt").write_text("hello")
        model, fragment = inputs, "config.json"
    else:
        pytest.importorskip("gguf")
        from tests.gguf_files import write_gguf

        model, fragment = write_gguf(tiny_llama_dir, inputs / "odd.gguf", architecture="rwkv9"), "architecture 'rwkv9'"
    before = sorted(tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "audit", model, "--device", "cpu")
    assert_one_line_error(code, err, fragment)
    assert out == "" and sorted(tmp_path.rglob("*")) == before


def test_batch_size_is_a_usage_error(tiny_llama_dir, capsys):
    code, _, err = run(capsys, "audit", tiny_llama_dir, "--batch-size", "4")
    assert code == 2 and "--batch-size would be ignored: audit runs no forward pass" in err
