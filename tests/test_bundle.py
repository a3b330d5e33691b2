"""Evidence bundles: round trips, refusal of every kind of tampering, and verification in another process."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

from seedprints.bundle import layout as bl, verify as bv, write as bw
from seedprints import machine
from seedprints.cli import main
from seedprints.encoding import rank_fingerprint
from seedprints.fingerprint import Fingerprint
from seedprints.probes import ProbeSpec
from seedprints.stats.lineage import lineage_test_ranked
from seedprints.stats.methods import METHODS
from seedprints.stats.multiple import bh_log10, holm_log10
from seedprints.stats.result import verdict_for

N, D, M = 60, 24, 10
SPEC = ProbeSpec(kind="token", n=N, length=8, vocab_bound=100, input_tokens=tuple(range(0, 40, 2)),
                 output_tokens=tuple(range(1, 2 * M, 2)), untrained_from=1)


def pair(noise: float = 1.0) -> tuple[Fingerprint, Fingerprint]:
    """A reference and a suspect derived from it (hidden states and untrained-token logits)."""
    rng = np.random.default_rng(3)
    h, lg = rng.standard_normal((N, D)), rng.standard_normal((N, M))
    ref = Fingerprint(h.astype(np.float32), SPEC, "ref-model", logits=lg.astype(np.float32))
    sus = Fingerprint((h + noise * rng.standard_normal((N, D))).astype(np.float32), SPEC, "suspect-model",
                      logits=(lg + noise * rng.standard_normal((N, M))).astype(np.float32))
    return ref, sus


def write(path, ref, sus, method: str = "lineage", **settings):
    result = METHODS[method](ref, sus, alpha=0.01, **settings)
    embedded = {"reference": bw.embed(ref), "suspect": bw.embed(sus)}
    tests = [bl.Comparison("reference", "suspect", dataclasses.replace(result, probe_hash=ref.probe_hash), settings)]
    return bw.write_bundle(path, fingerprints=embedded, tests=tests, command="seedprints compare a b")


def edit(path, change, reseal: bool = True) -> None:
    """Apply ``change`` to the bundle's JSON; re-seal it as a forger would (or leave the old seal)."""
    data = json.loads(path.read_text())
    change(data)
    if reseal:
        data["seal"]["digest"] = bl.seal(data)
    path.write_text(json.dumps(data))


def flip_byte(entry: dict, index: int) -> None:
    raw = bytearray(base64.b64decode(entry["data_base64"]))
    raw[index] ^= 0x01
    entry["data_base64"] = base64.b64encode(bytes(raw)).decode()


def identify_bundle(path, listed: int = 3):
    """An identify bundle as the CLI writes one: the suspect against five entries (one its parent), the top few listed."""
    ref, sus = pair()
    rng = np.random.default_rng(9)
    others = [Fingerprint(rng.standard_normal((N, D)).astype(np.float32), SPEC, f"other-{i}",
                          logits=rng.standard_normal((N, M)).astype(np.float32)) for i in range(4)]
    entries = {fp.model_id: rank_fingerprint(fp) for fp in (ref, *others)}
    settings = {"n_permutations": 0, "seed": 0}
    results = {name: dataclasses.replace(lineage_test_ranked(entry, rank_fingerprint(sus), 0.01, **settings), probe_hash=SPEC.hash)
               for name, entry in entries.items()}
    order = sorted(results, key=lambda name: results[name].log10_p)[:listed]
    log10_p = np.array(sorted(r.log10_p for r in results.values()))
    holm, bh = holm_log10(log10_p), bh_log10(log10_p)
    family = {"tested": len(results), "alpha": 0.01, "level": 0.01, "sequential": False, "candidates": [
        {"test": i, "log10_p_holm": float(holm[i]), "log10_p_bh": float(bh[i]),
         "verdict": verdict_for(holm[i], 0.01), "bh_verdict": verdict_for(bh[i], 0.01)} for i, name in enumerate(order)]}
    embedded = {"suspect": bw.embed(sus), **{f"registry:{name}": bw.embed(entries[name], source=f"reg: {name}") for name in order}}
    tests = [bl.Comparison(f"registry:{name}", "suspect", results[name], settings) for name in order]
    return bw.write_bundle(path, fingerprints=embedded, tests=tests, command="seedprints identify s", kind="identify",
                           identification=family)


