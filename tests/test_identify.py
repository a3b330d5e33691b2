"""Tests of seedprints.search.identification.identify and ``seedprints identify``: ranking, adjusted p-values, skips, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from seedprints.cli import main
from seedprints.encoding import rank_fingerprint
from seedprints.errors import IncompatibleFingerprintsError, RegistryError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.search.identification import identify
from seedprints.probes import ProbeSpec, token_spec
from seedprints.registry import Registry
from seedprints.stats.lineage import lineage_test_ranked
from seedprints.stats.multiple import bh_log10, holm_log10

N, D, M = 200, 32, 16
SPEC = ProbeSpec(kind="token", n=N, length=8, vocab_bound=100, input_tokens=tuple(range(0, 40, 2)),
                 output_tokens=tuple(range(1, 1 + 2 * M, 2)), untrained_from=1)
OTHER_SPEC = token_spec(N, 8, 100, seed=7)


def fingerprint(rng, name, *, like=None, d=D, spec=SPEC):
    """A synthetic fingerprint: independent, or ``like`` plus noise (a derived model)."""
    hidden = rng.standard_normal((N, d)) if like is None else like.hidden + rng.standard_normal((N, d))
    logits = None
    if spec.output_tokens:
        logits = rng.standard_normal((N, M)) if like is None else like.logits + rng.standard_normal((N, M))
    return Fingerprint(hidden=hidden.astype(np.float32), spec=spec, model_id=name,
                       logits=None if logits is None else logits.astype(np.float32))


@pytest.fixture()
def zoo(tmp_path):
    """A registry with a parent, four unrelated models, one of another width and one of other probes; and a child."""
    rng = np.random.default_rng(0)
    parent = fingerprint(rng, "parent")
    path = tmp_path / "refs.db"
    with Registry.open(path) as reg:
        reg.add(parent, name="parent", tags={"family": "a"})
        for i in range(4):
            reg.add(fingerprint(rng, f"other-{i}"), name=f"other-{i}", tags={"family": f"b{i}"})
        reg.add(fingerprint(rng, "wide", d=D + 8), name="wide")
        reg.add(fingerprint(rng, "token", spec=OTHER_SPEC), name="token-probes")
    child = fingerprint(rng, "child", like=parent)
    child_file = tmp_path / "child.fp.safetensors"
    child.save(child_file)
    return path, child, child_file


class TestIdentify:
    def test_parent_first_with_adjusted_p_below_alpha(self, zoo):
        path, child, _ = zoo
        result = identify(child, path)
        names = [c.name for c in result.candidates]
        assert names[0] == "parent" and set(names[1:]) == {f"other-{i}" for i in range(4)}
        best = result.best
        assert best.verdict == best.bh_verdict == "same-lineage" and best.log10_p_holm < math.log10(0.01)
        assert all(c.verdict == "independent" and c.log10_p > best.log10_p for c in result.candidates[1:])
        assert (result.statistic, result.pvalue) == (best.z, best.p_holm) and best.tags == {"family": "a"}

    def test_skipped_entries_counted_by_reason(self, zoo):
        path, child, _ = zoo
        result = identify(child, path)
        assert result.tested == 5 and result.skipped == {"hidden_size": 1, "probe_spec": 1}
        assert result.probe_hashes == [SPEC.hash]

    def test_numbers_equal_pairwise_tests_and_adjustments(self, zoo):
        path, child, _ = zoo
        result = identify(child, path, top=None)
        with Registry.open(path) as reg:
            refs = dict((e.name, r) for e, r in reg.ranked(probe_hash=SPEC.hash))
        suspect = rank_fingerprint(child)
        raw = [lineage_test_ranked(refs[c.name], suspect, n_permutations=0) for c in result.candidates]
        np.testing.assert_allclose([c.log10_p for c in result.candidates], [r.log10_p for r in raw], rtol=1e-10)
        np.testing.assert_allclose([c.z for c in result.candidates], [r.z for r in raw], rtol=1e-10)
        log10_p = np.array([c.log10_p for c in result.candidates])
        np.testing.assert_allclose([c.log10_p_holm for c in result.candidates], holm_log10(log10_p), rtol=1e-12)
        np.testing.assert_allclose([c.log10_p_bh for c in result.candidates], bh_log10(log10_p), rtol=1e-12)

    def test_top_and_scan_log(self, zoo):
        path, _, child_file = zoo
        result = identify(child_file, path, top=2)
        assert len(result.candidates) == 2 and result.tested == 5 and result.suspect == str(child_file)
        with Registry.open(path) as reg:
            (logged,) = reg.scans()
        assert logged["id"] == result.scan_id and len(logged["results"]) == 5
        assert logged["settings"]["alpha"] == 0.01 and logged["results"][0]["name"] == "parent"
        json.dumps(result.to_dict(), allow_nan=False)


class TestIdentifyBadInput:
    def test_probe_spec_matching_no_entry(self, zoo):
        path, _, _ = zoo
        stranger = fingerprint(np.random.default_rng(1), "stranger", spec=token_spec(N, 8, 100, seed=99))
        with pytest.raises(IncompatibleFingerprintsError, match="matches no entry") as info:
            identify(stranger, path)
        message = str(info.value)
        assert SPEC.describe() in message and OTHER_SPEC.describe() in message and "model directory" in message

    def test_no_entry_of_the_suspects_width(self, zoo):
        path, _, _ = zoo
        narrow = fingerprint(np.random.default_rng(2), "narrow", d=D - 8)
        with pytest.raises(IncompatibleFingerprintsError, match="no entry .* could be tested"):
            identify(narrow, path)

    def test_empty_and_missing_registry(self, tmp_path, zoo):
        _, child, _ = zoo
        Registry.open(tmp_path / "empty.db").close()
        with pytest.raises(RegistryError, match="no entries"):
            identify(child, tmp_path / "empty.db")
        with pytest.raises(RegistryError):
            identify(child, tmp_path / "missing.db")
        assert not (tmp_path / "missing.db").exists()

    @pytest.mark.parametrize("kwargs", [{"alpha": 0.0}, {"top": 0}])
    def test_bad_settings(self, zoo, kwargs):
        path, child, _ = zoo
        with pytest.raises(UsageError):
            identify(child, path, **kwargs)


class TestIdentifyModelDirectory:
    def test_fingerprints_the_model_with_the_registry_specs(self, tmp_path, tiny_llama_dir, tiny_llama_derived_dir, tiny_llama_other_dir):
        from seedprints import api

        spec = token_spec(60, 8, 100, seed=3)
        path = tmp_path / "models.db"
        with Registry.open(path) as reg:
            reg.add(api.fingerprint_model(tiny_llama_dir, spec), name="seed-0")
            reg.add(api.fingerprint_model(tiny_llama_other_dir, spec), name="seed-1")
            reg.add(fingerprint(np.random.default_rng(3), "big-vocab", spec=token_spec(N, 8, 5000)), name="big-vocab")
            reg.add(fingerprint(np.random.default_rng(4), "from-file", spec=ProbeSpec(kind="token-file", n=N, length=8,
                                                                                       source_sha256="0" * 64)), name="from-file")
        result = identify(tiny_llama_derived_dir, path)
        assert [c.name for c in result.candidates] == ["seed-0", "seed-1"]
        assert result.best.verdict == "same-lineage" and result.candidates[1].verdict == "independent"
        assert result.skipped == {"model_cannot_take_probes": 1, "probe_file": 1}
        assert any("probe_file=" in note for note in result.notes)


class TestIdentifyCli:
    def test_json(self, zoo, capsys):
        path, _, child_file = zoo
        assert main(["identify", str(child_file), "--registry", str(path), "--json", "--top", "3"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert {"schema_version", "suspect", "alpha", "tested", "skipped", "candidates"} <= payload.keys()
        assert len(payload["candidates"]) == 3 and payload["tested"] == 5
        keys = {"name", "p_value", "log10_p", "p_holm", "log10_p_holm", "p_bh", "log10_p_bh", "z", "verdict", "bh_verdict"}
        assert keys <= payload["candidates"][0].keys() and payload["candidates"][0]["name"] == "parent"

    def test_report(self, zoo, capsys, tmp_path):
        path, _, child_file = zoo
        report = tmp_path / "report"
        assert main(["identify", str(child_file), "--registry", str(path), "--report", str(report), "--json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert payload["report"] == str(report / "index.html")
        page = (report / "index.html").read_text()
        assert "parent" in page and "seedprints identify" in page
        assert json.loads((report / "results.json").read_text())["candidates"][0]["name"] == "parent"

    def test_bundle_verifies(self, zoo, capsys, tmp_path):
        path, _, child_file = zoo
        bundle = tmp_path / "evidence.json"
        assert main(["identify", str(child_file), "--registry", str(path), "--top", "2", "--bundle", str(bundle), "--json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert payload["bundle"] == str(bundle)
        assert main(["verify", str(bundle), "--json"]) == 0
        verified = json.loads(capsys.readouterr().out)
        assert verified["kind"] == "identify" and verified["max_relative_difference"] < 1e-9  # batched vs pairwise sums
        assert [t["reference"] for t in verified["tests"]] == [f"registry:{c['name']}" for c in payload["candidates"]]
        assert verified["tests"][0]["verdict"] == "same-lineage"
        assert verified["family"] == {"tested": 5, "candidates": 2, "level": 0.01, "sequential": False, "bh": "bounded"}

    def test_report_into_a_foreign_folder_is_refused_first(self, zoo, capsys, tmp_path):
        path, _, child_file = zoo
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / "notes.txt").write_text("mine")
        assert main(["identify", str(child_file), "--registry", str(path), "--report", str(tmp_path / "busy")]) == 1
        assert capsys.readouterr().err.startswith("Error: ")
        assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]

    def test_human(self, zoo, capsys, monkeypatch):
        path, _, child_file = zoo
        monkeypatch.setenv("SEEDPRINTS_REGISTRY", str(path))
        assert main(["identify", str(child_file)]) == 0
        out = capsys.readouterr().out
        assert "best match parent, Holm-adjusted p =" in out and "5 entries tested" in out and "other-0" in out

    def test_long_tags_keep_each_row_on_one_line(self, zoo, capsys):
        """A seed entry's config SHA-256 shows as 12 hex digits, and on 100 columns the tags end in '…' rather than
        wrap every row; --json keeps the full hash."""
        import hashlib
        import io

        from rich.console import Console

        from seedprints.cli.identify import _table

        path, _, child_file = zoo
        digest = hashlib.sha256(b"config.json").hexdigest()
        with Registry.open(path) as reg:
            for seed in range(2):
                reg.add(fingerprint(np.random.default_rng(10 + seed), f"seed-{seed}"), name=f"seed-{seed}",
                        tags={"seed": str(seed), "init": "transformers", "config": digest})
        result = identify(child_file, path)
        screen = io.StringIO()
        Console(file=screen, width=100, highlight=False, markup=False, emoji=False).print(_table(result))
        lines = screen.getvalue().splitlines()
        assert max(map(len, lines)) <= 100
        assert [line.split("│")[1].strip() for line in lines if line.startswith("│")] == [
            str(rank) for rank in range(1, len(result.candidates) + 1)]  # one line a candidate
        assert main(["identify", str(child_file), "--registry", str(path)]) == 0
        out = capsys.readouterr().out
        assert f"config={digest[:12]}…" in out and digest not in out
        assert main(["identify", str(child_file), "--registry", str(path), "--json"]) == 0
        assert digest in capsys.readouterr().out

    def test_error_is_one_line(self, zoo, tmp_path, capsys):
        path, _, _ = zoo
        stranger = tmp_path / "stranger.fp.safetensors"
        fingerprint(np.random.default_rng(5), "stranger", spec=token_spec(N, 8, 100, seed=99)).save(stranger)
        assert main(["identify", str(stranger), "--registry", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("Error: ") and "matches no entry" in err and err.count("\n") == 1 and "Traceback" not in err

    @pytest.mark.parametrize("flags", [["--top", "0"], ["--alpha", "1.5"]])
    def test_usage_errors(self, zoo, flags):
        path, _, child_file = zoo
        assert main(["identify", str(child_file), "--registry", str(path), *flags]) == 2
