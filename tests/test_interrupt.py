"""Interrupted work: SIGKILL or SIGINT mid-way leaves nothing under the final name, and the next run finishes cleanly.

Each run is a subprocess started through a small wrapper that sends the signal to itself at a chosen
point (the k-th forward pass of the model, the fsync of the final file write, the k-th zoo manifest),
so the interruption lands at the same place every time instead of after a guessed delay.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest

from seedprints.zoo.build import build_zoo, is_built, parse_config, plan
from seedprints.zoo.manifest import scan_zoo

WRAPPER = r"""
import os, signal, sys
where, signame, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = [0]
signal.signal(signal.SIGINT, signal.default_int_handler)  # a suite started in the background inherits SIGINT ignored

def hit():
    calls[0] += 1
    if calls[0] == at:
        os.kill(os.getpid(), getattr(signal, signame))

if where == "forward":  # the at-th batch of the (tiny Llama) model
    from transformers.models.llama import modeling_llama
    forward = modeling_llama.LlamaModel.forward
    def patched(self, *args, **kwargs):
        hit()
        return forward(self, *args, **kwargs)
    modeling_llama.LlamaModel.forward = patched
elif where == "final-write":  # after the final file's bytes are in its temp file, before the rename
    from seedprints import output_paths
    write, fsync, active = output_paths.write_atomic, os.fsync, [False]
    def patched_write(path, payload):
        active[0] = True
        try:
            return write(path, payload)
        finally:
            active[0] = False
    def patched_fsync(fd):
        fsync(fd)
        if active[0]:
            hit()
    output_paths.write_atomic, os.fsync = patched_write, patched_fsync
elif where == "manifest":  # a zoo model's directory is in place but its manifest not yet written
    from seedprints.zoo import build
    write_manifest = build.write_manifest
    def patched_manifest(*args, **kwargs):
        hit()
        return write_manifest(*args, **kwargs)
    build.write_manifest = patched_manifest
from seedprints.cli import main
sys.exit(main(sys.argv[4:]))
"""
PLAIN = "import sys; from seedprints.cli import main; sys.exit(main(sys.argv[1:]))"


def run(argv: list[str], interrupt: tuple[str, str, int] | None = None, cwd=None) -> subprocess.CompletedProcess:
    code = [sys.executable, "-c", WRAPPER, *map(str, interrupt)] if interrupt else [sys.executable, "-c", PLAIN]
    return subprocess.run([*code, *map(str, argv)], capture_output=True, text=True, timeout=300, cwd=cwd)


def fingerprint_argv(model, output) -> list[str]:
    return ["fingerprint", str(model), "-o", str(output), "--probe", "token", "--n", "40", "--length", "16",
            "--batch-size", "8", "--json"]


def parts(data: bytes) -> tuple[dict, bytes]:
    """Header metadata without ``created_at``, and the tensor bytes."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"].pop("created_at")
    return header, data[8 + length :]


def visible(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def check_interrupted(result, folder, output, signame) -> None:
    if signame == "SIGKILL":
        assert result.returncode == -9, result.stderr
    else:
        assert result.returncode == 130, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines == ["Error: interrupted; nothing was written under the final output name"]
    assert "Traceback" not in result.stderr
    assert not output.exists() and visible(folder) == []


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_llama_dir) -> bytes:
    """The fingerprint an uninterrupted run writes."""
    output = tmp_path_factory.mktemp("reference") / "ref.fp"
    result = run(fingerprint_argv(tiny_llama_dir, output))
    assert result.returncode == 0, result.stderr
    return output.read_bytes()