@pytest.fixture
def sealed(tmp_path):
    return write(tmp_path / "evidence.json", *pair())


def assert_reproduced(result: bv.VerifyResult) -> None:
    """Verified, bit for bit or (after another BLAS path: fresh arrays, another CPU) within the stated tolerance."""
    assert result.max_relative_difference < bl.REL_TOLERANCE
    assert result.identical == (result.max_relative_difference == 0.0)
    assert result.to_dict()["reproduced"] == ("bit for bit" if result.identical else "within tolerance")


class TestRoundTrip:
    def test_verifies_with_the_recorded_numbers(self, sealed):
        result = bv.verify_bundle(sealed)
        assert_reproduced(result)
        assert result.same_versions and result.kind == "compare" and set(result.fingerprints) == {"reference", "suspect"}
        assert result.tests[0]["verdict"] == "same-lineage"
        assert result.to_dict()["tolerance"] == {"relative": bl.REL_TOLERANCE, "absolute": bl.ABS_TOLERANCE}

    def test_says_whether_the_numbers_agreed_bit_for_bit(self, sealed):
        result = bv.verify_bundle(sealed)
        exact = dataclasses.replace(result, identical=True, max_relative_difference=0.0)
        close = dataclasses.replace(result, identical=False, max_relative_difference=3e-16)
        assert exact.agreement() == "numbers reproduced bit for bit" and exact.to_dict()["reproduced"] == "bit for bit"
        assert close.agreement().startswith("numbers reproduced within tolerance 1e-09 relative (largest difference 3.0e-16), "
                                            "not bit for bit")
        assert close.to_dict()["reproduced"] == "within tolerance" and close.to_dict()["identical"] is False

    def test_records_everything_needed_to_reproduce(self, sealed):
        data = json.loads(sealed.read_text())
        assert set(data["environment"]) >= {"python", "numpy", "scipy", "torch", "transformers", "seedprints"}
        ref = data["fingerprints"]["reference"]
        assert ref["probe_hash"] == SPEC.hash and ProbeSpec.from_json(ref["probe_spec"]) == SPEC
        assert len(ref["sha256"]) == 64 and ref["n"] == N and ref["hidden_size"] == D
        assert data["tests"][0]["method"] == "lineage" and data["command"].startswith("seedprints compare")
        assert data["seal"]["digest"] == bl.seal(data)

    def test_paper_method_and_settings(self, tmp_path):
        path = write(tmp_path / "p.json", *pair(), method="paper", buffer_k=8, identity_mode="base", use_agg=True)
        assert bv.verify_bundle(path).tests[0]["method"] == "paper"

    def test_rank_encodings_give_the_same_numbers(self, tmp_path):
        path = identify_bundle(tmp_path / "r.json")
        assert json.loads(path.read_text())["fingerprints"]["registry:ref-model"]["encoding"] == "ranks"
        assert_reproduced(bv.verify_bundle(path))

    @pytest.mark.parametrize(("listed", "bh"), [(3, "bounded"), (5, "exact")])
    def test_identify_family_is_checked(self, tmp_path, listed, bh):
        result = bv.verify_bundle(identify_bundle(tmp_path / "r.json", listed))
        assert result.family == {"tested": 5, "candidates": listed, "level": 0.01, "sequential": False, "bh": bh}
        assert result.tests[0]["reference"] == "registry:ref-model" and result.tests[0]["verdict"] == "same-lineage"

    def test_tolerance_is_relative_1e9(self, sealed):
        edit(sealed, lambda d: d["tests"][0]["result"].update(z=d["tests"][0]["result"]["z"] * (1 + 1e-12)))
        result = bv.verify_bundle(sealed)
        assert not result.identical and 0 < result.max_relative_difference < bl.REL_TOLERANCE
        edit(sealed, lambda d: d["tests"][0]["result"].update(z=d["tests"][0]["result"]["z"] * (1 + 1e-7)))
        with pytest.raises(bl.BundleError, match="z is .* but recomputes to"):
            bv.verify_bundle(sealed)


