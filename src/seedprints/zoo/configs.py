"""Built-in zoo configs: ``cpu`` (the default zoo), ``ci`` (a small smoke zoo) and ``gpu`` (the paper's toy shape).

The ``cpu`` zoo pretrains four regimes of three lineages each (see
:func:`seedprints.zoo.build.regime_pretrain`): ``unseen-tail`` and ``seen-tail`` lineages see the
same prose in the same order (the hard negative: same data, same order, different init), the
latter with every token of the tokenizer trained; ``shared-tokenizer`` lineages see overlapping
subsets in their own order; ``tied-collapsed`` lineages (tied embeddings, stored in bf16) see the
``unseen-tail`` data, and their untrained rows then collapse as in a long run. Every embedding
matrix has rows past the tokenizer's length (padded vocabularies, as in Qwen2, Phi-2 or Pythia):
``vocab_size`` is the tokenizer's plus a padding.
"""

from __future__ import annotations

from typing import Any

_EDITS = [
    {"transform": "int8"},
    {"transform": "int4"},
    {"transform": "prune", "fraction": 0.3},
    {"transform": "noise", "relative_std": 0.05},
    {"transform": "permute"},
    {"transform": "permute-mlp"},
    {"transform": "zero-padding"},
    {"transform": "refresh-padding"},
]

_CPU_ARCH = {"family": "llama", "hidden_size": 256, "num_layers": 4, "num_heads": 4, "intermediate_size": 688,
             "vocab_size": 4096 + 256, "max_position": 256}

CPU: dict[str, Any] = {
    "name": "cpu",
    "tokenizer_vocab": 4096,
    "families": [
        {"arch": _CPU_ARCH, "seeds": [1, 2, 3], "derive": "full", "regime": "unseen-tail"},
        {"arch": _CPU_ARCH, "seeds": [21, 22, 23], "derive": "full", "regime": "seen-tail"},
        {"arch": _CPU_ARCH, "seeds": [31, 32, 33], "derive": "full", "regime": "shared-tokenizer"},
        {"arch": {**_CPU_ARCH, "tie_embeddings": True}, "seeds": [41, 42, 43], "derive": "full", "regime": "tied-collapsed"},
        {"arch": {**_CPU_ARCH, "family": "qwen2"}, "seeds": [11, 12], "derive": "basic", "regime": "unseen-tail"},
    ],
    "pretrain": {"domain": "prose", "steps": 200, "batch_size": 16, "seq_len": 128, "lr": 1e-3, "warmup": 20, "data_seed": 0},
    "checkpoints": [50],
    "continual": {"domain": "code", "steps": 60, "batch_size": 16, "seq_len": 128, "lr": 5e-4, "warmup": 5, "data_seed": 1},
    "finetune": {"domain": "topics", "steps": 40, "batch_size": 16, "seq_len": 128, "lr": 3e-4, "warmup": 5, "data_seed": 2},
    "lora": {"train": {"domain": "topics", "steps": 40, "batch_size": 16, "seq_len": 128, "lr": 2e-3, "warmup": 5,
                       "data_seed": 2}, "rank": 8},
    "edits": _EDITS,
    "merge": True,
    "blend": [0.1, 0.5, 0.9],
    "distill": {"teacher_seed": 1, "student_seeds": [101],
                "train": {"domain": "prose", "steps": 150, "batch_size": 16, "seq_len": 128, "lr": 1e-3, "warmup": 15,
                          "data_seed": 0}},
}

_CI_ARCH = {"family": "llama", "hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 128,
            "vocab_size": 512 + 128, "max_position": 128}

CI: dict[str, Any] = {
    "name": "ci",
    "tokenizer_vocab": 512,
    "families": [
        {"arch": _CI_ARCH, "seeds": [1, 2], "derive": "full"},
        {"arch": {**_CI_ARCH, "tie_embeddings": True}, "seeds": [3], "derive": "basic", "regime": "tied-collapsed"},
    ],
    "pretrain": {"domain": "prose", "steps": 30, "batch_size": 8, "seq_len": 64, "lr": 2e-3, "warmup": 3, "data_seed": 0,
                 "max_chars": 200000},
    "finetune": {"domain": "code", "steps": 10, "batch_size": 8, "seq_len": 64, "lr": 5e-4, "warmup": 2, "data_seed": 1,
                 "max_chars": 200000},
    "edits": [{"transform": "int8"}, {"transform": "permute"}],
    "blend": [0.5],
}

_GPU_ARCH = {"family": "llama", "hidden_size": 768, "num_layers": 12, "num_heads": 12, "intermediate_size": 2048,
             "vocab_size": 32000 + 256, "max_position": 1024}

GPU: dict[str, Any] = {
    **CPU,
    "name": "gpu",
    "tokenizer_vocab": 32000,
    "families": [
        {"arch": _GPU_ARCH, "seeds": [42, 123, 1000], "derive": "full", "regime": "unseen-tail"},
        {"arch": _GPU_ARCH, "seeds": [2000, 2001, 2002], "derive": "full", "regime": "seen-tail"},
        {"arch": _GPU_ARCH, "seeds": [3000, 3001, 3002], "derive": "full", "regime": "shared-tokenizer"},
        {"arch": {**_GPU_ARCH, "family": "qwen2"}, "seeds": [11, 12], "derive": "basic", "regime": "unseen-tail"},
    ],
    "pretrain": {"domain": "prose", "steps": 1500, "batch_size": 32, "seq_len": 512, "lr": 6e-4, "warmup": 100,
                 "data_seed": 0, "max_chars": None},
    "checkpoints": [50, 200, 800],
    "continual": {"domain": "code", "steps": 400, "batch_size": 32, "seq_len": 512, "lr": 3e-4, "warmup": 20,
                  "data_seed": 1, "max_chars": None},
    "distill": {**CPU["distill"], "teacher_seed": 42},
}

BUILTIN_CONFIGS: dict[str, dict[str, Any]] = {"cpu": CPU, "ci": CI, "gpu": GPU}
