"""``identify`` with a probe budget and early stopping: row prefixes of entries, the look schedule, the CLI flags."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from seedprints.encoding import rank_fingerprint
from seedprints.errors import IncompatibleFingerprintsError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.search.identification import identify
from seedprints.probes import ProbeSpec, token_spec
from seedprints.registry import Registry

from .conftest import assert_close_results, assert_one_line_error, run

N, D, M = 400, 24, 8
SPEC = ProbeSpec(kind="token", n=N, length=8, vocab_bound=100, input_tokens=tuple(range(0, 40, 2)),
                 output_tokens=tuple(range(1, 1 + 2 * M, 2)), untrained_from=1)


def fingerprint(rng, name, *, like=None, spec=SPEC, noise=1.0):
    """A synthetic fingerprint: independent, or ``like`` plus noise (a derived model)."""
    n = spec.n
    hidden = rng.standard_normal((n, D)) if like is None else like.hidden + noise * rng.standard_normal((n, D))
    logits = None
    if spec.output_tokens:
        logits = rng.standard_normal((n, M)) if like is None else like.logits + noise * rng.standard_normal((n, M))
    return Fingerprint(hidden=hidden.astype(np.float32), spec=spec, model_id=name,
                       logits=None if logits is None else logits.astype(np.float32))


@pytest.fixture()
def zoo(tmp_path):
    """A registry of a parent and five unrelated models (N=400), their fingerprints, a child and a stranger."""
    rng = np.random.default_rng(0)
    fps = {"parent": fingerprint(rng, "parent")} | {f"other-{i}": fingerprint(rng, f"other-{i}") for i in range(5)}
    path = tmp_path / "refs.db"
    with Registry.open(path) as reg:
        for name, fp in fps.items():
            reg.add(fp, name=name)
    child = fingerprint(rng, "child", like=fps["parent"])
    child_file = tmp_path / "child.fp.safetensors"
    child.save(child_file)
    return path, fps, child, child_file, fingerprint(rng, "stranger")


class TestRankedPrefix:
    @pytest.mark.parametrize("ties", [False, True])
    @pytest.mark.parametrize("n", [20, 57, N])
    def test_prefix_of_the_ranks_is_the_ranks_of_the_prefix(self, ties, n):
        fp = fingerprint(np.random.default_rng(1), "m")
        if ties:  # a few distinct values per row: ties in the ranks
            fp = Fingerprint(hidden=np.round(fp.hidden), spec=fp.spec, model_id="m", logits=np.round(fp.logits))
        expected, got = rank_fingerprint(fp.prefix(n)), rank_fingerprint(fp).prefix(n)
        assert got.spec == expected.spec == SPEC.with_n(n)
        np.testing.assert_array_equal(got.hidden_ranks, expected.hidden_ranks)
        np.testing.assert_array_equal(got.logit_ranks, expected.logit_ranks)
        assert got.hidden_ranks.dtype == expected.hidden_ranks.dtype

    def test_too_many_rows_and_file_probes_are_refused(self):
        ranked = rank_fingerprint(fingerprint(np.random.default_rng(2), "m"))
        with pytest.raises(UsageError, match="at most 400"):
            ranked.prefix(N + 1)
        file_spec = ProbeSpec(kind="token-file", n=N, length=8, source_sha256="0" * 64)
        with pytest.raises(UsageError, match="cannot change their count"):
            rank_fingerprint(fingerprint(np.random.default_rng(2), "m", spec=file_spec)).prefix(50)


class TestBudget:
    def test_budget_equals_the_fixed_test_on_prefixes(self, zoo, tmp_path):
        path, fps, child, _, _ = zoo
        cut = tmp_path / "cut.db"
        with Registry.open(cut) as reg:
            for name, fp in fps.items():
                reg.add(fp.prefix(100), name=name)
        budgeted = identify(child, path, budget=100, top=None)
        fixed = identify(child.prefix(100), cut, top=None)
        assert budgeted.budget == 100 and fixed.budget is None and budgeted.sequential is None
        assert [c.name for c in budgeted.candidates] == [c.name for c in fixed.candidates]
        for key in ("log10_p", "log10_p_holm", "log10_p_bh", "z", "hidden_z", "vocab_z"):
            np.testing.assert_allclose([getattr(c, key) for c in budgeted.candidates],
                                       [getattr(c, key) for c in fixed.candidates], rtol=1e-12)
        assert [c.verdict for c in budgeted.candidates] == [c.verdict for c in fixed.candidates]

    def test_budget_above_the_entries_uses_every_row(self, zoo):
        path, _, child, _, _ = zoo
        result, full = identify(child, path, budget=5000), identify(child, path)
        assert result.budget == N and result.best.name == full.best.name
        assert_close_results(result.best.log10_p, full.best.log10_p)
        assert any("fewer than the budget of 5000" in note for note in result.notes)

    def test_entries_without_a_prefix_are_skipped(self, zoo):
        path, _, _, _, _ = zoo
        file_spec = ProbeSpec(kind="token-file", n=N, length=8, source_sha256="0" * 64)
        suspect = fingerprint(np.random.default_rng(3), "file", spec=file_spec)
        with Registry.open(path) as reg:
            reg.add(fingerprint(np.random.default_rng(4), "file-ref", spec=file_spec), name="file-ref")
        assert identify(suspect, path, budget=N).tested == 1  # no cut needed
        with pytest.raises(IncompatibleFingerprintsError, match="no prefix.*drop budget= and early_stop=True"):
            identify(suspect, path, budget=100)

    @pytest.mark.parametrize("kwargs, message", [({"budget": 10}, "too small"),
                                                 ({"budget": 22, "early_stop": True}, "first look")])
    def test_small_budgets_are_refused(self, zoo, kwargs, message):
        path, _, child, _, _ = zoo
        with pytest.raises(UsageError, match=message):
            identify(child, path, **kwargs)


class TestEarlyStop:
    def test_parent_found_with_fewer_probes_than_the_budget(self, zoo):
        path, _, child, _, _ = zoo
        result = identify(child, path, early_stop=True)
        seq = result.sequential
        assert seq["stop"] == "same-lineage" and seq["probes"] < N and seq["budget"] == N
        assert result.best.name == "parent" and result.best.verdict == "same-lineage"
        assert result.best.log10_p_holm < seq["log10_level"] == math.log10(seq["level"])
        assert seq["design"]["looks"] == [25, 50, 100, 200, 400] and seq["looks"][-1]["n"] == seq["probes"]
        assert seq["probe_tokens"] == seq["probes"] * SPEC.length and seq["budget_tokens"] == N * SPEC.length
        assert all(c.verdict == "independent" for c in result.candidates[1:]) and result.tested == 6

    def test_stopping_look_gives_the_fixed_test_on_its_prefix(self, zoo):
        path, _, child, _, _ = zoo
        result = identify(child, path, early_stop=True, top=None)
        fixed = identify(child, path, budget=result.sequential["probes"], top=None)
        np.testing.assert_allclose([c.log10_p_holm for c in result.candidates],
                                   [c.log10_p_holm for c in fixed.candidates], rtol=1e-12)

    def test_unrelated_suspect_has_no_same_lineage_candidate(self, zoo):
        path, _, _, _, stranger = zoo
        result = identify(stranger, path, early_stop=True, top=None)
        assert result.sequential["stop"] in ("futility", "budget")
        assert all(c.verdict == c.bh_verdict == "independent" for c in result.candidates)

    def test_budget_sets_the_last_look(self, zoo):
        path, _, child, _, _ = zoo
        result = identify(child, path, early_stop=True, budget=120)
        assert result.sequential["design"]["looks"] == [25, 50, 100, 120] and result.budget == 120

    def test_scan_log_records_the_settings(self, zoo):
        path, _, child, _, _ = zoo
        result = identify(child, path, early_stop=True, budget=200)
        with Registry.open(path) as reg:
            (logged,) = reg.scans()
        assert logged["id"] == result.scan_id and logged["settings"]["budget"] == 200
        assert logged["settings"]["early_stop"] is True and logged["settings"]["sequential"]["stop"] == "same-lineage"

    @pytest.mark.slow
    def test_family_wise_error_under_the_null(self, tmp_path):
        """Independent suspects against three entries: any same-lineage verdict over all looks is a false positive."""
        alpha, runs = 0.1, 300
        rng = np.random.default_rng(5)
        spec = token_spec(200, 8, 100)
        with Registry.open(tmp_path / "null.db") as reg:
            for i in range(3):
                reg.add(fingerprint(rng, f"ref-{i}", spec=spec), name=f"ref-{i}")
            false = sum(
                identify(fingerprint(rng, "s", spec=spec), reg, alpha=alpha, early_stop=True).best.verdict == "same-lineage"
                for _ in range(runs)
            )
        # P(Binomial(300, 0.1) > 45) < 0.002: a procedure at level alpha passes; one without Holm or spending does not
        assert false <= alpha * runs + 3 * math.sqrt(runs * alpha * (1 - alpha))


class TestModelDirectory:
    def test_rounds_extract_only_the_probes_the_decision_needs(self, tmp_path, tiny_llama_dir, tiny_llama_derived_dir,
                                                              tiny_llama_other_dir):
        from seedprints import api

        spec = token_spec(200, 8, 100, seed=3)
        path = tmp_path / "models.db"
        with Registry.open(path) as reg:
            reg.add(api.fingerprint_model(tiny_llama_dir, spec), name="seed-0")
            reg.add(api.fingerprint_model(tiny_llama_other_dir, spec), name="seed-1")
        result = identify(tiny_llama_derived_dir, path, early_stop=True, keep_evidence=True)
        assert result.best.name == "seed-0" and result.best.verdict == "same-lineage"
        assert result.sequential["stop"] == "same-lineage" and result.sequential["probes"] < 200
        (suspect,) = result.evidence.suspects.values()
        assert suspect.n == result.sequential["probes"] and suspect.spec == spec.with_n(suspect.n)
        budgeted = identify(tiny_llama_derived_dir, path, budget=50)
        assert budgeted.budget == 50 and budgeted.best.name == "seed-0"


class TestCli:
    def test_json_keeps_the_keys_and_adds_the_stop(self, zoo, capsys):
        path, _, _, child_file, _ = zoo
        code, out, err = run(capsys, "identify", child_file, "--registry", path, "--early-stop", "--budget", "200", "--json")
        assert code == 0, err
        payload = json.loads(out)
        assert {"schema_version", "suspect", "alpha", "tested", "skipped", "candidates", "budget", "sequential"} <= payload.keys()
        assert payload["budget"] == 200 and payload["sequential"]["stop"] == "same-lineage"
        assert payload["candidates"][0]["name"] == "parent" and payload["candidates"][0]["verdict"] == "same-lineage"
        assert {"n", "best", "log10_p_holm", "log10_level"} <= payload["sequential"]["looks"][0].keys()

    def test_no_early_stop_is_the_plain_scan(self, zoo, capsys):
        path, _, _, child_file, _ = zoo
        code, out, _ = run(capsys, "identify", child_file, "--registry", path, "--no-early-stop", "--json")
        payload = json.loads(out)
        assert code == 0 and payload["sequential"] is None and payload["budget"] is None

    def test_human_output_states_the_stop(self, zoo, capsys):
        path, _, _, child_file, _ = zoo
        code, out, _ = run(capsys, "identify", child_file, "--registry", path, "--early-stop")
        assert code == 0 and "best match parent" in out and "Early stop: 25 of 400 probes (200 probe tokens)" in out

    def test_bundle_of_a_prefix_verifies(self, zoo, capsys, tmp_path):
        path, _, _, child_file, _ = zoo
        bundle = tmp_path / "evidence.json"
        code, _, err = run(capsys, "identify", child_file, "--registry", path, "--budget", "120", "--top", "2",
                           "--bundle", bundle, "--json")
        assert code == 0, err
        code, out, err = run(capsys, "verify", bundle, "--json")
        assert code == 0, err
        verified = json.loads(out)
        assert verified["max_relative_difference"] < 1e-9 and verified["tests"][0]["verdict"] == "same-lineage"

    def test_bundle_of_an_early_stop_verifies_at_the_stopping_looks_level(self, zoo, capsys, tmp_path):
        path, _, _, child_file, _ = zoo
        bundle = tmp_path / "evidence.json"
        code, out, err = run(capsys, "identify", child_file, "--registry", path, "--early-stop", "--bundle", bundle, "--json")
        assert code == 0, err
        level = json.loads(out)["sequential"]["level"]
        code, out, err = run(capsys, "verify", bundle, "--json")
        assert code == 0, err
        family = json.loads(out)["family"]
        assert family["sequential"] and family["level"] == level < 0.01

    @pytest.mark.parametrize("flags, message", [(["--budget", "10"], "too small"),
                                                (["--early-stop", "--budget", "22"], "below the first look")])
    def test_small_budget_is_one_line(self, zoo, capsys, flags, message):
        path, _, _, child_file, _ = zoo
        code, _, err = run(capsys, "identify", child_file, "--registry", path, *flags)
        assert_one_line_error(code, err, message)

    def test_budget_on_file_probes_is_one_line(self, zoo, capsys, tmp_path):
        path, _, _, _, _ = zoo
        file_spec = ProbeSpec(kind="token-file", n=N, length=8, source_sha256="0" * 64)
        suspect = tmp_path / "file.fp.safetensors"
        fingerprint(np.random.default_rng(6), "file", spec=file_spec).save(suspect)
        with Registry.open(path) as reg:
            reg.add(fingerprint(np.random.default_rng(7), "file-ref", spec=file_spec), name="file-ref")
        code, _, err = run(capsys, "identify", suspect, "--registry", path, "--early-stop")
        assert_one_line_error(code, err, "no prefix", "drop --budget and --early-stop")

    @pytest.mark.parametrize("flags", [["--budget", "0"], ["--budget", "many"]])
    def test_usage_errors(self, zoo, capsys, flags):
        path, _, _, child_file, _ = zoo
        assert run(capsys, "identify", child_file, "--registry", path, *flags)[0] == 2