class TestTampering:
    @pytest.mark.parametrize(
        ("change", "reseal", "message"),
        [
            (lambda d: d["tests"][0]["result"].update(verdict="independent"), True, "verdict is 'independent' but recomputes"),
            (lambda d: d["tests"][0]["result"].update(log10_p=-1.0), True, "log10_p is -1.0 but recomputes"),
            (lambda d: d["tests"][0]["result"]["details"].update(extra=1), True, "details has fields"),
            (lambda d: d["tests"][0].update(alpha=0.5), True, "alpha is 0.01 but recomputes to 0.5"),
            (lambda d: d["tests"][0]["result"].update(z=0.0), False, "seal does not match"),
            (lambda d: d["seal"].update(digest="0" * 64), False, "seal does not match"),
            (lambda d: d.pop("seal"), False, "has no seal"),
            (lambda d: flip_byte(d["fingerprints"]["suspect"], 500), True, "does not match its SHA-256"),
            (lambda d: d["fingerprints"]["suspect"].update(model_id="someone-else"), True, "says model_id"),
            (lambda d: d["tests"][0].update(suspect="nobody"), True, "does not embed"),
            (lambda d: d["tests"][0].update(method="magic"), True, "expected one of"),
            (lambda d: d["tests"][0]["settings"].update(colour="red"), True, "does not take"),
            (lambda d: d.update(bundle_format="2"), True, "upgrade seedprints"),
        ],
    )
    def test_refused_with_one_line(self, sealed, change, reseal, message):
        edit(sealed, change, reseal)
        with pytest.raises(bl.BundleError, match=message) as info:
            bv.verify_bundle(sealed)
        assert "\n" not in str(info.value)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (lambda f: f["candidates"][0].update(log10_p_holm=f["candidates"][0]["log10_p_holm"] - 1), "Holm-adjusted log10 p is"),
            (lambda f: f.update(tested=50), "recomputes to"),
            (lambda f: f["candidates"][0].update(log10_p_bh=-1.0), "lies outside"),
            (lambda f: f["candidates"][0].update(verdict="independent"), "do not follow"),
            (lambda f: (f["candidates"][0].update(test=1), f["candidates"][1].update(test=0)), "not in order of evidence"),
            (lambda f: f["candidates"][1].update(test=0), "distinct tests"),
            (lambda f: f.update(level=0.005), "differs from alpha"),
            (lambda f: f.update(tested=2), "distinct tests"),
            (lambda f: f.update(alpha="0.01"), "expected a count in"),
            (lambda f: f.update(tested=10**400), "expected a count in"),
        ],
    )
    def test_identify_family_refused_with_one_line(self, tmp_path, change, message):
        path = identify_bundle(tmp_path / "r.json")
        edit(path, lambda d: change(d["identification"]))
        with pytest.raises(bl.BundleError, match=message) as info:
            bv.verify_bundle(path)
        assert "\n" not in str(info.value)

    def test_identify_bundle_without_its_family_is_refused(self, tmp_path):
        path = identify_bundle(tmp_path / "r.json")
        edit(path, lambda d: d.pop("identification"))
        with pytest.raises(bl.BundleError, match="lacks its identification section"):
            bv.verify_bundle(path)

    def test_changed_fingerprint_with_matching_hash_does_not_recompute(self, sealed):
        def swap(d):
            entry = d["fingerprints"]["suspect"]
            data = bytearray(base64.b64decode(entry["data_base64"]))
            first_value = 8 + int.from_bytes(data[:8], "little")
            data[first_value + 3] ^= 0x01  # the first hidden value's float32 exponent: it changes 4-fold
            entry["data_base64"] = base64.b64encode(bytes(data)).decode()
            entry["sha256"] = hashlib.sha256(bytes(data)).hexdigest()

        edit(sealed, swap)
        with pytest.raises(bl.BundleError, match="recomputes to"):
            bv.verify_bundle(sealed)

    @pytest.mark.parametrize(("content", "message"), [(b"{", "not JSON"), (b"[]", "no bundle_format"), (b"\xff\xfe", "not JSON")])
    def test_not_a_bundle(self, tmp_path, content, message):
        (tmp_path / "x.json").write_bytes(content)
        with pytest.raises(bl.BundleError, match=message):
            bv.verify_bundle(tmp_path / "x.json")


