"""Tiny GGUF files written with the gguf package's writer, as llama.cpp's converter writes them, for the tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gguf
import numpy as np
import transformers


def _llama_to_hf_names(layers: int) -> dict[str, str]:
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
                 "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for i in range(layers):
        names.update({f"model.layers.{i}.{hf}.weight": f"blk.{i}.{gg}.weight" for hf, gg in per_layer.items()})
    return names


def _llama_cpp_permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's q/k row order (rotary halves interleaved), which transformers' GGUF loader undoes."""
    return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def llama_cpp_tokens(vocab: dict[str, int], rows: int, unused: Sequence[str] = ()) -> list[tuple[str, int]]:
    """The token list llama.cpp's converter writes for a tokenizer's ``vocab`` and ``rows`` embedding rows: a
    ``[PAD<i>]`` of type UNUSED for every row no token has, the names in ``unused`` typed UNUSED (as Gemma's)."""
    names = {index: name for name, index in vocab.items()}
    return [(names[i], gguf.TokenType.UNUSED if names[i] in unused else gguf.TokenType.NORMAL) if i in names
            else (f"[PAD{i}]", gguf.TokenType.UNUSED) for i in range(rows)]


def write_gguf(model_dir: Path, path: Path, qtype: str = "F32", architecture: str = "llama",
               raw_type: str | None = None, tokens: Sequence[tuple[str, int]] = ()) -> Path:
    """Write a tiny Llama directory as a GGUF file with the gguf package's writer (matrices in ``qtype``;
    ``raw_type`` declares one matrix as another type with made-up bytes, to test refusals; ``tokens``, the
    (name, type) token list, see :func:`llama_cpp_tokens`)."""
    model = transformers.LlamaForCausalLM.from_pretrained(model_dir)
    config = model.config
    kind = gguf.GGMLQuantizationType[qtype]
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(config.vocab_size)
    if tokens:
        writer.add_tokenizer_model("gpt2")
        writer.add_token_list([name for name, _ in tokens])
        writer.add_token_types([kind for _, kind in tokens])
    names = _llama_to_hf_names(config.num_hidden_layers)
    for key, tensor in model.state_dict().items():
        array = tensor.numpy().astype(np.float32)
        if key.endswith("q_proj.weight"):
            array = _llama_cpp_permute(array, config.num_attention_heads)
        elif key.endswith("k_proj.weight"):
            array = _llama_cpp_permute(array, config.num_key_value_heads)
        if raw_type is not None and key == "model.layers.0.mlp.up_proj.weight":
            block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[raw_type]]
            writer.add_tensor(names[key], np.zeros((array.shape[0], array.shape[1] // block * size), dtype=np.uint8),
                              raw_dtype=gguf.GGMLQuantizationType[raw_type])
        elif array.ndim == 2 and kind != gguf.GGMLQuantizationType.F32:
            writer.add_tensor(names[key], gguf.quants.quantize(array, kind), raw_dtype=kind)
        else:
            writer.add_tensor(names[key], array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
