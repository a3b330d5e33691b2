"""Fixtures of the zoo tests: the small tokenizer the tiny models train with, and a zoo whose only model has a given manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seedprints.zoo.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    """The zoo tokenizer at 512 tokens, fitted on 50k characters of each domain: quick to build."""
    return build_tokenizer(512, chars_per_domain=50_000)


@pytest.fixture
def one_model_zoo(tmp_path: Path) -> Callable[[Any], Path]:
    """Factory: a zoo of one model directory ``m1`` whose ``zoo_manifest.json`` holds the given JSON (or raw text)."""

    def make(manifest: Any, config: str = "{}") -> Path:
        model = tmp_path / "zoo" / "m1"
        model.mkdir(parents=True)
        (model / "config.json").write_text(config)
        (model / "zoo_manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
        return model.parent

    return make