class TestCli:
    def test_compare_bundle_then_verify(self, tmp_path, capsys):
        ref, sus = pair()
        ref.save(tmp_path / "a.fp.safetensors")
        sus.save(tmp_path / "b.fp.safetensors")
        path = tmp_path / "ev.json"
        assert main(["compare", str(tmp_path / "a.fp.safetensors"), str(tmp_path / "b.fp.safetensors"),
                     "--bundle", str(path), "--json"]) == 0
        compared = json.loads(capsys.readouterr().out)
        data = json.loads(path.read_text())
        assert base64.b64decode(data["fingerprints"]["reference"]["data_base64"]) == (tmp_path / "a.fp.safetensors").read_bytes()
        assert data["tests"][0]["result"]["z"] == compared["z"] and "--method lineage" in data["command"]
        assert main(["verify", str(path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["verified"] is True
        edit(path, lambda d: d["tests"][0]["result"].update(k=7))
        assert main(["verify", str(path)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("Error: ") and "k is 7 but recomputes to 24" in err[0]

    def test_budget_is_recorded_and_recomputed(self, tmp_path):
        for name, fp in zip("ab", pair()):
            fp.save(tmp_path / f"{name}.fp")
        path = tmp_path / "ev.json"
        assert main(["compare", str(tmp_path / "a.fp"), str(tmp_path / "b.fp"), "--budget", "30", "--bundle", str(path)]) == 0
        test = json.loads(path.read_text())["tests"][0]
        assert test["settings"]["budget"] == 30 and test["result"]["n"] == 30
        assert_reproduced(bv.verify_bundle(path))

    def test_model_directory_side_records_file_checksums(self, tmp_path, capsys, tiny_llama_dir, tiny_llama_derived_dir):
        path = tmp_path / "ev.json"
        argv = ["compare", str(tiny_llama_dir), str(tiny_llama_derived_dir), "--n", "40", "--length", "8", "--rare-tokens", "10"]
        assert main([*argv, "--bundle", str(path)]) == 0
        files = json.loads(path.read_text())["fingerprints"]["suspect"]["model_files"]
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(files)
        assert files["config.json"] == hashlib.sha256((tiny_llama_derived_dir / "config.json").read_bytes()).hexdigest()
        assert main(["verify", str(path)]) == 0 and "numbers reproduced" in capsys.readouterr().out

    def test_verified_in_another_process_from_another_directory(self, sealed, tmp_path):
        copy = tmp_path / "elsewhere" / "copy.json"
        copy.parent.mkdir()
        shutil.copy(sealed, copy)
        sealed.unlink()
        run = subprocess.run([sys.executable, "-c", "import sys; from seedprints.cli import main; sys.exit(main())",
                              "verify", "copy.json", "--json"], cwd=copy.parent, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["max_relative_difference"] < bl.REL_TOLERANCE

    @pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86-64 BLAS kernel names")
    def test_verified_with_other_blas_kernels_and_threads(self, sealed):
        """What another machine does: OpenBLAS's oldest x86-64 kernels, MKL without AVX, two threads."""
        env = {**os.environ, "OPENBLAS_CORETYPE": "Prescott", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "OMP_NUM_THREADS": "2",
               "MKL_NUM_THREADS": "2"}
        run = subprocess.run([sys.executable, "-c", "import sys; from seedprints.cli import main; sys.exit(main())",
                              "verify", str(sealed)], env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert "numbers reproduced" in run.stdout

    def test_verify_says_when_numbers_agree_only_within_tolerance(self, sealed, capsys):
        edit(sealed, lambda d: d["tests"][0]["result"].update(z=d["tests"][0]["result"]["z"] * (1 + 1e-13)))
        assert main(["verify", str(sealed)]) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert "reproduced within tolerance 1e-09 relative" in out and "not bit for bit" in out
        assert main(["verify", str(sealed), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["identical"] is False and data["reproduced"] == "within tolerance" and data["verified"] is True


class TestSameMachine:
    """What verify says about the last digits: bit for bit under the writer's machine and settings, else why not."""

    def test_records_the_machine_facts_that_move_last_digits(self, sealed):
        recorded = json.loads(sealed.read_text())["machine"]
        assert set(recorded) == {"architecture", "cpu", "cpus", "blas", "threads"}
        assert recorded["architecture"] == platform.machine() and int(recorded["cpus"]) >= 1
        assert recorded["threads"] == " ".join(f"{k}={os.environ[k]}" for k in machine.THREAD_VARIABLES if k in os.environ)

    @pytest.mark.parametrize("kind", ["compare", "paper", "identify"])
    def test_same_machine_and_settings_reproduce_bit_for_bit(self, tmp_path, kind):
        settings = {"buffer_k": 8, "identity_mode": "base"} if kind == "paper" else {}
        path = (identify_bundle(tmp_path / "r.json") if kind == "identify"
                else write(tmp_path / "r.json", *pair(), method="lineage" if kind == "compare" else "paper", **settings))
        result = bv.verify_bundle(path)
        assert result.environment_differences == {} and result.identical and result.agreement() == "numbers reproduced bit for bit"

    def test_other_thread_settings_are_named_not_another_cpu(self, sealed):
        def other_threads(d):
            d["machine"]["threads"] = "OMP_NUM_THREADS=7"
            d["tests"][0]["result"]["z"] *= 1 + 1e-13  # the last digits an other split of the sums would move

        edit(sealed, other_threads)
        result = bv.verify_bundle(sealed)
        here = result.environment_differences["threads"]["here"]
        assert result.environment_differences == {"threads": {"bundle": "OMP_NUM_THREADS=7", "here": here}}
        text = result.agreement()
        assert "BLAS thread settings: OMP_NUM_THREADS=7 there" in text and "CPU" not in text
        assert "rerun verify with the writer's thread settings" in text
        assert bv.verify_bundle(sealed).to_dict()["environment_differences"]["threads"]["bundle"] == "OMP_NUM_THREADS=7"

    def test_other_cpu_and_versions_are_named(self, sealed):
        def elsewhere(d):
            d["machine"].update(cpu="Some Other CPU", blas="\x1b[2Jopenblas")
            d["environment"]["numpy"] = "1.0"
            d["tests"][0]["result"]["z"] *= 1 + 1e-13

        edit(sealed, elsewhere)
        text = bv.verify_bundle(sealed).agreement()
        assert "CPU model: Some Other CPU there" in text and "numpy version: 1.0 there" in text
        assert "'\\x1b[2Jopenblas' there" in text and "\x1b" not in text and "rerun verify" not in text

    def test_identify_scan_is_named_when_the_machine_matches(self, tmp_path):
        path = identify_bundle(tmp_path / "r.json")
        edit(path, lambda d: d["tests"][0]["result"].update(z=d["tests"][0]["result"]["z"] * (1 + 1e-13)))
        assert "identify's scan summed many registry entries at once" in bv.verify_bundle(path).agreement()

    def test_bundle_without_a_machine_record_says_so(self, sealed):
        edit(sealed, lambda d: (d.pop("machine"), d["tests"][0]["result"].update(z=d["tests"][0]["result"]["z"] * (1 + 1e-13))))
        result = bv.verify_bundle(sealed)
        assert result.environment_differences is None
        assert "the bundle does not record the machine that wrote it" in result.agreement()

    def test_writer_thread_settings_in_another_process(self, tmp_path):
        """Measured: a 500 x 64 product sums differently on one and two OpenBLAS threads; with the writer's, bit for bit."""
        rng = np.random.default_rng(5)
        h, lg = rng.standard_normal((500, 64)), rng.standard_normal((500, M)).astype(np.float32)
        spec = dataclasses.replace(SPEC, n=500)
        ref = Fingerprint(h.astype(np.float32), spec, "ref-model", logits=lg)
        sus = Fingerprint((h + rng.standard_normal(h.shape)).astype(np.float32), spec, "suspect-model", logits=lg)
        path = write(tmp_path / "wide.json", ref, sus)

        def verified(**threads: str) -> dict:
            env = {k: v for k, v in os.environ.items() if k not in machine.THREAD_VARIABLES}
            run = subprocess.run([sys.executable, "-m", "seedprints", "verify", str(path), "--json"], capture_output=True,
                                 text=True, timeout=120, env={**env, **threads})
            assert run.returncode == 0, run.stderr
            return json.loads(run.stdout)

        writer = dict(item.split("=", 1) for item in json.loads(path.read_text())["machine"]["threads"].split())
        same = verified(**writer)
        assert same["identical"] and same["environment_differences"] == {}
        other = verified(OPENBLAS_NUM_THREADS="2" if writer else "1")  # another split of the sums, where CPUs allow
        assert set(other["environment_differences"]) == {"threads"} and other["max_relative_difference"] < bl.REL_TOLERANCE


class TestRecordedCommand:
    def test_reruns_beside_the_outputs_it_wrote(self, tmp_path, capsys, monkeypatch):
        monkeypatch.chdir(tmp_path)
        for name, fp in zip("ab", pair()):
            fp.save(tmp_path / f"{name}.fp.safetensors")
        argv = ["compare", "a.fp.safetensors", "b.fp.safetensors", "--bundle", "ev.json", "--report", "report", "--json"]
        assert main(argv) == 0
        first = json.loads(capsys.readouterr().out)
        command = json.loads((tmp_path / "ev.json").read_text())["command"]
        words = shlex.split(command)
        assert words[:4] == ["seedprints", "compare", "a.fp.safetensors", "b.fp.safetensors"]
        assert not {"--bundle", "--report", "--force", "--sign"} & set(words), command
        assert main(words[1:]) == 0, capsys.readouterr().err
        again = json.loads(capsys.readouterr().out)
        assert {k: again[k] for k in ("verdict", "log10_p", "z", "n")} == {k: first[k] for k in ("verdict", "log10_p", "z", "n")}

    @pytest.mark.parametrize(("given", "recorded"), [
        ("seedprints compare a b --bundle ev.json --force --report 'my report' --json", "seedprints compare a b --json"),
        ("seedprints identify 'x y' --registry r.db --bundle ev.json --sign lab.key", "seedprints identify 'x y' --registry r.db"),
        ("seedprints compare a b", "seedprints compare a b"),
    ])
    def test_outputs_are_left_out(self, given, recorded):
        assert bw.rerunnable(given) == recorded

    def test_unclosed_quote_is_refused(self, tmp_path):
        with pytest.raises(bl.BundleError, match="is not a shell command line"):
            bw.write_bundle(tmp_path / "x.json", fingerprints={}, tests=[], command="seedprints compare 'a b")
