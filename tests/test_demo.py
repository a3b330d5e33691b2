"""The demo end to end with few training steps: structure of its report, and re-runs reuse saved models."""

from __future__ import annotations

import json

import pytest

from seedprints.api import load_fingerprint
from seedprints.cli import main

QUICK = ["--pretrain-steps", "4", "--finetune-steps", "2", "--n", "100", "--length", "16"]


@pytest.mark.slow
def test_demo_reports_every_pair_with_every_method(tmp_path, capsys):
    assert main(["demo", *QUICK, "--out", str(tmp_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    pairs = payload["pairs"]
    assert len(pairs) == 7
    assert {p["truth"] for p in pairs} == {"same-lineage", "independent"}
    finetune = next(p for p in pairs if p["relation"] == "fine-tuned on code")
    for method in ("lineage", "paper"):
        assert finetune["results"][method]["verdict"] == "same-lineage"
    permuted = next(p for p in pairs if "permuted" in p["relation"])
    assert permuted["results"]["lineage"]["details"]["vocab_z"] > 5  # the padded rows see through the permutation
    assert (tmp_path / "base-seed1.untrained.fp.safetensors").is_file() and (tmp_path / "finetune-of-seed1" / "config.json").is_file()
    assert load_fingerprint(tmp_path / "base-seed1.untrained.fp.safetensors").model_id.endswith("base-seed1")  # named, not a class

    assert main(["demo", *QUICK, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("reusing it") == 7 and "verdicts match the known lineage" in captured.out


def test_cli_defaults_are_the_demo_settings():
    """The demo verb's flags default to DemoSettings' sizes (which the CLI does not import at start-up)."""
    import inspect

    from seedprints.cli import demo as cli_demo
    from seedprints.demo import DemoSettings

    own = inspect.signature(cli_demo.demo).parameters
    defaults = DemoSettings()
    assert {k: own[k].default for k in ("pretrain_steps", "finetune_steps", "n", "length")} == {
        k: getattr(defaults, k) for k in ("pretrain_steps", "finetune_steps", "n", "length")}
