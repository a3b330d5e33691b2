"""Fixtures of the zoo tests' bad inputs: a zoo whose only model has the manifest a test gives."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


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
