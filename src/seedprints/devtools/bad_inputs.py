"""Every bad input we try, run through the real CLI, and the page that lists what the tool answers.

``CASES`` is the single table: each case names what is wrong, the command line (paths relative to a
workspace of ready-made bad inputs, see :func:`build_workspace`), the exit code and a fragment of the
one-line answer it must give. ``tests/test_bad_inputs.py`` runs every case; this module's command
writes the same outcomes to ``docs/bad-inputs.md``::

    python -m seedprints.devtools.bad_inputs --out docs/bad-inputs.md      # or: make docs-bad-inputs

Adding a case is one line in ``CASES`` (plus one line in ``build_workspace`` if it needs a new file).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np

DOC_TITLE = "# Bad inputs and what seedprints answers"
N, D, M = 40, 32, 8


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` runs in the workspace; the answer must contain ``fragment``.

    ``known_bug`` describes a way the tool still falls short on this input (the test expects it to
    fail until it is fixed, and the page says so).
    """

    id: str
    wrong: str
    argv: tuple[str, ...]
    exit_code: int
    fragment: str
    known_bug: str = ""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the CLI did: exit code, the ``Error: ...`` line, all of stderr, and files it added or removed."""

    case: Case
    exit_code: int
    answer: str
    stderr: str
    changed_files: tuple[str, ...]


def _c(id: str, wrong: str, argv: str, exit_code: int, fragment: str, known_bug: str = "") -> Case:
    return Case(id, wrong, tuple(argv.split()), exit_code, fragment, known_bug)


CASES: tuple[Case, ...] = (
    # missing and unreadable paths
    _c("missing-suspect", "suspect path does not exist", "compare base.fp suspect-missing.fp", 1, "does not exist"),
    _c("missing-model", "model directory does not exist", "fingerprint no-such-model -o out.fp", 1, "does not exist"),
    _c("model-is-file", "a file where a model directory is expected", "fingerprint notes.txt -o out.fp", 1, "is a file, not a model directory"),
    _c("missing-like", "--like file does not exist", "fingerprint not-a-model -o out.fp --like missing.fp", 1, "does not exist"),
    _c("missing-bundle", "bundle to verify does not exist", "verify missing.json", 1, "does not exist"),
    _c("missing-zoo", "zoo directory does not exist", "zoo eval no-such-zoo --out results", 1, "does not exist"),
    _c("path-too-long", "a path longer than the file system allows", "compare base.fp " + "x" * 300, 1, "File name too long"),
    Case("newline-in-path", "a path with a line break in it", ("compare", "base.fp", "no\nsuch.fp"), 1, "no\\nsuch.fp"),
    _c("missing-zoo-config", "zoo config file does not exist", "zoo build --config missing-zoo.json --out zoo", 1, "does not exist"),
    # files that are not fingerprints
    _c("text-as-fingerprint", "a text file given as fingerprint", "compare notes.txt base.fp", 1, "is not a seedprints fingerprint"),
    _c("random-bytes", "random bytes given as fingerprint", "compare base.fp random.fp", 1, "is not a seedprints fingerprint"),
    _c("plain-safetensors", "a safetensors file without seedprints metadata", "compare base.fp plain.safetensors", 1, "no seedprints metadata"),
    _c("truncated", "fingerprint cut short (last 100 bytes missing)", "compare base.fp truncated.fp", 1, "truncated or padded"),
    _c("padded", "fingerprint with bytes appended", "compare base.fp padded.fp", 1, "truncated or padded"),
    _c("bad-header-json", "header bytes are not JSON", "compare base.fp bad-header.fp", 1, "header is not JSON"),
    _c("header-too-long", "header length field claims more than the file holds", "compare base.fp long-header.fp", 1, "bad header length"),
    _c("newer-format", "fingerprint of a newer format version", "compare base.fp newer.fp", 1, "upgrade seedprints"),
    _c("huge-claim", "header claims 10^12 rows", "compare base.fp huge.fp", 1, "beyond the limits"),
    _c("altered-spec", "probe spec edited (hash no longer matches)", "compare base.fp altered-spec.fp", 1, "probe hash does not match"),
    _c("like-not-fingerprint", "--like names a text file", "fingerprint not-a-model -o out.fp --like notes.txt", 1, "is not a seedprints fingerprint"),
    # pairs that cannot be compared
    _c("other-probes", "fingerprints made with different probes", "compare base.fp other-probes.fp", 1, "different probes"),
    _c("other-width", "hidden sizes differ", "compare base.fp narrow.fp", 1, "hidden sizes differ"),
    _c("nan-hidden", "NaN in the suspect's hidden states", "compare base.fp nan.fp", 1, "NaN/Inf"),
    _c("paper-width", "paper mode on different widths", "compare base.fp narrow.fp --method paper", 1, "hidden sizes differ"),
    # bad option values (usage errors)
    _c("alpha-range", "--alpha outside (0, 1)", "compare base.fp suspect.fp --alpha 2", 2, "must be between 0 and 1"),
    _c("alpha-text", "--alpha not a number", "compare base.fp suspect.fp --alpha lots", 2, "should be a valid number"),
    _c("n-zero", "--n 0", "fingerprint not-a-model -o out.fp --n 0", 2, "must be a positive integer"),
    _c("n-text", "--n not an integer", "fingerprint not-a-model -o out.fp --n many", 2, "should be a valid integer"),
    _c("length-negative", "--length negative", "fingerprint not-a-model -o out.fp --length -5", 2, "must be a positive integer"),
    _c("unknown-method", "--method not a known test", "compare base.fp suspect.fp --method magic", 2, "'magic' is not one of"),
    _c("paper-flag", "a paper-mode flag without --method paper", "compare base.fp suspect.fp --buffer-k 4", 2, "only apply to --method paper"),
    _c("buffer-k-zero", "--buffer-k 0", "compare base.fp suspect.fp --method paper --buffer-k 0", 2, "must be a positive integer"),
    _c("unknown-option", "an option no verb has", "compare base.fp suspect.fp --colour red", 2, "No such option"),
    _c("unknown-verb", "a verb seedprints does not have", "frobnicate base.fp", 2, "No such command"),
    _c("missing-argument", "compare with one side only", "compare base.fp", 2, "Missing argument"),
    # outputs that cannot be written
    _c("output-folder-missing", "-o into a folder that does not exist", "fingerprint not-a-model -o no-folder/out.fp", 1, "does not exist; create it first"),
    _c("output-under-file", "-o under a regular file", "fingerprint not-a-model -o notes.txt/out.fp", 1, "does not exist; create it first"),
    _c("output-is-dir", "-o names an existing directory", "fingerprint not-a-model -o existing-dir", 1, "is a directory"),
    _c("bundle-folder-missing", "--bundle into a folder that does not exist", "compare base.fp suspect.fp --bundle no-folder/ev.json", 1, "does not exist; create it first"),
    # directories that are not models
    _c("not-a-model", "directory without config.json", "fingerprint not-a-model -o out.fp", 1, "not a Hugging Face model directory"),
    _c("broken-config", "config.json is not JSON", "fingerprint broken-config -o out.fp", 1, "config.json"),
    _c("pickled-weights", "only pickled weights, no --allow-pickle", "fingerprint pickled-model -o out.fp", 1, "pass --allow-pickle"),
    _c("pickled-weights-registry", "register a model with only pickled weights", "registry add pickled-model --registry new.db",
       1, "pass --allow-pickle"),
    _c("pickled-weights-matrix", "a matrix input with only pickled weights", "matrix base.fp pickled-model --out report", 1,
       "pass --allow-pickle"),
    _c("compare-not-models", "two directories that are not models", "compare not-a-model existing-dir", 1, "not a Hugging Face model directory"),
    # evidence bundles
    _c("bundle-not-json", "a text file given as bundle", "verify notes.txt", 1, "not an evidence bundle"),
    _c("bundle-edited", "a bundle edited after sealing", "verify edited.json", 1, "seal does not match"),
    _c("bundle-forged", "a result changed and re-sealed", "verify forged.json", 1, "does not recompute"),
    _c("bundle-family-forged", "an identify bundle's Holm-adjusted p changed and re-sealed", "verify id-forged.json", 1,
       "Holm-adjusted log10 p"),
    _c("bundle-fp-altered", "an embedded fingerprint altered and re-sealed", "verify altered-fp.json", 1, "does not match its SHA-256"),
    # signing keys and signed bundles
    _c("sign-without-bundle", "--sign without --bundle", "compare base.fp suspect.fp --sign lab.key", 2, "add --bundle FILE"),
    _c("sign-key-missing", "--sign names a key file that does not exist", "compare base.fp suspect.fp --bundle ev.json "
       "--sign missing.key", 1, "does not exist"),
    _c("sign-key-text", "--sign names a text file", "compare base.fp suspect.fp --bundle ev.json --sign notes.txt", 1,
       "is not a PEM private key"),
    _c("sign-with-public-key", "--sign names the public key", "compare base.fp suspect.fp --bundle ev.json "
       "--sign lab.key.pub", 1, "it is a public key"),
    _c("verify-unsigned-with-key", "--public-key on a bundle nobody signed", "verify evidence.json --public-key lab.key.pub",
       1, "is not signed"),
    _c("verify-other-signer", "a bundle signed by another key than --public-key",
       "verify signed.json --public-key other.key.pub", 1, "not by the given key"),
    _c("verify-edited-after-signing", "a signed bundle edited and re-sealed (not re-signed)", "verify signed-edited.json", 1,
       "does not match the contents"),
    _c("keygen-existing", "keygen onto an existing key pair", "keygen lab.key", 1, "already exist"),
    # zoo
    _c("zoo-config-unknown-key", "zoo config with an unknown key", "zoo build --config bad-zoo.json --out zoo", 1, "unknown keys"),
    _c("zoo-eval-file", "zoo eval on a file", "zoo eval notes.txt --out results", 1, "does not exist"),
    # registry
    _c("registry-missing", "--registry names a file that does not exist", "registry show base --registry missing.db", 1, "does not exist"),
    _c("registry-missing-entry", "show an entry that is not there", "registry show nobody --registry reg.db", 1, "no entry named"),
    _c("registry-duplicate", "add under a name already taken", "registry add suspect.fp --name base --registry reg.db", 1, "base"),
    _c("registry-not-sqlite", "--registry names a text file", "registry list --registry notes.txt", 1, "notes.txt"),
    _c("registry-add-not-model", "add a directory that is not a model to a new registry",
       "registry add not-a-model --name x --registry new.db", 1, "not a Hugging Face model directory"),
    _c("registry-add-text", "add a text file as fingerprint", "registry add notes.txt --name x --registry reg.db", 1, "not a seedprints fingerprint"),
    # identify
    _c("identify-missing-registry", "identify against a registry that does not exist", "identify suspect.fp --registry missing.db",
       1, "does not exist"),
    _c("identify-no-matching-spec", "the suspect's probes match no registry entry", "identify other-probes.fp --registry reg.db",
       1, "matches no entry"),
    _c("identify-no-width", "no registry entry has the suspect's hidden size", "identify narrow.fp --registry reg.db", 1,
       "hidden size"),
    _c("identify-budget-too-small", "--budget below the test's minimum number of probes",
       "identify suspect.fp --registry reg.db --budget 5", 1, "too small"),
    _c("identify-early-stop-tiny-budget", "--early-stop with a budget below the first look",
       "identify suspect.fp --registry reg.db --budget 22 --early-stop", 1, "first look"),
    _c("identify-top-zero", "--top 0", "identify suspect.fp --registry reg.db --top 0", 2, "positive"),
    _c("identify-report-busy", "--report names a folder that holds other files", "identify suspect.fp --registry reg.db "
       "--report not-a-model", 1, "not-a-model"),
)


# ----------------------------------------------------------------------------------------------------------------------
# Workspace of bad inputs


def build_workspace(folder: Path) -> Path:
    """Write every file the cases name into ``folder`` (small fingerprints made from random numbers, no model)."""
    from seedprints import bundle as bd
    from seedprints.fingerprint import Fingerprint, to_bytes
    from seedprints.probes import ProbeSpec

    folder = Path(folder)
    rng = np.random.default_rng(0)
    spec = ProbeSpec(kind="token", n=N, length=8, vocab_bound=100, input_tokens=tuple(range(0, 32, 2)),
                     output_tokens=tuple(range(1, 2 * M, 2)))
    meta = {"created_at": "2026-01-01T00:00:00+00:00", "seedprints_version": "0.0.0", "dtype": "float32"}

    def fp(name: str, hidden: np.ndarray, probe_spec: ProbeSpec = spec, logits: np.ndarray | None = None) -> Fingerprint:
        rows = probe_spec.n
        out = Fingerprint(hidden.astype(np.float32), probe_spec, name, dict(meta),
                          logits=(logits if logits is not None else rng.standard_normal((rows, M))).astype(np.float32)
                          if probe_spec.output_tokens else None)
        out.save(folder / f"{name}.fp")
        return out

    base = fp("base", rng.standard_normal((N, D)))
    fp("suspect", base.hidden + rng.standard_normal((N, D)))
    fp("narrow", rng.standard_normal((N, D // 2)))
    nan = rng.standard_normal((N, D))
    nan[3, 5] = np.nan
    fp("nan", nan)
    fp("other-probes", rng.standard_normal((N, D)), dataclasses.replace(spec, seed=7))
    raw = to_bytes(base)
    (folder / "truncated.fp").write_bytes(raw[:-100])
    (folder / "padded.fp").write_bytes(raw + b"\0" * 16)
    (folder / "random.fp").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (folder / "bad-header.fp").write_bytes(struct.pack("<Q", 16) + b"not json at all!" + b"\0" * 64)
    (folder / "long-header.fp").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    (folder / "plain.safetensors").write_bytes(_framed({"x": {"dtype": "F32", "shape": [1, 1], "data_offsets": [0, 4]}}, b"\0" * 4))
    _rewrite(folder / "newer.fp", raw, lambda h: h["__metadata__"].update(seedprints_format="2"))
    _rewrite(folder / "huge.fp", raw, lambda h: h["hidden"].update(shape=[10**12, D], data_offsets=[0, 10**12 * D * 4]))
    _rewrite(folder / "altered-spec.fp", raw, lambda h: h["__metadata__"].update(
        probe_spec=h["__metadata__"]["probe_spec"].replace('"seed":42', '"seed":43')))
    (folder / "notes.txt").write_text("shopping list: eggs, flour\n")
    for name in ("existing-dir", "not-a-model", "broken-config", "pickled-model"):
        (folder / name).mkdir()
    (folder / "not-a-model" / "README.md").write_text("no model here\n")
    (folder / "broken-config" / "config.json").write_text("{not json")
    (folder / "pickled-model" / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": D}))
    (folder / "pickled-model" / "pytorch_model.bin").write_bytes(b"\x80\x04pickled weights stand-in")
    (folder / "bad-zoo.json").write_text(json.dumps({"name": "x", "colour": "red"}))
    _bundles(folder, bd)
    from seedprints.registry import Registry

    with Registry.open(folder / "reg.db") as reg:
        reg.add(base, name="base")
    _identify_bundle(folder, bd)
    _signed_bundles(folder, bd)
    return folder


def _framed(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _rewrite(path: Path, raw: bytes, change) -> None:  # noqa: ANN001
    """Copy a fingerprint's bytes with its header JSON changed (tensor bytes kept)."""
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    change(header)
    path.write_bytes(_framed(header, raw[8 + length :]))


