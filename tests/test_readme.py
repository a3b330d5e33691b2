"""The README's Python blocks run as pasted, in a folder holding the two models they name."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    """The code of every fenced ``python`` block, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_readme_has_python_to_run():
    assert python_blocks(README.read_text())


@pytest.mark.slow
def test_readme_python_blocks_run_as_pasted(tmp_path, monkeypatch, tiny_llama_dir, tiny_llama_derived_dir, capsys):
    shutil.copytree(tiny_llama_dir, tmp_path / "base-model")
    shutil.copytree(tiny_llama_derived_dir, tmp_path / "suspect-model")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in python_blocks(README.read_text()):
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - the README's own code, run as a reader would
    assert namespace["result"].verdict == "same-lineage" and namespace["found"].best.name == "base-model"