def test_sigkill_while_writing_a_bundle(tmp_path):
    """The fast kill-during-write check (no model, no torch): a bundle killed mid-write never appears."""
    from .bad_inputs import build_workspace

    build_workspace(tmp_path)
    argv = ["compare", "base.fp", "suspect.fp", "--bundle", "out/evidence.json"]
    (tmp_path / "out").mkdir()
    killed = run(argv, ("final-write", "SIGKILL", 1), cwd=tmp_path)
    assert killed.returncode == -9, killed.stderr
    assert [p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".evidence.json.")] == []
    assert run(argv, cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["evidence.json"]  # the killed temporary is gone
    assert run(["verify", "out/evidence.json"], cwd=tmp_path).returncode == 0


@pytest.mark.slow
class TestFingerprint:
    def test_sigkill_during_final_write(self, tmp_path, tiny_llama_dir, reference):
        output = tmp_path / "model.fp"
        killed = run(fingerprint_argv(tiny_llama_dir, output), ("final-write", "SIGKILL", 1))
        check_interrupted(killed, tmp_path, output, "SIGKILL")
        temp = [p for p in tmp_path.iterdir() if p.name.startswith(".model.fp.") and p.name.endswith(".tmp")]
        assert len(temp) == 1 and parts(temp[0].read_bytes()) == parts(reference)  # complete, but never renamed
        rerun = run(fingerprint_argv(tiny_llama_dir, output))
        assert rerun.returncode == 0, rerun.stderr
        assert parts(output.read_bytes()) == parts(reference) and visible(tmp_path) == ["model.fp"]
        assert not temp[0].exists()  # the rerun removed the killed writer's temporary

    @pytest.mark.parametrize(("where", "signame"), [
        ("forward", "SIGKILL"),
        pytest.param("forward", "SIGINT"),
        pytest.param("final-write", "SIGINT"),
    ])
    def test_interrupted_then_rerun_gives_the_same_fingerprint(self, tmp_path, tiny_llama_dir, reference, where, signame):
        output = tmp_path / "model.fp"
        interrupted = run(fingerprint_argv(tiny_llama_dir, output), (where, signame, 3 if where == "forward" else 1))
        check_interrupted(interrupted, tmp_path, output, signame)
        if where == "final-write":  # Ctrl-C during the write removes the temp file too
            assert list(tmp_path.iterdir()) == [] or all(".partial" in p.name for p in tmp_path.iterdir())
        rerun = run(fingerprint_argv(tiny_llama_dir, output))
        assert rerun.returncode == 0, rerun.stderr
        assert parts(output.read_bytes()) == parts(reference) and visible(tmp_path) == ["model.fp"]

    def test_ctrl_c_says_how_many_rows_are_kept_and_that_the_same_command_resumes(self, tmp_path, tiny_llama_dir):
        output = tmp_path / "model.fp"
        argv = [*fingerprint_argv(tiny_llama_dir, output)[:-2], "1", "--json"]  # one probe a batch: a save every 8
        interrupted = run(argv, ("forward", "SIGINT", 12))
        assert interrupted.returncode == 130 and not output.exists(), interrupted.stderr
        partial = tmp_path / ".model.fp.partial"
        assert interrupted.stderr.splitlines() == [
            f"Error: interrupted; 8 of 40 probe rows are kept in {partial}; run the same command again to resume "
            f"(nothing was written under {output})"]
        resumed = run(argv)
        assert resumed.returncode == 0, resumed.stderr
        fresh = tmp_path / "fresh.fp"
        assert run([*argv[:3], str(fresh), *argv[4:]]).returncode == 0
        assert parts(output.read_bytes()) == parts(fresh.read_bytes()) and not partial.exists()


TINY_ZOO = {
    "name": "tiny",
    "tokenizer_vocab": 300,
    "families": [{"arch": {"family": "llama", "hidden_size": 32, "num_layers": 1, "num_heads": 2,
                           "intermediate_size": 64, "vocab_size": 300, "max_position": 64}, "seeds": [1]}],
    "pretrain": {"domain": "prose", "steps": 3, "batch_size": 2, "seq_len": 16, "warmup": 0, "max_chars": 20000},
    "checkpoints": [1],
    "finetune": {"domain": "code", "steps": 2, "batch_size": 2, "seq_len": 16, "warmup": 0, "max_chars": 20000},
    "edits": [{"transform": "int8"}],
}


@pytest.mark.slow
def test_zoo_build_killed_mid_model_resumes(tmp_path):
    config_file = tmp_path / "tiny.json"
    config_file.write_text(json.dumps(TINY_ZOO))
    zoo = tmp_path / "zoo"
    killed = run(["zoo", "build", "--config", str(config_file), "--out", str(zoo), "--json"], ("manifest", "SIGKILL", 3))
    assert killed.returncode == -9, killed.stderr
    found, failed = scan_zoo(zoo)
    assert len(found) == 2 and len(failed) == 1  # the third model's folder is in place, its manifest not yet
    config = parse_config(TINY_ZOO)
    names = [p.entry.name for p in plan(config, tokenizer=None)]
    partial = [name for name in names if (zoo / name).is_dir() and not is_built(zoo / name, _entry(config, name))]
    assert partial == [failed[0][0].name]  # not treated as done
    report = build_zoo(config, zoo)
    assert partial[0] in report.built and set(report.built) | set(report.skipped) == set(names)
    assert all(is_built(zoo / name, _entry(config, name)) for name in names)
    found, failed = scan_zoo(zoo)
    assert not failed and sorted(p.name for p, _ in found) == sorted(names)


def _entry(config, name):
    return next(p.entry for p in plan(config, tokenizer=None) if p.entry.name == name)
