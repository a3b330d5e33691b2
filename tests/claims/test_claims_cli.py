"""``seedprints claims`` end to end on the claims world: one outcome per claim for every kind of card, the JSON and the
table, evidence bundles that verify, one-line errors, and a run that resumes after an interruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.claims.conftest import FAST, INPUTS, argv as _argv
from tests.conftest import assert_one_line_error, run

pytestmark = pytest.mark.slow  # runs the verb end to end on models

KEYS = ("model", "claimed_base", "relation", "outcome", "p_value", "z", "reason")


def _rows(payload: dict) -> dict[tuple[str, str | None], dict]:
    """Rows by (model folder name, claimed base or the unclaimed entry in brackets)."""
    out = {}
    for row in payload["claims"]:
        key = row["claimed_base"] if row["outcome"] != "unclaimed" else f"[{row['entry']}]"
        out[(Path(row["model"]).name, key)] = row
    return out


class TestOutcomes:
    def test_every_row_has_the_contract_keys(self, world_run):
        payload, _ = world_run
        assert payload["schema_version"] == 1 and payload["correction"] == "holm" and payload["alpha"] == 0.01
        for row in payload["claims"]:
            assert set(KEYS) <= set(row) and row["outcome"] in ("confirmed", "not-supported", "cannot-tell", "unclaimed")
            assert row["reason"] and "\n" not in row["reason"]

    def test_true_claims_are_confirmed(self, world_run):
        rows = _rows(world_run[0])
        for key, relation, source in ((("derived", "base"), "finetune", "model card"), (("listed", "base"), "merge", "model card"),
                                      (("adapter", "base"), "adapter", "adapter config")):
            row = rows[key]
            assert (row["outcome"], row["relation"], row["source"], row["entry"]) == ("confirmed", relation, source, "base")
            assert row["log10_p_adjusted"] < -2 and row["log10_p_adjusted"] >= row["log10_p"]
            assert row["reason"].startswith("shares the initialisation of base: z = ")

    def test_false_claims_are_not_supported_with_their_power(self, world_run):
        rows = _rows(world_run[0])
        for key in (("stranger", "base"), ("listed", "other")):
            row = rows[key]
            assert row["outcome"] == "not-supported" and row["log10_p_adjusted"] >= -2
            assert "would have confirmed it" in row["reason"] and "the zoo's" in row["reason"]
            assert row["reason"].endswith("not a proof of independence")

    def test_what_cannot_be_told_says_why(self, world_run):
        rows = _rows(world_run[0])
        expected = {
            ("no-card", None): "no model card: ",
            ("malformed", None): "front-matter is not valid YAML",
            ("claims-wide", "wide"): "different widths: wide (registry entry wide) has d = 48, the model d = 32",
            ("claims-unknown", "tiny-org/unknown"): "tiny-org/unknown is not in registry",
            ("junk-weights", "base"): "could not be fingerprinted: ",
            ("base", None): "no model card: ",
        }
        for key, fragment in expected.items():
            assert rows[key]["outcome"] == "cannot-tell" and fragment in rows[key]["reason"], (key, rows[key]["reason"])
            assert rows[key]["p_value"] is None

    def test_an_unclaimed_base_is_reported_and_the_model_itself_is_not(self, world_run):
        rows = _rows(world_run[0])
        unclaimed = sorted(key for key, row in rows.items() if row["outcome"] == "unclaimed")
        assert unclaimed == [(name, "[base]") for name in ("claims-unknown", "claims-wide", "malformed", "no-card")]
        row = rows[("no-card", "[base]")]
        assert row["source"] == "identify" and "identifies to registry entry base (Holm-adjusted p = " in row["reason"]
        assert row["claimed_base"] is None

    def test_the_family_is_every_tested_claim(self, world_run):
        payload, _ = world_run
        tested = [r for r in payload["claims"] if r["outcome"] in ("confirmed", "not-supported")]
        assert payload["tested"] == len(tested) == 5
        assert payload["counts"] == {"confirmed": 3, "not-supported": 2, "cannot-tell": 6, "unclaimed": 4}
        for row in tested:
            assert "Holm-adjusted over 5 claims" in row["reason"]

    def test_models_are_reported(self, world_run):
        models = {Path(m["name"]).name: m for m in world_run[0]["models"]}
        assert set(models) == set(INPUTS)
        assert models["junk-weights"]["fingerprint"] == "failed" and models["junk-weights"]["error"]
        assert models["adapter"]["card"] == "adapter config: 1 claimed base"
        assert models["listed"]["card"] == "model card: 2 claimed bases"
        assert {m["probe_hash"] for m in models.values() if m["probe_hash"]} == {world_run[0]["claims"][0]["probe_hash"]}


class TestOutputs:
    def test_the_table(self, claims_world, world_run, capsys):
        _, out = world_run
        code, stdout, err = run(capsys, *_argv(claims_world, "--cache", out / "cache"))
        assert code == 0, err
        lines = stdout.splitlines()
        assert any("derived" in line and "confirmed" in line and "finetune" in line for line in lines)
        assert any("stranger" in line and "not-supported" in line for line in lines)
        assert "1. shares the initialisation of base" in stdout
        assert lines[-1].startswith("10 models, 5 claims tested against registry ") and lines[-1].endswith(
            "(Holm over the tested claims): 3 confirmed, 2 not-supported, 6 cannot-tell, 4 unclaimed")
        assert "[1/10]" in err and "fingerprint from the cache" in err

    def test_bundles_verify(self, world_run, capsys):
        payload, out = world_run
        with_bundle = [r for r in payload["claims"] if r["bundle"]]
        assert sorted(r["outcome"] for r in with_bundle) == ["confirmed"] * 3 + ["not-supported"] * 2
        assert sorted(p.name for p in (out / "bundles").iterdir()) == sorted(Path(r["bundle"]).name for r in with_bundle)
        for row in with_bundle:
            code, stdout, err = run(capsys, "verify", row["bundle"], "--json")
            assert code == 0, err
            checked = json.loads(stdout)
            assert checked["kind"] == "identify" and checked["family"]["tested"] == 5
            assert checked["family"]["candidates"] == len(checked["tests"])
            mine = [t for t in checked["tests"] if Path(t["suspect"].removeprefix("model:")).name == Path(row["model"]).name
                    and t["reference"] == f"registry:{row['entry']}"]
            assert mine and mine[0]["verdict"] == ("same-lineage" if row["p_value"] < 0.01 else "independent")

    def test_bh_confirms_at_least_what_holm_does(self, claims_world, world_run, capsys):
        _, out = world_run
        code, stdout, err = run(capsys, *_argv(claims_world, "--cache", out / "cache", "--correction", "bh", "--json"))
        assert code == 0, err
        payload = json.loads(stdout)
        rows, holm = _rows(payload), _rows(world_run[0])
        assert payload["correction"] == "bh"
        assert {k for k, r in holm.items() if r["outcome"] == "confirmed"} <= {k for k, r in rows.items() if r["outcome"] == "confirmed"}
        assert "Benjamini-Hochberg-adjusted over 5 claims" in rows[("derived", "base")]["reason"]

    def test_the_python_api_gives_the_same(self, claims_world, world_run):
        import seedprints

        _, out = world_run
        result = seedprints.check_claims([claims_world / "models" / n for n in INPUTS], claims_world / "refs.db",
                                         cache=out / "cache", n=100, length=8, device="cpu")
        cli = {k: (r["outcome"], r["z"]) for k, r in _rows(world_run[0]).items()}
        api = {k: (r["outcome"], r["z"]) for k, r in _rows(result.to_dict()).items()}
        assert api == cli


class TestGguf:
    def test_a_gguf_claims_its_base_in_its_metadata(self, claims_world, tmp_path, capsys):
        """With llama.cpp's token list the GGUF gets the entry's probes; without, other probes, and the entry is
        fingerprinted again from its recorded source folder. Both claims are confirmed."""
        from tests.claims.conftest import gguf_with_bases
        from tests.conftest import TINY_VOCAB, build_tokenizer
        from tests.gguf_files import llama_cpp_tokens

        derived = claims_world / "models" / "derived"
        tokens = tuple(llama_cpp_tokens(build_tokenizer().get_vocab(), TINY_VOCAB))
        (tmp_path / "with-tokens").mkdir()
        files = [gguf_with_bases(derived, tmp_path / "with-tokens" / "m.gguf", [{"name": "base"}], tokens),
                 gguf_with_bases(derived, tmp_path / "plain.gguf", [{"organization": "tiny-org", "name": "x"}, {"name": "base"}])]
        code, stdout, err = run(capsys, "claims", *files, "--registry", claims_world / "refs.db", *FAST, "--device", "cpu",
                                "--cache", tmp_path / "cache", "--json")
        assert code == 0, err
        rows = [(Path(r["model"]).name, r["claimed_base"], r["outcome"], r["source"], r["entry"]) for r in json.loads(stdout)["claims"]]
        base_dir = claims_world / "models" / "base"
        assert rows == [("m.gguf", "base", "confirmed", "GGUF metadata", "base"),
                        ("plain.gguf", "tiny-org/x", "cannot-tell", "GGUF metadata", None),
                        ("plain.gguf", "base", "confirmed", "GGUF metadata", f"base (fingerprinted again from {base_dir})")]


class TestFetchBases:
    def test_a_base_named_by_path_is_fingerprinted_with_fetch_bases(self, claims_world, tmp_path, capsys):
        import shutil

        models = claims_world / "models"
        shutil.copytree(models / "base", tmp_path / "unregistered-base")
        for name, claimed in (("true", tmp_path / "unregistered-base"), ("false", models / "stranger")):
            shutil.copytree(models / "derived", tmp_path / name)
            (tmp_path / name / "README.md").write_text(f"---\nbase_model: {claimed}\n---\n")
        argv = ["claims", tmp_path / "true", tmp_path / "false", "--registry", claims_world / "refs.db", *FAST,
                "--device", "cpu", "--cache", tmp_path / "cache", "--json"]
        code, stdout, err = run(capsys, *argv)
        assert code == 0, err
        assert [r["outcome"] for r in json.loads(stdout)["claims"] if r["claimed_base"]] == ["cannot-tell"] * 2
        code, stdout, err = run(capsys, *argv, "--fetch-bases")
        assert code == 0, err
        rows = [r for r in json.loads(stdout)["claims"] if r["claimed_base"]]
        assert [(r["outcome"], r["entry"]) for r in rows] == [
            ("confirmed", f"{tmp_path / 'unregistered-base'} (fetched)"), ("not-supported", f"{models / 'stranger'} (fetched)")]
        assert len(list((tmp_path / "cache").glob("*.fp.safetensors"))) == 3  # the model (both copies) and two bases


class TestErrors:
    @pytest.mark.parametrize("extra, fragment", [
        (("--retries", "1"), "--retries applies to --fleet runs"),
        (("--correction", "bonferroni"), "'bonferroni' is not one of"),
        (("--alpha", "0"), "must be between 0 and 1"),
        (("--sign", "k.key"), "--sign signs the evidence bundle; add --bundle"),
    ])
    def test_bad_options_are_usage_errors(self, claims_world, tmp_path, capsys, extra, fragment):
        code, _, err = run(capsys, *_argv(claims_world, "--cache", tmp_path / "c", *extra, names=("derived",)))
        assert code == 2 and fragment in err and "Traceback" not in err
        assert not (tmp_path / "c").exists()

    def test_a_missing_registry(self, claims_world, tmp_path, capsys):
        code, _, err = run(capsys, "claims", claims_world / "models" / "derived", "--registry", tmp_path / "none.db", *FAST,
                           "--cache", tmp_path / "c")
        assert_one_line_error(code, err, "none.db")
        assert not (tmp_path / "none.db").exists()

    def test_an_empty_registry(self, claims_world, tmp_path, capsys):
        from seedprints.registry import Registry

        Registry.open(tmp_path / "empty.db").close()
        code, _, err = run(capsys, "claims", claims_world / "models" / "derived", "--registry", tmp_path / "empty.db", *FAST,
                           "--cache", tmp_path / "c")
        assert_one_line_error(code, err, "has no entries", "seedprints registry add")

    def test_an_input_that_is_nothing(self, claims_world, tmp_path, capsys):
        code, _, err = run(capsys, "claims", tmp_path / "no-such-model", "--registry", claims_world / "refs.db", *FAST)
        assert_one_line_error(code, err, "is neither an existing model path, a manifest (.jsonl or .csv) nor a Hub id")

    @pytest.mark.parametrize("option", ["--report", "--bundle"])
    def test_an_output_folder_in_use_is_refused_before_any_work(self, claims_world, tmp_path, capsys, option):
        taken = tmp_path / "taken"
        taken.mkdir()
        (taken / "keep.txt").write_text("mine")
        code, _, err = run(capsys, *_argv(claims_world, "--cache", tmp_path / "c", option, taken, names=("derived",)))
        assert_one_line_error(code, err, "is not empty")
        assert not (tmp_path / "c").exists() and (taken / "keep.txt").read_text() == "mine"
        code, _, err = run(capsys, *_argv(claims_world, "--cache", tmp_path / "c", option, taken, "--force",
                                          names=("derived",)))
        assert_one_line_error(code, err, "keep.txt")  # --force replaces only an earlier report or bundles


class TestResume:
    def test_an_interrupted_run_keeps_its_fingerprints_and_resumes(self, claims_world, world_run, tmp_path, capsys,
                                                                     monkeypatch):
        from seedprints.claims import running

        real, calls = running.examine, []

        def interrupted_after_two(item, job, cache=None, **kwargs):
            calls.append(item.name)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return real(item, job, cache, **kwargs)

        monkeypatch.setattr(running, "examine", interrupted_after_two)
        cache, report, bundles = tmp_path / "cache", tmp_path / "report", tmp_path / "bundles"
        names = ("derived", "stranger", "listed", "adapter")
        argv = _argv(claims_world, "--cache", cache, "--report", report, "--bundle", bundles, "--json", names=names)
        code, stdout, err = run(capsys, *argv)
        assert code == 130 and stdout == ""
        assert err.strip() == (f"Error: interrupted; the fingerprints finished so far are kept in {cache}; run the same "
                               "command again to go on with the rest")
        assert len(list(cache.glob("*.fp.safetensors"))) == 2  # derived (= listed's weights) and stranger
        assert not report.exists() and not bundles.exists() and [p.name for p in tmp_path.iterdir()] == ["cache"]

        monkeypatch.setattr(running, "examine", real)
        code, stdout, err = run(capsys, *argv)
        assert code == 0, err
        payload = json.loads(stdout)
        how = {Path(m["name"]).name: m["fingerprint"] for m in payload["models"]}
        assert how == {"derived": "cached", "stranger": "cached", "listed": "cached", "adapter": "computed"}
        whole = _rows(world_run[0])
        assert {k: r["outcome"] for k, r in _rows(payload).items()} == {
            k: whole[k]["outcome"] for k in _rows(payload)}
        assert report.is_dir() and bundles.is_dir()
