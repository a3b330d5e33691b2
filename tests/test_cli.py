"""CLI end to end on tiny models: verdicts, --json output, exit codes, and one-line errors for bad input."""

from __future__ import annotations

import json
import struct

import pytest

from seedprints.cli import main

from .conftest import assert_one_line_error, run

PROBES = ["--n", "200", "--length", "16"]


@pytest.fixture(scope="module")
def fingerprints(tmp_path_factory, tiny_llama_dir, tiny_llama_derived_dir, tiny_llama_other_dir):
    """Fingerprint files of the seed-0 model, a derived copy, and a seed-1 model (made through the CLI)."""
    folder = tmp_path_factory.mktemp("fps")
    paths = {name: folder / f"{name}.safetensors" for name in ("base", "derived", "other")}
    assert main(["fingerprint", str(tiny_llama_dir), "-o", str(paths["base"]), *PROBES, "--json"]) == 0
    for name, model in (("derived", tiny_llama_derived_dir), ("other", tiny_llama_other_dir)):
        assert main(["fingerprint", str(model), "-o", str(paths[name]), "--like", str(paths["base"]), "--json"]) == 0
    return paths


class TestFingerprintVerb:
    def test_json_summary(self, capsys, tmp_path, tiny_llama_dir):
        code, out, err = run(capsys, "fingerprint", tiny_llama_dir, "-o", tmp_path / "a.safetensors", *PROBES, "--json")
        assert code == 0, err
        payload = json.loads(out)
        assert payload["schema_version"] == 1 and payload["n"] == 200 and payload["hidden_size"] == 32
        assert len(payload["probe_hash"]) == 16

    def test_human_output(self, capsys, tmp_path, tiny_llama_dir):
        code, out, _ = run(capsys, "fingerprint", tiny_llama_dir, "-o", tmp_path / "a.safetensors", *PROBES)
        assert code == 0 and "200 x 32" in out


class TestCompareVerb:
    def test_derived_model_is_same_lineage(self, capsys, fingerprints):
        code, out, err = run(capsys, "compare", fingerprints["base"], fingerprints["derived"], "--method", "paper", "--buffer-k", "8", "--json")
        assert code == 0, err
        payload = json.loads(out)
        for key in ("verdict", "p_value", "log10_p", "z", "k", "n", "alpha", "method", "probe_hash"):
            assert key in payload
        assert payload["verdict"] == "same-lineage" and payload["log10_p"] < -10 and payload["method"] == "paper"

    def test_independent_model(self, capsys, fingerprints):
        code, out, err = run(capsys, "compare", fingerprints["base"], fingerprints["other"], "--method", "paper", "--buffer-k", "8", "--json")
        assert code == 0, err
        assert json.loads(out)["verdict"] == "independent"

    @pytest.mark.parametrize(("suspect", "verdict"), [("derived", "same-lineage"), ("other", "independent")])
    def test_default_method_is_the_calibrated_test(self, capsys, fingerprints, suspect, verdict):
        code, out, err = run(capsys, "compare", fingerprints["base"], fingerprints[suspect], "--json")
        assert code == 0, err
        payload = json.loads(out)
        assert payload["method"] == "lineage" and payload["verdict"] == verdict and payload["k"] == 32

    def test_paper_flags_need_paper_method(self, capsys, fingerprints):
        code, _, err = run(capsys, "compare", fingerprints["base"], fingerprints["other"], "--buffer-k", "8")
        assert code == 2 and "only apply to --method paper" in err

    def test_model_directory_is_fingerprinted_with_the_files_spec(self, capsys, fingerprints, tiny_llama_derived_dir):
        code, out, err = run(capsys, "compare", fingerprints["base"], tiny_llama_derived_dir, "--method", "paper", "--buffer-k", "8", "--json")
        assert code == 0, err
        assert json.loads(out)["verdict"] == "same-lineage"

    def test_two_model_directories(self, capsys, tiny_llama_dir, tiny_llama_derived_dir):
        code, out, err = run(capsys, "compare", tiny_llama_dir, tiny_llama_derived_dir, *PROBES, "--method", "paper", "--buffer-k", "8")
        assert code == 0, err
        assert out.startswith("same-lineage") and "log10 p" in out

    def test_two_model_directories_default_method(self, capsys, tiny_llama_dir, tiny_llama_derived_dir):
        code, out, err = run(capsys, "compare", tiny_llama_dir, tiny_llama_derived_dir, *PROBES, "--json")
        assert code == 0, err
        payload = json.loads(out)  # both read the untrained-token probes of their shared vocabulary
        assert payload["method"] == "lineage" and payload["verdict"] == "same-lineage"
        assert "vocab_z" in payload["details"]

    def test_like_with_a_missing_file(self, capsys, tmp_path, tiny_llama_dir):
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "-o", tmp_path / "a.safetensors", "--like", tmp_path / "no.safetensors")
        assert_one_line_error(code, err, "does not exist")

    def test_verdict_line_for_humans(self, capsys, fingerprints):
        code, out, _ = run(capsys, "compare", fingerprints["base"], fingerprints["other"], "--method", "paper", "--buffer-k", "8")
        assert code == 0 and out.startswith("independent")


