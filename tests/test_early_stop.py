"""Early stopping and extendable fingerprints: the prefix property of specs, extend, compare on prefixes, the CLI flags."""

from __future__ import annotations

import json

import numpy as np
import pytest

import seedprints
from seedprints import api, pipeline
from seedprints.cli import main
from seedprints.errors import IncompatibleFingerprintsError, UsageError
from seedprints.fingerprint import load, read_header
from seedprints.probe_files import load_probe_file
from seedprints.probes import embedding_spec, generated, token_spec

from .conftest import assert_one_line_error, run

PROBES = ["--n", "100", "--length", "16"]


@pytest.fixture(scope="module")
def base_file(tmp_path_factory, tiny_llama_dir):
    """A 100-probe default (untrained-token) fingerprint of the seed-0 tiny model, made through the CLI."""
    path = tmp_path_factory.mktemp("early") / "base.fp.safetensors"
    assert main(["fingerprint", str(tiny_llama_dir), "-o", str(path), *PROBES, "--json"]) == 0
    return path


class TestPrefixProperty:
    @pytest.mark.parametrize("spec", [token_spec(60, 8, 500, seed=3), embedding_spec(60, 4, 8)])
    def test_first_rows_of_a_longer_spec_are_the_shorter_spec(self, spec):
        short, long = generated(spec.with_n(25)), generated(spec)
        if spec.kind == "token":
            np.testing.assert_array_equal(np.stack(short.token_ids(0, 25)), np.stack(long.token_ids(0, 25)))
        else:
            np.testing.assert_array_equal(short.embeddings(0, 25), long.embeddings(0, 25))

    def test_rare_specs_keep_their_tokens(self):
        spec = api.ProbeSpec(kind="token", n=50, length=8, vocab_bound=100, input_tokens=(1, 2, 3), output_tokens=(4, 5))
        assert spec.with_n(200).input_tokens == (1, 2, 3) and spec.differs_only_in_n(spec.with_n(200))
        assert not spec.differs_only_in_n(token_spec(200, 8, 100))

    def test_rows_window_matches_the_slice(self):
        probes = generated(token_spec(40, 8, 500))
        np.testing.assert_array_equal(np.stack(probes.rows(10, 30).token_ids(0, 20)), np.stack(probes.token_ids(10, 30)))
        with pytest.raises(UsageError, match="outside"):
            probes.rows(30, 50)

    def test_torch_and_file_probes_have_no_prefix_property(self, tmp_path):
        with pytest.raises(UsageError, match="cannot change their count"):
            token_spec(50, 8, 100, rng="torch").with_n(100)
        path = tmp_path / "probes.json"
        path.write_text(json.dumps({"token_ids": [[1, 2, 3]] * 12}))
        with pytest.raises(UsageError, match="cannot change their count"):
            load_probe_file(path).spec.with_n(20)

    def test_fingerprint_prefix_is_the_shorter_fingerprint(self, base_file, tiny_llama_dir):
        full = load(base_file)
        short = seedprints.fingerprint_model(tiny_llama_dir, full.spec.with_n(30))
        prefix = full.prefix(30)
        assert prefix.spec == short.spec
        np.testing.assert_array_equal(prefix.hidden, short.hidden)
        np.testing.assert_array_equal(prefix.logits, short.logits)


class TestExtend:
    def test_extend_gives_the_bytes_of_a_fresh_fingerprint(self, capsys, tmp_path, tiny_llama_dir, base_file):
        small, fresh = tmp_path / "small.fp", tmp_path / "fresh.fp"
        spec_args = ["--like", base_file]
        assert run(capsys, "fingerprint", tiny_llama_dir, "-o", small, *spec_args, "--budget", "40")[0] == 0
        code, out, err = run(capsys, "fingerprint", tiny_llama_dir, "--extend", small, "--n", "100", "--json")
        assert code == 0, err
        assert json.loads(out)["n"] == 100
        assert run(capsys, "fingerprint", tiny_llama_dir, "-o", fresh, *spec_args)[0] == 0
        grown, made = small.read_bytes(), fresh.read_bytes()
        stamp = read_header(small)["created_at"].encode(), read_header(fresh)["created_at"].encode()
        assert grown.replace(*stamp) == made  # same bytes except created_at

    def test_extend_to_another_output(self, capsys, tmp_path, tiny_llama_dir, base_file):
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "--extend", base_file, "--n", "120", "-o", tmp_path / "x.fp")
        assert code == 0, err
        assert load(tmp_path / "x.fp").n == 120 and load(base_file).n == 100

    def test_other_model_is_refused(self, capsys, tiny_llama_other_dir, base_file):
        before = base_file.read_bytes()
        code, _, err = run(capsys, "fingerprint", tiny_llama_other_dir, "--extend", base_file, "--n", "200")
        assert_one_line_error(code, err, "does not reproduce", str(base_file))
        assert base_file.read_bytes() == before
        assert not [p for p in base_file.parent.iterdir() if p.name.endswith(".tmp")]

    def test_derived_model_is_refused(self, base_file, tiny_llama_derived_dir):
        with pytest.raises(IncompatibleFingerprintsError, match="does not reproduce"):
            pipeline.extend_fingerprint(tiny_llama_derived_dir, load(base_file), 200)

    def test_other_dtype_is_refused(self, capsys, tiny_llama_dir, base_file):
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "--extend", base_file, "--n", "200", "--dtype", "bfloat16")
        assert_one_line_error(code, err, "dtype", "float32")

    def test_not_larger_is_refused(self, capsys, tiny_llama_dir, base_file):
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "--extend", base_file, "--n", "50")
        assert_one_line_error(code, err, "already holds 100 probes")

    def test_probe_file_spec_is_refused(self, capsys, tmp_path, tiny_llama_dir):
        probes = tmp_path / "probes.json"
        probes.write_text(json.dumps({"token_ids": [[1, 2, 3, 4]] * 12}))
        made = tmp_path / "file.fp"
        assert run(capsys, "fingerprint", tiny_llama_dir, "-o", made, "--probe-file", probes)[0] == 0
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "--extend", made, "--n", "200")
        assert_one_line_error(code, err, "cannot change their count")

    def test_extend_with_like_is_a_usage_error(self, capsys, tiny_llama_dir, base_file):
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "--extend", base_file, "--like", base_file)
        assert code == 2 and "--extend" in err

    def test_missing_output_is_a_usage_error(self, capsys, tiny_llama_dir):
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, *PROBES)
        assert code == 2 and "--output" in err


