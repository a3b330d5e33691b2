"""Shared fixtures: tiny models (2 layers, d=32, vocabulary 100) saved once per run, with offline tokenizers;
the in-process CLI runner with the one-line-error check that the CLI tests share; a named pipe; and a PostgreSQL
server for the session, with a fresh database per test."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

WORDS = (
    "the quick brown fox jumps over the lazy dog while a small cat sleeps in warm sun "
    "seeds grow into tall trees and models learn from data one token at a time"
)
TINY_VOCAB = 100
TINY_WIDTH = 32
# Numbers computed along two BLAS paths (ranked vs full, cached vs fresh arrays, another CPU's kernels) agree to
# about 1e-15 relative; 1e-9 is what `seedprints verify` allows, so the tests hold the code to the same promise.
BLAS_RTOL = 1e-9
BLAS_ATOL = 1e-12  # near 0, where a relative difference means nothing


def assert_close_results(got: object, expected: object, where: str = "result") -> None:
    """Equal structure, names, verdicts and integers; floats within BLAS_RTOL, as after a different BLAS path."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), f"{where}: keys {sorted(got)} != {sorted(expected)}"
        for key in expected:
            assert_close_results(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(got, type(expected)) and len(got) == len(expected), f"{where}: {got!r} != {expected!r}"
        for i, (a, b) in enumerate(zip(got, expected)):
            assert_close_results(a, b, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert isinstance(got, float) and got == pytest.approx(expected, rel=BLAS_RTOL, abs=BLAS_ATOL, nan_ok=True), \
            f"{where}: {got!r} != {expected!r} within {BLAS_RTOL:g}"
    else:
        assert type(got) is type(expected) and got == expected, f"{where}: {got!r} != {expected!r}"


def run(capsys, *argv) -> tuple[int, str, str]:
    """Run the CLI in-process on ``argv`` (each str()-ed); return its exit code, stdout and stderr."""
    from seedprints.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def compare_json(capsys, reference, suspect) -> dict:
    """``seedprints compare REFERENCE SUSPECT --json`` in-process: it must succeed; its JSON result."""
    import json

    code, out, err = run(capsys, "compare", reference, suspect, "--json")
    assert code == 0, err
    return json.loads(out)


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    """The bad-input rule: exit code 1 and exactly one ``Error:`` line holding every fragment, no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def build_tokenizer(with_cls_sep: bool = False):
    """A word-level tokenizer trained offline on a few sentences (ids well below TINY_VOCAB)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([WORDS, WORDS.upper()], trainers.WordLevelTrainer(special_tokens=specials))
    if with_cls_sep:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
        )
    extra = {"cls_token": "[CLS]", "sep_token": "[SEP]"} if with_cls_sep else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", **extra)


def _save(model, tokenizer, path: Path) -> Path:
    import transformers

    transformers.utils.logging.disable_progress_bar()
    model.save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    return path


def tiny_llama(seed: int, relative_noise: float = 0.0):
    """A 2-layer d=32 LlamaForCausalLM initialised from ``seed``; noise stands in for a short fine-tune."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        hidden_size=TINY_WIDTH, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        vocab_size=TINY_VOCAB, max_position_embeddings=256,
    )
    model = transformers.LlamaForCausalLM(config)
    if relative_noise:
        generator = torch.Generator().manual_seed(seed + 1000)
        with torch.no_grad():
            for param in model.parameters():
                param.add_(torch.randn(param.shape, generator=generator) * relative_noise * param.std().clamp_min(1e-3))
    return model


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A 2-layer d=32 LlamaForCausalLM (seed 0, float32) with a word-level tokenizer."""
    return _save(tiny_llama(0), build_tokenizer(), tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_llama_derived_dir(tmp_path_factory) -> Path:
    """The seed-0 tiny Llama with 5% relative weight noise: a derived model (same lineage)."""
    return _save(tiny_llama(0, relative_noise=0.05), build_tokenizer(), tmp_path_factory.mktemp("tiny-llama-derived"))


@pytest.fixture(scope="session")
def tiny_llama_other_dir(tmp_path_factory) -> Path:
    """A tiny Llama from seed 1: independent of the seed-0 model."""
    return _save(tiny_llama(1), build_tokenizer(), tmp_path_factory.mktemp("tiny-llama-other"))


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A 2-layer d=32 BertForMaskedLM (seed 0) whose tokenizer adds [CLS] ... [SEP]."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(
        hidden_size=TINY_WIDTH, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        vocab_size=TINY_VOCAB, max_position_embeddings=64,
    )
    model = transformers.BertForMaskedLM(config)
    return _save(model, build_tokenizer(with_cls_sep=True), tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    """A 2-layer d=32 GPT2LMHeadModel (seed 0) with 64 positions and a word-level tokenizer."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(n_embd=TINY_WIDTH, n_layer=2, n_head=2, vocab_size=TINY_VOCAB, n_positions=64)
    model = transformers.GPT2LMHeadModel(config)
    return _save(model, build_tokenizer(), tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe; a reader that opens it would block forever, so the test fails after 20 s instead of hanging."""
    path = tmp_path / "fifo"
    os.mkfifo(path)

    def timeout(*_: object) -> None:
        raise TimeoutError("blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(20)
    try:
        yield path
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _server_bin() -> Path | None:
    """The folder holding PostgreSQL's initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/VERSION/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda f: int(Path(f).parent.name))
    return Path(folders[-1]) if folders and Path(folders[-1], "pg_ctl").exists() else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for this test session on a Unix socket (no TCP); yields a URL template with {database}.

    initdb refuses to run as root, so as root the server runs as the user nobody. Skipped when the server is not
    installed, unless $SEEDPRINTS_REQUIRE_POSTGRES is set (CI), where that fails instead.
    """
    bin_dir = _server_bin()
    if bin_dir is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's postgresql package (.ci/run does)"
        if os.environ.get("SEEDPRINTS_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="sp-pg-"))  # short: a socket path has at most 107 characters
    root.chmod(0o755)
    data, sock = root / "data", root / "sock"
    as_user = ["runuser", "-u", "nobody", "--"] if os.getuid() == 0 else []
    for folder in (data, sock):
        folder.mkdir()
        if as_user:
            shutil.chown(folder, "nobody")
    run = lambda *args: subprocess.run([*as_user, *args], check=True, capture_output=True, text=True)  # noqa: E731
    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w",
        "-o", f"-k {sock} -c listen_addresses='' -c fsync=off", "start")
    try:
        yield f"postgresql://postgres@/{{database}}?host={sock}"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: str) -> str:
    """URL of a new, empty database on the session's server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.format(database="postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.format(database=name)