class TestBadInput:
    def test_missing_model_directory(self, capsys, tmp_path):
        code, _, err = run(capsys, "fingerprint", tmp_path / "nope", "-o", tmp_path / "a.safetensors")
        assert_one_line_error(code, err, "does not exist")
        assert not (tmp_path / "a.safetensors").exists()

    def test_not_a_model_directory(self, capsys, tmp_path):
        (tmp_path / "empty").mkdir()
        code, _, err = run(capsys, "fingerprint", tmp_path / "empty", "-o", tmp_path / "a.safetensors")
        assert_one_line_error(code, err, "no config.json")
        assert [p.name for p in tmp_path.iterdir()] == ["empty"]

    def test_output_not_writable(self, capsys, tmp_path, tiny_llama_dir):
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "-o", tmp_path / "missing" / "a.safetensors", *PROBES)
        assert_one_line_error(code, err, "does not exist")

    def test_corrupt_fingerprint(self, capsys, tmp_path, fingerprints):
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(fingerprints["base"].read_bytes()[:100])
        code, _, err = run(capsys, "compare", bad, fingerprints["base"])
        assert_one_line_error(code, err, "bad.safetensors")

    def test_not_our_file(self, capsys, tmp_path, fingerprints):
        other = tmp_path / "other.safetensors"
        header = b'{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
        other.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
        code, _, err = run(capsys, "compare", other, fingerprints["base"])
        assert_one_line_error(code, err, "not a seedprints fingerprint")

    def test_different_probe_specs(self, capsys, tmp_path, tiny_llama_dir, fingerprints):
        other = tmp_path / "seed7.safetensors"
        assert main(["fingerprint", str(tiny_llama_dir), "-o", str(other), *PROBES, "--probe-seed", "7", "--json"]) == 0
        capsys.readouterr()
        code, _, err = run(capsys, "compare", fingerprints["base"], other)
        assert_one_line_error(code, err, "different probes", "seed=42", "seed=7")

    def test_different_hidden_sizes(self, capsys, tmp_path, tiny_llama_dir):
        import numpy as np

        from seedprints.fingerprint import Fingerprint, load, save

        base = tmp_path / "base.safetensors"
        assert main(["fingerprint", str(tiny_llama_dir), "-o", str(base), *PROBES, "--probe", "token", "--json"]) == 0
        capsys.readouterr()
        loaded = load(base)
        wide = Fingerprint(hidden=np.zeros((loaded.n, 64), np.float32), spec=loaded.spec, model_id="wide")
        save(wide, tmp_path / "wide.safetensors")
        code, _, err = run(capsys, "compare", base, tmp_path / "wide.safetensors")
        assert_one_line_error(code, err, "hidden sizes differ")

    def test_too_few_probes(self, capsys, tmp_path, tiny_llama_dir):
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "-o", tmp_path / "a.safetensors", "--n", "5")
        assert_one_line_error(code, err, "at least 10")
        assert not (tmp_path / "a.safetensors").exists()

    def test_non_finite_hidden_states(self, capsys, tmp_path, tiny_llama_dir):
        import numpy as np

        from seedprints.fingerprint import Fingerprint, load, save

        base = tmp_path / "base.safetensors"
        assert main(["fingerprint", str(tiny_llama_dir), "-o", str(base), *PROBES, "--probe", "token", "--json"]) == 0
        capsys.readouterr()
        loaded = load(base)
        hidden = loaded.hidden.copy()
        hidden[3, 4] = np.nan
        save(Fingerprint(hidden=hidden, spec=loaded.spec, model_id="nan"), tmp_path / "nan.safetensors")
        code, _, err = run(capsys, "compare", base, tmp_path / "nan.safetensors", "--method", "paper", "--buffer-k", "8")
        assert_one_line_error(code, err, "NaN")

    @pytest.mark.parametrize("argv", [["compare"], ["fingerprint"], ["compare", "a", "b", "--alpha", "2"], ["nosuchverb"]])
    def test_usage_errors_exit_2(self, capsys, argv):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "Traceback" not in err


