"""Tests for seedprints.zoo.seedcurve: the init-seed identification curve, on a tiny zoo built without training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedprints import seeds
from seedprints.cli import main
from seedprints.errors import UsageError, ZooConfigError
from seedprints.options import ProbeOptions, RunOptions
from seedprints.zoo import seedcurve
from seedprints.zoo.manifest import ModelEntry, lineage_id, write_manifest
from ..conftest import assert_close_results

TINY = {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64, "vocab_size": 100, "max_position_embeddings": 64}
PROBES = dict(probes=ProbeOptions(n=60, length=8, rare_tokens=12), run=RunOptions(batch_size=64))


def _entry(seed: int, stage: str, steps: int, name: str | None = None) -> ModelEntry:
    return ModelEntry(name=name or f"llama-s{seed}-{stage}", family="llama", init_seed=seed, lineages=(lineage_id("llama", seed),),
                      stage=stage, label=stage, parents=(), steps=steps)


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory) -> Path:
    """Lineages llama-s1 and llama-s2: inits rebuilt by seeds, "pretrained" = init + 5% weight noise; plus a blend."""
    from seedprints.zoo import derive

    zoo = tmp_path_factory.mktemp("seedzoo")

    def save(model, entry: ModelEntry) -> None:
        model.save_pretrained(zoo / entry.name)
        write_manifest(zoo / entry.name, entry)

    inits = {s: seeds.init_model_from_config(TINY, s) for s in (1, 2)}
    for s, model in inits.items():
        save(model, _entry(s, "init", 0))
        save(derive.add_weight_noise(model, 0.05, seed=10 + s), _entry(s, "pretrained", 100))
    blend = ModelEntry(name="llama-blend", family="llama", init_seed=1, lineages=("llama-s1", "llama-s2"), stage="blend",
                       label="blend", steps=100)
    save(derive.average_models([inits[1], inits[2]], [0.5, 0.5]), blend)
    return zoo


@pytest.fixture(scope="module")
def curve(tiny_zoo, tmp_path_factory):
    return seedcurve.seed_curve(tiny_zoo, tmp_path_factory.mktemp("out"), candidates=4, **PROBES)


class TestSeedCurve:
    def test_files_written(self, curve):
        for key in ("results", "summary", "plot"):
            assert curve.paths[key].is_file() and curve.paths[key].stat().st_size > 0
        data = json.loads(curve.paths["results"].read_text())
        assert data["settings"]["candidates"] == 4 and len(data["results"]) == 8
        summary = curve.paths["summary"].read_text()
        assert "seed-curve.png" in summary and "seedprints zoo seeds" in summary and "llama-s2-pretrained" in summary

    def test_suspects_and_init_check(self, curve):
        assert {(r.suspect, r.probe) for r in curve.results} == {
            (f"llama-s{s}-{stage}", kind) for s in (1, 2) for stage in ("init", "pretrained") for kind in ("token", "rare")}
        assert curve.architectures[0]["init_reproduced"] == {"llama-s1": True, "llama-s2": True}

    def test_true_seed_found(self, curve):
        for r in curve.results:
            assert r.rank == 1 and r.top1 and r.detected and r.z_true > r.z_best_wrong, r
            assert r.best_wrong_seed != r.true_seed and 0 <= r.best_wrong_seed < 4

    def test_curve(self, curve):
        assert set(curve.curve) == {"token", "rare"}
        assert [(p["steps"], p["suspects"], p["accuracy"]) for p in curve.curve["token"]] == [(0, 2, 1.0), (100, 2, 1.0)]

    def test_rerun_uses_cache(self, curve, tiny_zoo, tmp_path, monkeypatch):
        monkeypatch.setattr(seeds, "fingerprint_init", lambda *a, **k: pytest.fail("candidate fingerprinted again"))
        again = seedcurve.seed_curve(tiny_zoo, tmp_path, candidates=4, **PROBES)
        # cached candidates are decoded ranks, the first run's were fresh arrays: BLAS may sum them in another order
        assert_close_results([r.to_dict() for r in again.results], [r.to_dict() for r in curve.results])

    def test_filters(self, tiny_zoo, tmp_path):
        report = seedcurve.seed_curve(tiny_zoo, tmp_path, candidates=3, kinds=["rare"], stages=["pretrained"],
                                      lineages=["llama-s2"], **PROBES)
        assert [(r.suspect, r.probe) for r in report.results] == [("llama-s2-pretrained", "rare")]

    @pytest.mark.parametrize("kwargs, error, fragment", [
        (dict(candidates=2), UsageError, "raise --candidates to 3"),
        (dict(kinds=["embedding"]), UsageError, "unknown probe kind"),
        (dict(stages=["nope"]), UsageError, "unknown stage"),
        (dict(rare_suspects=["llama-blend"]), UsageError, "not a suspect"),
        (dict(stages=["distill"]), ZooConfigError, "no single-lineage model"),
    ])
    def test_bad_arguments(self, tiny_zoo, tmp_path, kwargs, error, fragment):
        with pytest.raises(error, match=fragment):
            seedcurve.seed_curve(tiny_zoo, tmp_path, **{"candidates": 4, **PROBES, **kwargs})

    def test_init_that_does_not_reproduce(self, tmp_path):
        zoo = tmp_path / "zoo"
        model = seeds.init_model_from_config(TINY, 7)  # saved as if it were seed 1's init
        model.save_pretrained(zoo / "llama-s1-init")
        write_manifest(zoo / "llama-s1-init", _entry(1, "init", 0))
        with pytest.raises(ZooConfigError, match="differs from"):
            seedcurve.seed_curve(zoo, tmp_path / "out", candidates=2, **PROBES)

    def test_cli_json(self, capsys, tiny_zoo, tmp_path, curve):
        code = main(["zoo", "seeds", str(tiny_zoo), "--out", str(tmp_path), "--candidates", "4", "--probe", "token",
                     "--n", "60", "--length", "8", "--batch-size", "64", "--json"])
        out, _ = capsys.readouterr()
        assert code == 0
        payload = json.loads(out)
        assert payload["curve"]["token"] == curve.curve["token"]

    def test_cli_missing_zoo(self, capsys, tmp_path):
        code = main(["zoo", "seeds", str(tmp_path / "none"), "--out", str(tmp_path / "out")])
        _, err = capsys.readouterr()
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 1 and len(lines) == 1 and lines[0].startswith("Error: ") and "does not exist" in lines[0]