class TestCompareEarlyStop:
    def test_derived_model_stops_at_the_first_look(self, capsys, base_file, tiny_llama_derived_dir):
        code, out, err = run(capsys, "compare", base_file, tiny_llama_derived_dir, "--early-stop", "--json")
        assert code == 0, err
        payload = json.loads(out)
        seq = payload["details"]["sequential"]
        assert payload["verdict"] == "same-lineage" and seq["stop"] == "same-lineage"
        assert seq["probes"] == 25 == payload["n"] and seq["probe_tokens"] == 25 * 16 and seq["budget"] == 100
        assert payload["settings"]["sequential"]["looks"] == [25, 50, 100]

    def test_independent_model_is_independent(self, capsys, base_file, tiny_llama_other_dir):
        code, out, err = run(capsys, "compare", base_file, tiny_llama_other_dir, "--early-stop", "--json")
        assert code == 0, err
        payload = json.loads(out)
        assert payload["verdict"] == "independent" and payload["details"]["sequential"]["stop"] in ("futility", "budget")

    def test_the_stop_line_says_what_the_headline_p_is(self, capsys, base_file, tiny_llama_other_dir):
        code, out, err = run(capsys, "compare", base_file, tiny_llama_other_dir, "--early-stop")
        assert code == 0, err
        text = " ".join(out.split())
        assert "The p above is the sequential p-value (the smallest over the looks of each look's p divided by its " \
               "share of alpha, at most 1); the last look's own p = " in text, out

    def test_two_model_directories(self, capsys, tiny_llama_dir, tiny_llama_derived_dir):
        code, out, err = run(capsys, "compare", tiny_llama_dir, tiny_llama_derived_dir, "--early-stop", "--budget", "200",
                             "--length", "16")
        assert code == 0, err
        assert "same-lineage" in out and "Early stop: 25 of 200 probes (400 probe tokens)" in out

    def test_fingerprint_until_decided(self, capsys, tmp_path, base_file, tiny_llama_derived_dir):
        path = tmp_path / "suspect.fp"
        code, out, err = run(capsys, "fingerprint", tiny_llama_derived_dir, "-o", path, "--like", base_file,
                             "--early-stop", "--json")
        assert code == 0, err
        assert json.loads(out)["decision"]["verdict"] == "same-lineage" and load(path).n == 25

    def test_python_api(self, base_file):
        fp = load(base_file)
        result = api.compare(fp, fp, early_stop=True)
        assert result.verdict == "same-lineage" and result.details["sequential"]["probes"] == 25
        with pytest.raises(UsageError, match="lineage method only"):
            api.compare(fp, fp, early_stop=True, method="paper")

    def test_early_stop_needs_a_reference(self, capsys, tmp_path, tiny_llama_dir):
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "-o", tmp_path / "x.fp", "--early-stop")
        assert code == 2 and "--like" in err

    def test_paper_method_is_a_usage_error(self, capsys, base_file):
        code, _, err = run(capsys, "compare", base_file, base_file, "--early-stop", "--method", "paper")
        assert code == 2 and "--early-stop" in err

    def test_budget_below_the_minimum(self, capsys, base_file, tiny_llama_derived_dir):
        code, _, err = run(capsys, "compare", base_file, tiny_llama_derived_dir, "--early-stop", "--budget", "10")
        assert_one_line_error(code, err, "budget of 10 probes", "first look")


class TestCommonPrefix:
    def test_different_counts_use_the_common_prefix(self, capsys, tmp_path, tiny_llama_derived_dir, base_file):
        short = tmp_path / "short.fp"
        assert run(capsys, "fingerprint", tiny_llama_derived_dir, "-o", short, "--like", base_file, "--budget", "60")[0] == 0
        code, out, err = run(capsys, "compare", base_file, short, "--json")
        assert code == 0, err
        payload = json.loads(out)
        assert payload["n"] == 60
        assert payload["settings"]["common_prefix"] == {"n": 60, "reference_n": 100, "suspect_n": 60}
        assert payload["probe_hash"] == load(short).probe_hash

    def test_budget_cuts_fingerprint_files(self, base_file):
        fp = load(base_file)
        result = api.compare(fp, fp, budget=40)
        assert result.n == 40 and result.settings["common_prefix"]["n"] == 40

    def test_other_specs_are_still_refused(self, capsys, tmp_path, tiny_llama_dir, base_file):
        other = tmp_path / "token.fp"
        assert run(capsys, "fingerprint", tiny_llama_dir, "-o", other, "--probe", "token", *PROBES)[0] == 0
        code, _, err = run(capsys, "compare", base_file, other)
        assert_one_line_error(code, err, "different probes")