def test_version_names_the_package_and_its_libraries(capsys):
    import seedprints

    code, out, err = run(capsys, "--version")
    assert code == 0 and err == ""
    assert out.startswith(f"seedprints {seedprints.__version__} (python ") and "numpy " in out and "torch " in out


def test_python_dash_m_runs_the_same_command_line():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "seedprints", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("seedprints "), done.stderr


def _verbs() -> list[tuple[str, ...]]:
    """Every command path of the CLI, sub-commands included."""
    import typer

    from seedprints.cli import app

    def walk(command, path):
        children = getattr(command, "commands", {})
        return [p for name, child in children.items() for p in walk(child, (*path, name))] if children else [path]

    return walk(typer.main.get_command(app), ())


@pytest.mark.parametrize("verb", _verbs(), ids=" ".join)
def test_help_names_arguments_and_types_plainly(capsys, verb):
    """Usage reads ``REF SUSPECT``, not typer's ``{ref} {suspect}``; a repeated value shows its type, not ``<list[...]>``;
    every --batch-size states its default the same way."""
    code, out, _ = run(capsys, *verb, "--help")
    assert code == 0
    usage = out.splitlines()[0]
    assert usage.startswith(f"Usage: seedprints {' '.join(verb)} [OPTIONS]") and "{" not in usage, usage
    assert "<list[" not in out
    batch = " ".join(out.split("--batch-size", 1)[1].split("--", 1)[0].split()) if "--batch-size" in out else ""
    assert not batch or "[default: " in batch, batch


@pytest.mark.parametrize(("verb", "offers"), [
    ("fleet", {"probe", "n", "length", "probe_seed", "rare_tokens", "dtype", "batch_size", "trust_remote_code"}),
    ("claims", {"n", "length", "probe_seed", "rare_tokens", "device", "dtype", "batch_size", "trust_remote_code",
                "allow_pickle", "device_map", "base"}),
])
def test_shared_options_keep_one_default_on_every_verb(verb, offers):
    """A verb offering part of the shared probe and model flags declares none itself: each has the default it has on
    fingerprint, and the flags the verb does not offer stay off its command line."""
    import importlib
    import inspect

    from seedprints.cli import fingerprint

    shared = inspect.signature(fingerprint.fingerprint).parameters
    own = inspect.signature(getattr(importlib.import_module(f"seedprints.cli.{verb}"), verb)).parameters
    names = {"probe", "n", "length", "probe_seed", "vocab_bound", "probe_file", "rare_tokens", "device", "dtype",
             "batch_size", "trust_remote_code", "allow_pickle", "device_map", "base"}
    assert names & set(own) == offers
    assert {name: own[name].default for name in offers} == {name: shared[name].default for name in offers}
