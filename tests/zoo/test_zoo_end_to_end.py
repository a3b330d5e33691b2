"""The whole zoo pipeline on the small `ci` config, through the CLI: build, evaluate, read the results page."""

from __future__ import annotations

import json

import pytest

from seedprints.cli import main


@pytest.mark.slow
def test_ci_zoo_build_and_eval(tmp_path, capsys):
    zoo, results = tmp_path / "zoo", tmp_path / "results"
    assert main(["zoo", "build", "--config", "ci", "--out", str(zoo), "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert len(built["built"]) == 14 and not built["skipped"]  # 11 untied, 3 of one tied-collapsed lineage

    assert main(["zoo", "eval", str(zoo), "--out", str(results), "--n", "300", "--length", "32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not report["failed"]
    for name in ("results.json", "summary.md", "calibration.png", "roc.png", "detection.png"):
        assert (results / name).is_file(), name
    data = json.loads((results / "results.json").read_text())
    assert {p["regime"] for p in data["pairs"] if p["category"] == "init→pretrained"} == {"unseen-tail", "tied-collapsed"}
    finetunes = [p for p in data["pairs"] if p["category"] == "finetune" and p["regime"] == "unseen-tail"]
    assert len(finetunes) == 2
    for pair in finetunes:  # the default test detects fine-tuned copies, through both of its parts
        result = pair["results"]["lineage"]
        assert result["verdict"] == "same-lineage" and min(result["details"]["hidden_z"], result["details"]["vocab_z"]) > 3
        assert pair["results"]["paper"]["method"] == "paper"  # at d=64 it keeps ~6 identity dimensions: no power claim
    permuted = [p for p in data["pairs"] if p["category"] == "permute"]
    assert permuted and all(p["results"]["lineage"]["verdict"] == "same-lineage" for p in permuted)
    summary = (results / "summary.md").read_text()
    assert "seedprints zoo eval" in summary and "lineage" in summary and "paper" in summary

    assert main(["zoo", "build", "--config", "ci", "--out", str(zoo), "--json"]) == 0  # resumes: nothing to do
    assert json.loads(capsys.readouterr().out)["built"] == []