def _bundles(folder: Path, bd) -> None:  # noqa: ANN001
    """A sealed bundle of base vs suspect, and three spoilt copies of it."""
    import base64
    import hashlib

    from seedprints import api

    ref, sus = api.load_fingerprint(folder / "base.fp"), api.load_fingerprint(folder / "suspect.fp")
    result = api.compare(ref, sus)
    good = folder / "evidence.json"
    bd.write_bundle(good, fingerprints={"reference": bd.embed_file(folder / "base.fp"), "suspect": bd.embed_file(folder / "suspect.fp")},
                    tests=[bd.Comparison("reference", "suspect", result)], command="seedprints compare base.fp suspect.fp")
    original = json.loads(good.read_text())

    def spoil(name: str, change, reseal: bool) -> None:  # noqa: ANN001
        data = json.loads(json.dumps(original))
        change(data)
        if reseal:
            data["seal"]["digest"] = bd.seal(data)
        (folder / name).write_text(json.dumps(data))

    def alter_fp(data: dict) -> None:
        entry = data["fingerprints"]["suspect"]
        raw = bytearray(base64.b64decode(entry["data_base64"]))
        raw[-1] ^= 1
        entry["data_base64"] = base64.b64encode(bytes(raw)).decode()
        assert hashlib.sha256(bytes(raw)).hexdigest() != entry["sha256"]

    spoil("edited.json", lambda d: d["tests"][0]["result"].update(verdict="independent"), reseal=False)
    spoil("forged.json", lambda d: d["tests"][0]["result"].update(verdict="independent"), reseal=True)
    spoil("altered-fp.json", alter_fp, reseal=True)


