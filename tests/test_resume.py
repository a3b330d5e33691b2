"""Tests of seedprints.resume: partial results saved during extraction and resumed after a crash or Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from seedprints.cli import main
from seedprints.errors import FingerprintFormatError, OutputPathError, UsageError
from seedprints.fingerprint_run import check_output, fingerprint_file, like_probes, resume_note
from seedprints.model.forward import extract_hidden_states
from seedprints.model.load import load_model
from seedprints.fingerprint import load
from seedprints.options import ProbeOptions, RunOptions
from seedprints.probes import generated, token_spec
from seedprints.resume import Checkpoint, partial_path

SPEC = token_spec(n=40, length=6, vocab_bound=100)
KEY = {"model_digest": "abc", "probe_hash": "p1", "dtype": "torch.float32", "n": 40, "d": 32}


@pytest.fixture(scope="module")
def clean(tiny_llama_dir) -> np.ndarray:
    return extract_hidden_states(load_model(tiny_llama_dir), generated(SPEC), batch_size=2)


def _count_forwards(loaded) -> list[int]:
    calls: list[int] = []
    loaded.module.register_forward_pre_hook(lambda module, args, kwargs: calls.append(1), with_kwargs=True)
    return calls


class TestCheckpoint:
    def test_round_trip(self, tmp_path):
        rows = np.arange(10 * 32, dtype=np.float32).reshape(10, 32)
        Checkpoint(tmp_path / "p", KEY).save(rows)
        restored, done = Checkpoint(tmp_path / "p", KEY).restore(40, 32)
        assert done == 10 and np.array_equal(restored[:10], rows) and restored.shape == (40, 32)

    def test_no_file(self, tmp_path):
        assert Checkpoint(tmp_path / "p", KEY).restore(40, 32) == (None, 0)

    @pytest.mark.parametrize("field", ["model_digest", "probe_hash", "dtype"])
    def test_other_model_or_spec_is_refused(self, tmp_path, field):
        Checkpoint(tmp_path / "p", KEY).save(np.zeros((4, 32), dtype=np.float32))
        with pytest.raises(UsageError, match=rf"another model or probe spec \({field} .*delete .* to start over") as info:
            Checkpoint(tmp_path / "p", {**KEY, field: "other"}).restore(40, 32)
        assert "\n" not in str(info.value)

    def test_unreadable(self, tmp_path):
        (tmp_path / "p").write_bytes(b"\x01\x00\x00\x00\x00\x00\x00\x00{")
        with pytest.raises(UsageError, match="unreadable"):
            Checkpoint(tmp_path / "p", KEY).restore(40, 32)

    def test_wrong_shape(self, tmp_path):
        Checkpoint(tmp_path / "p", KEY).save(np.zeros((4, 16), dtype=np.float32))
        with pytest.raises(UsageError, match="unexpected shape"):
            Checkpoint(tmp_path / "p", KEY).restore(40, 32)

    def test_partial_path_is_hidden_beside_the_output(self, tmp_path):
        assert partial_path(tmp_path / "fp.safetensors") == tmp_path / ".fp.safetensors.partial"


class TestResume:
    def test_ctrl_c_then_resume_gives_identical_rows(self, tiny_llama_dir, tmp_path, clean):
        loaded = load_model(tiny_llama_dir)
        calls = _count_forwards(loaded)

        def interrupt(module, args, kwargs):
            if len(calls) == 7:
                raise KeyboardInterrupt

        handle = loaded.module.register_forward_pre_hook(interrupt, with_kwargs=True)
        partial = tmp_path / "part"
        with pytest.raises(KeyboardInterrupt):
            extract_hidden_states(loaded, generated(SPEC), batch_size=2, partial=partial, save_every=3)
        handle.remove()
        assert partial.is_file()
        calls.clear()
        resumed = extract_hidden_states(loaded, generated(SPEC), batch_size=2, partial=partial, save_every=3)
        assert np.array_equal(resumed, clean)
        assert len(calls) == 20 - 6  # six batches were saved before the interrupt

    def test_partial_of_another_model_is_refused(self, tiny_llama_dir, tiny_llama_derived_dir, tmp_path):
        partial = tmp_path / "part"
        loaded = load_model(tiny_llama_dir)
        calls = _count_forwards(loaded)

        def interrupt(module, args, kwargs):
            if len(calls) == 3:
                raise KeyboardInterrupt

        loaded.module.register_forward_pre_hook(interrupt, with_kwargs=True)
        with pytest.raises(KeyboardInterrupt):
            extract_hidden_states(loaded, generated(SPEC), batch_size=2, partial=partial, save_every=1)
        with pytest.raises(UsageError, match="another model or probe spec.*model_digest"):
            extract_hidden_states(load_model(tiny_llama_derived_dir), generated(SPEC), batch_size=2, partial=partial)
        other_spec = token_spec(n=40, length=6, vocab_bound=100, seed=7)
        with pytest.raises(UsageError, match="another model or probe spec.*probe_hash"):
            extract_hidden_states(loaded, generated(other_spec), batch_size=2, partial=partial)

    @pytest.mark.slow
    def test_killed_subprocess_resumes_with_identical_rows(self, tiny_llama_dir, tmp_path, clean):
        partial = tmp_path / "part"
        script = (
            "import sys, time\n"
            "from seedprints.model.load import load_model; from seedprints.model.forward import extract_hidden_states\n"
            "from seedprints.probes import generated, token_spec\n"
            "loaded = load_model(sys.argv[1])\n"
            "loaded.module.register_forward_pre_hook(lambda m, a, k: time.sleep(0.2), with_kwargs=True)\n"
            "extract_hidden_states(loaded, generated(token_spec(n=40, length=6, vocab_bound=100)), batch_size=2,\n"
            "                      partial=sys.argv[2], save_every=1)\n"
        )
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.Popen([sys.executable, "-c", script, str(tiny_llama_dir), str(partial)], env=env)
        deadline = time.monotonic() + 120
        while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL  # killed mid-way, not finished
        assert partial.exists()
        loaded = load_model(tiny_llama_dir)
        calls = _count_forwards(loaded)
        resumed = extract_hidden_states(loaded, generated(SPEC), batch_size=2, partial=partial)
        assert np.array_equal(resumed, clean)
        assert 0 < len(calls) < 20


class TestCli:
    ARGS = ["--probe", "token", "--n", "40", "--length", "6", "--vocab-bound", "100", "--batch-size", "2"]

    def test_resumes_from_a_partial_file_and_removes_it(self, tiny_llama_dir, tmp_path, clean):
        out = tmp_path / "fp.safetensors"
        loaded = load_model(tiny_llama_dir)
        key = {"model_digest": loaded.weights_digest, "probe_hash": SPEC.hash, "dtype": str(torch.float32), "n": 40, "d": 32}
        Checkpoint(partial_path(out), key).save(clean[:10] + 0)  # as if 5 batches were done before a crash
        assert main(["fingerprint", str(tiny_llama_dir), "-o", str(out), *self.ARGS, "--json"]) == 0
        assert np.array_equal(load(out).hidden, clean) and not partial_path(out).exists()

    def test_partial_of_another_model_one_line_no_output(self, tiny_llama_derived_dir, tmp_path, capsys):
        out = tmp_path / "fp.safetensors"
        Checkpoint(partial_path(out), {**KEY, "probe_hash": SPEC.hash}).save(np.zeros((4, 32), dtype=np.float32))
        assert main(["fingerprint", str(tiny_llama_derived_dir), "-o", str(out), *self.ARGS]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "another model or probe spec" in err[0] and "delete" in err[0]
        assert not out.exists() and partial_path(out).exists()


class TestLibrary:
    """The fingerprint verb's lifecycle from Python (seedprints.fingerprint_run), as the CLI runs it."""

    OPTIONS = ProbeOptions(kind="token", n=40, length=6, vocab_bound=100)

    def test_resumes_reports_what_an_interruption_keeps_and_removes_the_partial_file(self, tiny_llama_dir, tmp_path,
                                                                                     clean):
        out = tmp_path / "fp.safetensors"
        loaded = load_model(tiny_llama_dir)
        key = {"model_digest": loaded.weights_digest, "probe_hash": SPEC.hash, "dtype": str(torch.float32), "n": 40, "d": 32}
        Checkpoint(partial_path(out), key).save(clean[:10] + 0)
        notes = []
        written = fingerprint_file(tiny_llama_dir, out, options=self.OPTIONS, run=RunOptions(batch_size=2),
                                   on_resumable=notes.append)
        assert written.path == out and written.decision is None and np.array_equal(load(out).hidden, clean)
        assert not partial_path(out).exists() and [note() for note in notes] == [None]  # nothing kept any more

    def test_the_note_counts_the_kept_rows(self, tmp_path):
        out = tmp_path / "fp.safetensors"
        assert resume_note(out) is None
        Checkpoint(partial_path(out), KEY).save(np.zeros((4, 32), dtype=np.float32))
        assert resume_note(out).startswith(f"interrupted; 4 of 40 probe rows are kept in {partial_path(out)}")

    def test_a_folder_in_the_way_of_the_partial_file_is_refused(self, tiny_llama_dir, tmp_path):
        out = tmp_path / "fp.safetensors"
        partial_path(out).mkdir()
        with pytest.raises(OutputPathError, match="is in the way of this run's resume file"):
            check_output(out, tiny_llama_dir)

    def test_early_stop_needs_a_reference(self, tiny_llama_dir, tmp_path):
        with pytest.raises(UsageError, match=r"early_stop=True needs a reference to decide against: add like="):
            fingerprint_file(tiny_llama_dir, tmp_path / "fp.safetensors", early_stop=True)

    def test_a_like_folder_is_no_fingerprint_even_when_it_holds_a_model(self, tiny_llama_dir):
        with pytest.raises(FingerprintFormatError, match="is a directory, not a fingerprint file"):
            like_probes(tiny_llama_dir, tiny_llama_dir)
