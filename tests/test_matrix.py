"""``seedprints matrix``: every ordered pair of a set, lineages, and one-line errors for every bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from seedprints.cli import main
from seedprints.errors import IncompatibleFingerprintsError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.search.matrix import lineage_groups, run_matrix, short_labels
from seedprints.probes import ProbeSpec
from seedprints.stats.methods import METHODS

from .conftest import assert_close_results, assert_one_line_error, run

N, D, M = 200, 32, 12
SPEC = ProbeSpec(kind="token", n=N, length=8, seed=42, vocab_bound=100,
                 input_tokens=tuple(range(0, 20, 2)), output_tokens=tuple(range(50, 50 + M)), untrained_from=50)


def make_fingerprints(spec: ProbeSpec = SPEC, width: int = D) -> dict[str, Fingerprint]:
    """A base, a noisy copy of it (same lineage) and an unrelated model, as fingerprints with untrained-token logits."""
    rng = np.random.default_rng(7)
    base_h, base_l = rng.standard_normal((spec.n, width)), rng.standard_normal((spec.n, M))
    arrays = {
        "base": (base_h, base_l),
        "derived": (base_h + 0.5 * rng.standard_normal(base_h.shape), base_l + 0.5 * rng.standard_normal(base_l.shape)),
        "other": (rng.standard_normal((spec.n, width)), rng.standard_normal((spec.n, M))),
    }
    return {name: Fingerprint(hidden=h.astype(np.float32), spec=spec, model_id=name, logits=l.astype(np.float32))
            for name, (h, l) in arrays.items()}


@pytest.fixture()
def fp_files(tmp_path):
    folder = tmp_path / "fps"
    folder.mkdir()
    return {name: fp.save(folder / f"{name}.fp.safetensors") for name, fp in make_fingerprints().items()}


class TestRunMatrix:
    def test_every_ordered_pair_matches_the_method_run_alone(self):
        fps = make_fingerprints()
        result = run_matrix(list(fps.values()))
        assert result.names == ("base", "derived", "other")
        assert sorted(result.results) == [(i, j) for i in range(3) for j in range(3) if i != j]
        ordered = list(fps.values())
        for (i, j), got in result.results.items():
            alone = METHODS["lineage"](ordered[i], ordered[j], alpha=0.01)
            # the matrix ranks each fingerprint once and runs the ranked test: another BLAS path than the method alone
            assert_close_results([got.log10_p, got.z, got.details], [alone.log10_p, alone.z, alone.details])
            assert got.probe_hash == SPEC.hash

    def test_verdicts_and_lineages(self):
        result = run_matrix(list(make_fingerprints().values()), names=["a", "b", "c"])
        verdicts = {(result.names[i], result.names[j]): r.verdict for (i, j), r in result.results.items()}
        assert verdicts[("a", "b")] == verdicts[("b", "a")] == "same-lineage"
        assert all(v == "independent" for pair, v in verdicts.items() if "c" in pair)
        assert result.lineages() == [["a", "b"], ["c"]]
        matrix = result.log10_p()
        assert np.isnan(np.diag(matrix)).all() and matrix[0, 1] < -10 and matrix[0, 2] > -2

    def test_paper_method(self):
        result = run_matrix(list(make_fingerprints().values()), method="paper", buffer_k=8, identity_mode="base")
        assert {r.method for r in result.results.values()} == {"paper"}
        assert result.settings == {"buffer_k": 8, "identity_mode": "base"}

    def test_to_dict_is_plain_json(self):
        payload = run_matrix(list(make_fingerprints().values())).to_dict()
        again = json.loads(json.dumps(payload, allow_nan=False))
        assert again["kind"] == "matrix" and len(again["pairs"]) == 6 and again["probe_hash"] == SPEC.hash
        assert {p["reference"] for p in again["pairs"]} == {"base", "derived", "other"}
        assert again["probe_spec"]["output_tokens"] == list(SPEC.output_tokens)

    def test_fewer_than_two(self):
        with pytest.raises(UsageError, match="at least 2"):
            run_matrix([make_fingerprints()["base"]])

    def test_mixed_specs_name_the_odd_one_out(self):
        fps = make_fingerprints()
        odd = make_fingerprints(ProbeSpec(kind="token", n=N, length=8, seed=43, vocab_bound=100,
                                          input_tokens=SPEC.input_tokens, output_tokens=SPEC.output_tokens))["other"]
        with pytest.raises(IncompatibleFingerprintsError, match=r"^other was made with other probes .* than base"):
            run_matrix([odd, fps["base"], fps["derived"]])

    def test_mixed_widths(self):
        wide = make_fingerprints(width=40)["other"]
        with pytest.raises(IncompatibleFingerprintsError, match="other has hidden size 40 but base has 32"):
            run_matrix([*list(make_fingerprints().values())[:2], wide])

    def test_names_must_be_distinct(self):
        with pytest.raises(UsageError, match="distinct names"):
            run_matrix(list(make_fingerprints().values()), names=["a", "a", "b"])


def test_short_labels_keep_just_enough_of_the_path():
    assert short_labels(["runs/a/model", "runs/b/model", "x/base"]) == ["a/model", "b/model", "base"]
    assert short_labels(["z/a/model.fp.safetensors", "z/b/model.fp.safetensors"]) == ["a", "b"]
    assert short_labels(["x/base.fp.safetensors", "y/ft.safetensors"]) == ["base.fp", "ft"]
    assert short_labels(["a/m.x", "b/m.x"]) == ["a", "b"]
    assert short_labels(["m", "m2"]) == ["m", "m2"]


def test_lineage_groups_are_connected_components_largest_first():
    assert lineage_groups(["a", "b", "c", "d"], [("d", "c"), ("c", "b")]) == [["b", "c", "d"], ["a"]]
    assert lineage_groups(["a", "b"], []) == [["a"], ["b"]]


class TestMatrixVerb:
    def test_json_and_report_files(self, capsys, tmp_path, fp_files):
        out = tmp_path / "report"
        code, stdout, err = run(capsys, "matrix", *fp_files.values(), "--out", out, "--json")
        assert code == 0, err
        payload = json.loads(stdout)
        assert payload["schema_version"] == 1 and len(payload["pairs"]) == 6 and payload["report"] == str(out / "index.html")
        assert payload["lineages"] == [[str(fp_files["base"]), str(fp_files["derived"])], [str(fp_files["other"])]]
        assert sorted(p.name for p in out.iterdir()) == ["heatmap.png", "index.html", "lineage-graph.svg", "results.json"]
        saved = json.loads((out / "results.json").read_text())
        assert saved["pairs"] == payload["pairs"] and saved["command"].startswith("seedprints matrix ")
        assert "--out" in saved["command"] and saved["seedprints_version"]
        assert (out / "heatmap.png").read_bytes().startswith(b"\x89PNG")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fps", "report"]  # no temp folder left beside it

    def test_human_output(self, capsys, tmp_path, fp_files):
        code, stdout, err = run(capsys, "matrix", *fp_files.values(), "--out", tmp_path / "r")
        assert code == 0, err
        assert "3 models, 6 ordered pairs: 2 same-lineage" in stdout and "report: " in stdout

    def test_force_replaces_a_previous_report(self, capsys, tmp_path, fp_files):
        out = tmp_path / "report"
        assert run(capsys, "matrix", fp_files["base"], fp_files["other"], "--out", out)[0] == 0
        code, _, err = run(capsys, "matrix", *fp_files.values(), "--out", out, "--force", "--json")
        assert code == 0, err
        assert len(json.loads((out / "results.json").read_text())["models"]) == 3
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fps", "report"]

    def test_an_empty_existing_folder_is_used(self, capsys, tmp_path, fp_files):
        (tmp_path / "empty").mkdir()
        assert run(capsys, "matrix", *fp_files.values(), "--out", tmp_path / "empty")[0] == 0
        assert (tmp_path / "empty" / "index.html").is_file()


class TestMatrixBadInput:
    def assert_nothing_written(self, tmp_path, before: set[str]) -> None:
        assert {p.name for p in tmp_path.iterdir()} == before

    def test_one_input(self, capsys, tmp_path, fp_files):
        code, _, err = run(capsys, "matrix", fp_files["base"], "--out", tmp_path / "r")
        assert_one_line_error(code, err, "at least 2")
        self.assert_nothing_written(tmp_path, {"fps"})

    def test_no_input_is_a_usage_error(self, capsys, tmp_path):
        assert run(capsys, "matrix", "--out", tmp_path / "r")[0] == 2

    def test_mixed_specs(self, capsys, tmp_path, fp_files):
        odd_spec = ProbeSpec(kind="token", n=N, length=16, seed=42, vocab_bound=100,
                             input_tokens=SPEC.input_tokens, output_tokens=SPEC.output_tokens)
        odd = make_fingerprints(odd_spec)["other"].save(tmp_path / "fps" / "odd.fp.safetensors")
        code, _, err = run(capsys, "matrix", fp_files["base"], odd, fp_files["derived"], "--out", tmp_path / "r")
        assert_one_line_error(code, err, f"{odd} was made with other probes", "--like")
        self.assert_nothing_written(tmp_path, {"fps"})

    def test_non_empty_out_dir(self, capsys, tmp_path, fp_files):
        out = tmp_path / "r"
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
        code, _, err = run(capsys, "matrix", *fp_files.values(), "--out", out)
        assert_one_line_error(code, err, "is not empty", "--force")
        assert [p.name for p in out.iterdir()] == ["notes.txt"]

    def test_force_never_deletes_a_folder_that_is_not_a_report(self, capsys, tmp_path, fp_files):
        out = tmp_path / "r"
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
        code, _, err = run(capsys, "matrix", *fp_files.values(), "--out", out, "--force")
        assert_one_line_error(code, err, "other than a seedprints report")
        assert [p.name for p in out.iterdir()] == ["notes.txt"]

    def test_out_dir_under_a_file(self, capsys, tmp_path, fp_files):
        (tmp_path / "file").write_text("x")
        code, _, err = run(capsys, "matrix", *fp_files.values(), "--out", tmp_path / "file" / "r")
        assert_one_line_error(code, err, "is a file, not a folder")
        self.assert_nothing_written(tmp_path, {"fps", "file"})

    def test_out_is_a_file(self, capsys, tmp_path, fp_files):
        (tmp_path / "file").write_text("x")
        code, _, err = run(capsys, "matrix", *fp_files.values(), "--out", tmp_path / "file")
        assert_one_line_error(code, err, "is a file")

    @pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
    def test_unwritable_parent(self, capsys, tmp_path, fp_files):
        parent = tmp_path / "ro"
        parent.mkdir()
        parent.chmod(0o555)
        try:
            code, _, err = run(capsys, "matrix", *fp_files.values(), "--out", parent / "r")
        finally:
            parent.chmod(0o755)
        assert_one_line_error(code, err, "not writable")
        assert not any(parent.iterdir())

    def test_failure_while_writing_leaves_nothing(self, capsys, tmp_path, fp_files, monkeypatch):
        import errno

        from seedprints.reports import html as report_html

        def refuse(src, dst):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(report_html.os, "replace", refuse)
        code, _, err = run(capsys, "matrix", *fp_files.values(), "--out", tmp_path / "r")
        assert_one_line_error(code, err, "cannot write report", "Permission denied")
        self.assert_nothing_written(tmp_path, {"fps"})

    def test_missing_input(self, capsys, tmp_path, fp_files):
        code, _, err = run(capsys, "matrix", fp_files["base"], tmp_path / "nope", "--out", tmp_path / "r")
        assert_one_line_error(code, err, "nope does not exist")

    def test_input_given_twice(self, capsys, tmp_path, fp_files):
        code, _, err = run(capsys, "matrix", fp_files["base"], fp_files["base"], "--out", tmp_path / "r")
        assert_one_line_error(code, err, "more than once")

    def test_different_widths(self, capsys, tmp_path, fp_files):
        wide = make_fingerprints(width=40)["other"].save(tmp_path / "fps" / "wide.fp.safetensors")
        code, _, err = run(capsys, "matrix", fp_files["base"], fp_files["derived"], wide, "--out", tmp_path / "r")
        assert_one_line_error(code, err, "hidden size 40")
        self.assert_nothing_written(tmp_path, {"fps"})


@pytest.mark.slow
def test_model_directories_and_a_file_share_one_spec(capsys, tmp_path, tiny_llama_dir, tiny_llama_derived_dir,
                                                      tiny_llama_other_dir):
    """Rare tokens chosen by the first model; a fingerprint file made with --like joins the same matrix."""
    out = tmp_path / "r"
    code, stdout, err = run(capsys, "matrix", tiny_llama_dir, tiny_llama_derived_dir, "--out", out,
                            "--n", "200", "--length", "16", "--json")
    assert code == 0, err
    first = json.loads(stdout)
    assert first["probe_spec"]["output_tokens"] and first["lineages"] == [[str(tiny_llama_dir), str(tiny_llama_derived_dir)]]
    fp = tmp_path / "other.fp.safetensors"
    base_fp = tmp_path / "base.fp.safetensors"
    assert main(["fingerprint", str(tiny_llama_dir), "-o", str(base_fp), "--n", "200", "--length", "16", "--json"]) == 0
    assert main(["fingerprint", str(tiny_llama_other_dir), "-o", str(fp), "--like", str(base_fp), "--json"]) == 0
    capsys.readouterr()
    code, stdout, err = run(capsys, "matrix", base_fp, tiny_llama_derived_dir, fp, "--out", tmp_path / "r2", "--json")
    assert code == 0, err
    payload = json.loads(stdout)
    assert payload["probe_hash"] == first["probe_hash"]
    assert payload["lineages"] == [[str(base_fp), str(tiny_llama_derived_dir)], [str(fp)]]