def _identify_bundle(folder: Path, bd) -> None:  # noqa: ANN001
    """An identify bundle written by the CLI, and a copy whose Holm-adjusted p-value was changed and re-sealed."""
    code, stderr, _ = run_in(folder, ["identify", "suspect.fp", "--registry", "reg.db", "--bundle", "id-evidence.json", "--json"])
    if code != 0:
        raise RuntimeError(f"could not write the identify bundle of the bad-input workspace: {stderr}")
    data = json.loads((folder / "id-evidence.json").read_text())
    data["identification"]["candidates"][0]["log10_p_holm"] -= 1.0
    data["seal"]["digest"] = bd.seal(data)
    (folder / "id-forged.json").write_text(json.dumps(data))


def _signed_bundles(folder: Path, bd) -> None:  # noqa: ANN001
    """Two fixed key pairs (lab, other), the good bundle signed by lab, and a copy edited and re-sealed after signing."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from seedprints import signing

    keys = {}
    for name, byte in (("lab", 1), ("other", 2)):  # fixed keys, so the page's answers (key ids) do not change
        keys[name] = Ed25519PrivateKey.from_private_bytes(bytes([byte]) * 32)
        (folder / f"{name}.key").write_bytes(keys[name].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (folder / f"{name}.key.pub").write_bytes(keys[name].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    data = json.loads((folder / "evidence.json").read_text())
    data["signature"] = signing.sign(bd.canonical_json(data), keys["lab"])
    (folder / "signed.json").write_text(json.dumps(data))
    data["command"] = "seedprints compare other.fp suspect.fp"
    data["seal"]["digest"] = bd.seal(data)
    (folder / "signed-edited.json").write_text(json.dumps(data))


# ----------------------------------------------------------------------------------------------------------------------
# Running the cases and writing the page


def run_case(case: Case, workspace: Path) -> Outcome:
    """Run one case through ``seedprints.cli.main`` inside ``workspace`` and record what it did."""
    code, stderr, changed_files = run_in(workspace, list(case.argv))
    errors = [line for line in stderr.splitlines() if line.startswith("Error")]
    return Outcome(case, code, errors[0] if errors else "", stderr, changed_files)


def run_in(workspace: Path, argv: list[str]) -> tuple[int, str, tuple[str, ...]]:
    """Run the CLI in-process with ``workspace`` as working folder: exit code, stderr, files added or removed."""
    from seedprints.cli import main

    before = _listing(workspace)
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(workspace)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(cwd)
    return code, err.getvalue(), tuple(sorted(_listing(workspace) ^ before))


def run_all(workspace: Path) -> list[Outcome]:
    """Build the workspace and run every case in it."""
    build_workspace(workspace)
    return [run_case(case, workspace) for case in CASES]


def render(outcomes: list[Outcome]) -> str:
    """The markdown page: one row per case with the answer the CLI actually gave."""
    lines = [
        DOC_TITLE,
        "",
        "Generated by `python -m seedprints.devtools.bad_inputs --out docs/bad-inputs.md` (`make docs-bad-inputs`) from",
        "the cases in `src/seedprints/devtools/bad_inputs.py`; `tests/test_bad_inputs.py` runs the same cases and checks",
        "that this page is current. Paths are relative to a workspace of ready-made bad files. Exit code 1 is an",
        "error, 2 a usage error; every answer is one line on stderr, with no traceback and no file left behind.",
        "",
        "| id | what is wrong | command | exit | answer |",
        "|---|---|---|---|---|",
    ]
    for o in outcomes:
        command = "seedprints " + " ".join(_shortened(arg) for arg in o.case.argv)
        bug = f" **Known bug:** {o.case.known_bug}." if o.case.known_bug else ""
        lines.append(f"| {o.case.id} | {o.case.wrong} | `{command}` | {o.exit_code} | {_cell(o.answer)}{bug} |")
    return "\n".join(lines) + "\n"


def _shortened(arg: str) -> str:
    """An argument as the table shows it: line breaks as ``\\n``, a very long one as its start and length."""
    arg = arg.replace("\n", "\\n")
    return arg if len(arg) <= 60 else f"{arg[:12]}...({len(arg)} characters)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def main(argv: list[str] | None = None) -> int:
    """Run every case in a temporary workspace and write the page."""
    parser = argparse.ArgumentParser(description="Run every bad-input case and write the docs page of answers.")
    parser.add_argument("--out", type=Path, default=Path("docs/bad-inputs.md"), help="page to write")
    args = parser.parse_args(argv)
    from seedprints.fingerprint import write_atomic

    with tempfile.TemporaryDirectory(prefix="seedprints-bad-inputs-") as tmp:
        page = render(run_all(Path(tmp)))
    write_atomic(args.out, page.encode())
    print(f"wrote {args.out} ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
