"""Every bad input we try, run through the real CLI, and the page that lists what the tool answers.

``CASES`` is the single table: each case names what is wrong, the command line (paths relative to a
workspace of ready-made bad inputs, see :func:`build_workspace`), the exit code and a fragment of the
one-line answer it must give. ``tests/test_bad_inputs.py`` runs every case; this module's command
writes the same outcomes to ``docs/bad-inputs.md``::

    python -m tests.bad_inputs --out docs/bad-inputs.md      # or: make docs-bad-inputs

Adding a case is one line in ``CASES`` (plus one line in ``build_workspace`` if it needs a new file).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import shlex
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
    _c("mistyped-fingerprint", "a mistyped fingerprint file name beside a model directory",
       "compare typo.fp.safetensors not-a-model", 1, "fingerprint file typo.fp.safetensors does not exist"),
    _c("missing-gguf", "a GGUF file that does not exist", "fingerprint no-such.gguf -o out.fp", 1, "GGUF file no-such.gguf does not exist"),
    _c("model-is-file", "a file where a model directory is expected", "fingerprint notes.txt -o out.fp", 1, "is a file, not a model directory"),
    _c("missing-like", "--like file does not exist", "fingerprint not-a-model -o out.fp --like missing.fp", 1, "does not exist"),
    _c("missing-bundle", "bundle to verify does not exist", "verify missing.json", 1, "does not exist"),
    _c("missing-zoo", "zoo directory does not exist", "zoo eval no-such-zoo --out results", 1, "does not exist"),
    _c("audit-missing-model", "audit of a model directory that does not exist", "audit no-such-model", 1, "does not exist"),
    _c("audit-not-a-model", "audit of a folder that is not a model", "audit not-a-model", 1, "not a Hugging Face model directory"),
    _c("path-too-long", "a path longer than the file system allows", "compare base.fp " + "x" * 300, 1, "File name too long"),
    Case("newline-in-path", "a path with a line break in it", ("compare", "base.fp", "no\nsuch.fp"), 1, "no\\nsuch.fp"),
    _c("demo-out-file", "demo --out names a file", "demo --out notes.txt", 1, "is a file"),
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
    _c("sketch-gap", "a weight sketch with a layer missing", "compare sketched.fp sketch-gap.fp", 1,
       "weight sketch is incomplete or inconsistent"),
    _c("sketch-no-head-dim", "a weight sketch without its head width", "compare sketched.fp sketch-no-head-dim.fp", 1,
       "needs weights.embedding and weights_head_dim"),
    _c("sketch-foreign", "a tensor under weights. that no sketch has", "compare sketched.fp sketch-foreign.fp", 1,
       "and a weight sketch"),
    # pairs that cannot be compared
    _c("other-probes", "fingerprints made with different probes", "compare base.fp other-probes.fp", 1, "different probes"),
    _c("legacy-probes", "a fingerprint made with the rare-token probes of seedprints before 0.2", "compare legacy.fp base.fp",
       1, "fingerprint both models again with the defaults"),
    _c("other-width", "hidden sizes differ", "compare base.fp narrow.fp", 1, "hidden sizes differ"),
    _c("nan-hidden", "NaN in the suspect's hidden states", "compare base.fp nan.fp", 1, "NaN/Inf"),
    _c("paper-width", "paper mode on different widths", "compare base.fp narrow.fp --method paper", 1, "hidden sizes differ"),
    # pipes, devices, and outputs that would destroy an input
    _c("input-is-pipe", "a FIFO given as a fingerprint", "compare base.fp pipe.fp", 1, "not a regular file"),
    _c("verify-pipe", "a FIFO given as a bundle", "verify pipe.fp", 1, "not a regular file"),
    _c("output-is-pipe", "--bundle names a FIFO", "compare base.fp suspect.fp --bundle pipe.fp", 1, "not a regular file"),
    _c("output-is-input", "--bundle names one of the inputs", "compare base.fp suspect.fp --bundle suspect.fp", 1,
       "is the input suspect.fp itself"),
    _c("bundle-onto-registry", "identify's --bundle names the registry", "identify suspect.fp --registry reg.db "
       "--bundle reg.db", 1, "is the input reg.db itself"),
    _c("output-is-like", "-o names the --like file", "fingerprint not-a-model -o base.fp --like base.fp", 1,
       "is the input base.fp itself"),
    _c("output-inside-model", "-o inside the model directory being fingerprinted",
       "fingerprint not-a-model -o not-a-model/model.safetensors", 1, "is inside the input folder"),
    _c("extend-not-a-file", "--extend names a folder", "fingerprint not-a-model --extend existing-dir", 1,
       "is not an existing fingerprint file"),
    _c("matrix-link-duplicate", "the same fingerprint twice, once through a link", "matrix base.fp base-link.fp --out m",
       1, "is given more than once"),
    _c("force-foreign-report", "--force on a folder holding more than a report", "compare base.fp suspect.fp "
       "--report old-report --force", 1, "holds something other than a seedprints report"),
    # bad option values (usage errors)
    _c("ignored-probe-options", "probe and device options with two fingerprint files", "compare base.fp suspect.fp "
       "--length 999 --device cuda", 2, "would be ignored"),
    _c("matrix-ignored-options", "probe and device options on a matrix of fingerprint files",
       "matrix base.fp suspect.fp --out m --n 50 --device cuda", 2, "would be ignored"),
    _c("identify-ignored-options", "model options with a fingerprint-file suspect", "identify suspect.fp --registry reg.db "
       "--batch-size 7", 2, "would be ignored"),
    _c("like-with-probe-options", "probe options that the --like file overrides", "fingerprint not-a-model -o x.fp "
       "--like base.fp --length 8", 2, "the probes come from the --like file"),
    _c("probe-seed-negative", "--probe-seed -1", "fingerprint not-a-model -o out.fp --probe-seed -1", 2,
       "must be 0 or a positive integer"),
    _c("n-too-large", "--n beyond what a fingerprint file holds", "fingerprint not-a-model -o out.fp --n 1000000000", 2,
       "at most 10000000 probes"),
    Case("keygen-empty-name", "keygen given an empty name", ("keygen", ""), 2, "names no file"),
    _c("alpha-range", "--alpha outside (0, 1)", "compare base.fp suspect.fp --alpha 2", 2, "must be between 0 and 1"),
    _c("alpha-text", "--alpha not a number", "compare base.fp suspect.fp --alpha lots", 2, "is not a valid float"),
    _c("n-zero", "--n 0", "fingerprint not-a-model -o out.fp --n 0", 2, "must be a positive integer"),
    _c("n-text", "--n not an integer", "fingerprint not-a-model -o out.fp --n many", 2, "is not a valid int"),
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
    _c("bundle-under-file", "--bundle under a regular file", "compare base.fp suspect.fp --bundle notes.txt/ev.json", 1, "is a file, not a folder"),
    _c("output-exists", "-o names an existing file, without --force", "fingerprint not-a-model -o base.fp", 1, "pass --force to replace it"),
    _c("bundle-exists", "--bundle names an existing file, without --force", "compare base.fp suspect.fp --bundle notes.txt", 1,
       "pass --force to replace it"),
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
    _c("bundle-md5-seal", "a bundle whose seal names another algorithm", "verify md5-seal.json", 1, "is sealed with 'md5'"),
    _c("bundle-control-name", "a fingerprint name with a line break (could print fake lines)", "verify control-name.json",
       1, "control characters"),
    _c("bundle-huge-settings", "n_permutations = 10^9 in a bundle's settings", "verify huge-permutations.json", 1,
       "expected an integer in 0..100000"),
    _c("bundle-long-integer", "a 5000-digit integer in a bundle", "verify long-integer.json", 1, "integer too long"),
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
    # registry files, archives and init-seed configs
    _c("registry-export-self", "export over the registry itself", "registry export reg.db --registry reg.db", 1,
       "the registry's own file"),
    _c("registry-export-wal", "export over the registry's write-ahead log", "registry export reg.db-wal --registry reg.db",
       1, "the registry's own file"),
    _c("registry-export-dir", "export into a folder", "registry export existing-dir --registry reg.db", 1,
       "existing-dir/registry.tar"),
    _c("registry-export-pipe", "export into a FIFO", "registry export pipe.fp --registry reg.db", 1, "not a regular file"),
    _c("registry-device", "--registry names a device", "registry list --registry /dev/null", 1, "not a regular file"),
    _c("registry-pipe", "--registry names a FIFO", "registry list --registry pipe.fp", 1, "not a regular file"),
    _c("registry-folder-missing", "a new registry in a folder that does not exist",
       "registry add base.fp --name x --registry no-folder/x.db", 1, "does not exist; create it first"),
    _c("registry-import-pipe", "import from a FIFO", "registry import pipe.fp --registry new.db", 1, "not a regular file"),
    _c("registry-import-long-integer", "an archive manifest with a 5000-digit number",
       "registry import bigint.tar --registry new.db", 1, "integer too long"),
    _c("registry-import-deep", "an archive manifest nested 100,000 deep", "registry import deep.tar --registry new.db", 1,
       "nests too deeply"),
    _c("registry-import-newline", "an archived source path holding a newline", "registry import src-nl.tar "
       "--registry new.db", 1, "control characters"),
    _c("seeds-config-pipe", "seeds register --config names a FIFO", "seeds register --config pipe.fp --seeds 0 "
       "--registry new.db", 1, "not a regular file"),
    _c("seeds-config-deep", "a seeds config nested 100,000 deep", "seeds register --config deepcfg.json --seeds 0 "
       "--registry new.db", 1, "nests too deeply"),
    _c("seeds-hidden-text", "hidden_size given as text", "seeds register --config cfg-hs-str.json --seeds 0 "
       "--registry new.db", 1, "hidden_size must be an integer"),
    _c("seeds-heads-3", "a width of 32 split into 3 heads", "seeds register --config cfg-heads-3.json --seeds 0 "
       "--registry new.db", 1, "correct the config"),
    _c("seeds-dtype-bad", "dtype float99", "seeds register --config cfg-dtype-bad.json --seeds 0 --registry new.db", 1,
       "not a torch dtype"),
    _c("seeds-vocab-huge", "vocab_size 10^12 (more memory than the machine has)", "seeds register --config "
       "cfg-vocab-huge.json --seeds 0 --registry new.db", 1, "more than this machine's"),
    _c("seeds-vocab-negative", "vocab_size -5", "seeds register --config cfg-vocab-neg.json --seeds 0 --registry new.db",
       1, "vocab_size must be an integer of at least 2"),
    Case("seeds-huge-seed", "a 5000-digit seed", ("seeds", "register", "--config", "cfg-vocab-neg.json", "--seeds", "9" * 5000,
                                                  "--registry", "new.db"), 1, "too large"),
    _c("registry-add-file-n", "a probe option with a fingerprint-file source", "registry add base.fp --n 5 --registry new.db",
       2, "--n would be ignored"),
    _c("registry-add-file-device", "model options with a fingerprint-file source", "registry add base.fp --device cpu "
       "--batch-size 4 --registry new.db", 2, "--device, --batch-size would be ignored"),
    _c("registry-add-like-n", "--like with --n", "registry add not-a-model --like base.fp --n 77 --registry new.db", 2,
       "--n would be ignored"),
    _c("registry-add-like-dir", "--like names a folder", "registry add not-a-model --like existing-dir --registry new.db", 1,
       "existing-dir is a directory"),
    _c("registry-tag-twice", "the same --tag key twice", "registry add base.fp --name x --tag a=1 --tag a=2 "
       "--registry new.db", 2, "given twice"),
    _c("registry-name-dash", "a name that starts with '-'", "registry add base.fp --name=-dash --registry new.db", 1,
       "starts with '-'"),
    _c("registry-add-pipe", "registry add of a FIFO", "registry add pipe.fp --registry new.db", 1, "not a regular file"),
    _c("seeds-like-n", "seeds register --like with --n", "seeds register --config index-junk --seeds 0 --like base.fp "
       "--n 77 --registry new.db", 2, "--n would be ignored"),
    _c("seeds-tag-twice", "the same --tag key twice", "seeds register --config index-junk --seeds 0 --tag lab=a --tag lab=b "
       "--registry new.db", 2, "given twice"),
    _c("seeds-reserved-tag", "a tag seeds register sets itself", "seeds register --config index-junk --seeds 0 --tag seed=1 "
       "--registry new.db", 1, "are set by seeds register itself"),
    # model folders with impossible configs
    _c("adapter-no-weights", "a PEFT adapter without its weights (once made a network request)",
       "fingerprint ns/adapter -o out.fp", 1, "no adapter_model.safetensors"),
    _c("index-junk", "a shard index that is not JSON", "fingerprint index-junk -o out.fp", 1, "not valid JSON"),
    _c("config-zero-width", "hidden_size 0", "fingerprint zero-width -o out.fp", 1, "hidden_size"),
    _c("config-model-type-list", "model_type given as a list", "fingerprint mt-list -o out.fp", 1, "must be a string"),
    _c("config-width-text", "hidden_size given as text", "fingerprint hs-text -o out.fp", 1, "'abc'"),
    _c("config-bad-dtype", "dtype float99", "fingerprint bad-dtype -o out.fp", 1, "not a torch dtype"),
    # zoo
    _c("zoo-eval-empty", "a zoo folder with no model in it", "zoo eval empty-zoo --out results", 1, "no model"),
    _c("zoo-eval-bad-manifest", "a manifest field of the wrong type", "zoo eval bad-manifest-zoo --out results", 1,
       "lineages must be a list of strings"),
    _c("zoo-identify-bad-manifest", "the same, for zoo identify", "zoo identify bad-manifest-zoo --out results", 1,
       "lineages must be a list of strings"),
    _c("zoo-seeds-bad-manifest", "the same, for zoo seeds", "zoo seeds bad-manifest-zoo --out results", 1,
       "lineages must be a list of strings"),
    _c("zoo-eval-junk-manifest", "a manifest that is not JSON", "zoo eval junk-manifest-zoo --out results", 1, "not JSON"),
    _c("zoo-eval-nothing-evaluated", "every model of the zoo fails to load", "zoo eval broken-zoo --out results", 1,
       "could be evaluated"),
    _c("zoo-config-pipe", "zoo build --config names a FIFO", "zoo build --config pipe.fp --out zoo", 1, "not a regular file"),
    _c("zoo-eval-readme-pipe", "--update-readme names a FIFO", "zoo eval empty-zoo --out results --update-readme pipe.fp", 1,
       "not a regular file"),
    _c("zoo-eval-out-file", "zoo eval --out names a file", "zoo eval empty-zoo --out notes.txt", 1, "not a folder"),
    _c("zoo-config-checkpoints-int", "checkpoints: 5", "zoo build --config zc-checkpoints-int.json --out zoo", 1,
       "checkpoints must be a list"),
    _c("zoo-config-edits-int", "edits: 5", "zoo build --config zc-edits-int.json --out zoo", 1, "edits must be a list"),
    _c("zoo-config-blend-int", "blend: 5", "zoo build --config zc-blend-int.json --out zoo", 1, "blend must be a list"),
    _c("zoo-config-students-int", "distill.student_seeds: 9", "zoo build --config zc-students-int.json --out zoo", 1,
       "student_seeds must be a list"),
    _c("zoo-config-steps-text", "pretrain.steps: \"many\"", "zoo build --config zc-steps-str.json --out zoo", 1,
       "steps must be an integer"),
    _c("zoo-config-temperature-text", "distill.temperature: \"hot\"", "zoo build --config zc-temperature-str.json "
       "--out zoo", 1, "temperature must be a finite number"),
    _c("zoo-config-hidden-text", "arch.hidden_size: \"abc\"", "zoo build --config zc-hidden-str.json --out zoo", 1,
       "hidden_size must be an integer"),
    _c("zoo-config-long-integer", "a 5000-digit number in a zoo config", "zoo build --config zc-bigint.json --out zoo", 1,
       "integer too long"),
    _c("zoo-config-deep", "a zoo config nested 100,000 deep", "zoo build --config zc-deep.json --out zoo", 1,
       "nests too deeply"),
    _c("zoo-config-unknown-key", "zoo config with an unknown key", "zoo build --config bad-zoo.json --out zoo", 1, "unknown keys"),
    _c("zoo-eval-file", "zoo eval on a file", "zoo eval notes.txt --out results", 1, "is a file, not a zoo directory"),
    # registry
    _c("registry-missing", "--registry names a file that does not exist", "registry show base --registry missing.db", 1, "does not exist"),
    _c("registry-missing-entry", "show an entry that is not there", "registry show nobody --registry reg.db", 1, "no entry named"),
    _c("registry-duplicate", "add under a name already taken", "registry add suspect.fp --name base --registry reg.db", 1, "base"),
    _c("registry-not-sqlite", "--registry names a text file", "registry list --registry notes.txt", 1, "notes.txt"),
    _c("registry-add-not-model", "add a directory that is not a model to a new registry",
       "registry add not-a-model --name x --registry new.db", 1, "not a Hugging Face model directory"),
    _c("registry-add-text", "add a text file as fingerprint", "registry add notes.txt --name x --registry reg.db", 1, "not a seedprints fingerprint"),
    _c("registry-add-damaged", "add into a registry file with 4 KB of random bytes in its middle",
       "registry add suspect.fp --name x --registry damaged.db", 1, "is damaged"),
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
    from seedprints.bundle import layout as bl, write as bw
    from seedprints.fingerprint import Fingerprint, to_bytes
    from seedprints.probes import ProbeSpec

    folder = Path(folder)
    rng = np.random.default_rng(0)
    spec = ProbeSpec(kind="token", n=N, length=8, vocab_bound=100, input_tokens=tuple(range(0, 32, 2)),
                     output_tokens=tuple(range(1, 2 * M, 2)), untrained_from=1)
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
    fp("legacy", rng.standard_normal((N, D)), dataclasses.replace(spec, untrained_from=None))
    _sketched(folder, base, rng)
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
    _bundles(folder, bl, bw)
    os.mkfifo(folder / "pipe.fp")
    (folder / "base-link.fp").symlink_to("base.fp")
    (folder / "old-report").mkdir()
    (folder / "old-report" / "results.json").write_text("{}\n")
    (folder / "old-report" / "my-notes.txt").write_text("not part of any report\n")
    from seedprints import Registry  # as users and the CLI open one: with the search index

    with Registry.open(folder / "reg.db") as reg:
        reg.add(base, name="base")
    damaged = bytearray((folder / "reg.db").read_bytes())  # 4 KB of junk in the middle: SQLite finds a bad page
    damaged[len(damaged) // 2:len(damaged) // 2 + 4096] = np.random.default_rng(1).bytes(4096)
    (folder / "damaged.db").write_bytes(bytes(damaged))
    _identify_bundle(folder, bl)
    _signed_bundles(folder, bl)
    _archives(folder)
    _configs(folder)
    _zoos(folder)
    return folder


def _sketched(folder: Path, base, rng: np.random.Generator) -> None:  # noqa: ANN001
    """``base`` with a weight sketch, and three spoilt copies: a layer missing, no head width, a foreign tensor."""
    from seedprints.fingerprint import to_bytes
    from seedprints.stats.units import WeightSketch

    blocks = tuple(rng.standard_normal((4, 3 * D)).astype(np.float32) for _ in range(2))
    sketch = WeightSketch(rng.standard_normal((2 * D, D)).astype(np.float32), blocks, (), 8)
    raw = to_bytes(dataclasses.replace(base, weights=sketch))
    (folder / "sketched.fp").write_bytes(raw)
    _rewrite(folder / "sketch-gap.fp", raw, lambda h: h.update({"weights.mlp.2": h.pop("weights.mlp.1")}))
    _rewrite(folder / "sketch-no-head-dim.fp", raw, lambda h: h["__metadata__"].pop("weights_head_dim"))
    _rewrite(folder / "sketch-foreign.fp", raw, lambda h: h.update({"weights.extra": h.pop("weights.embedding")}))


def _framed(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _rewrite(path: Path, raw: bytes, change) -> None:  # noqa: ANN001
    """Copy a fingerprint's bytes with its header JSON changed (tensor bytes kept)."""
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    change(header)
    path.write_bytes(_framed(header, raw[8 + length :]))


def _bundles(folder: Path, bl, bw) -> None:  # noqa: ANN001
    """A sealed bundle of base vs suspect, and three spoilt copies of it."""
    import base64
    import hashlib

    from seedprints import api

    ref, sus = api.load_fingerprint(folder / "base.fp"), api.load_fingerprint(folder / "suspect.fp")
    result = api.compare(ref, sus)
    good = folder / "evidence.json"
    bw.write_bundle(good, fingerprints={"reference": bw.embed_file(folder / "base.fp"), "suspect": bw.embed_file(folder / "suspect.fp")},
                    tests=[bl.Comparison("reference", "suspect", result)], command="seedprints compare base.fp suspect.fp")
    original = json.loads(good.read_text())

    def spoil(name: str, change, reseal: bool) -> None:  # noqa: ANN001
        data = json.loads(json.dumps(original))
        change(data)
        if reseal:
            data["seal"]["digest"] = bl.seal(data)
        (folder / name).write_text(json.dumps(data))

    def alter_fp(data: dict) -> None:
        entry = data["fingerprints"]["suspect"]
        raw = bytearray(base64.b64decode(entry["data_base64"]))
        raw[-1] ^= 1
        entry["data_base64"] = base64.b64encode(bytes(raw)).decode()
        assert hashlib.sha256(bytes(raw)).hexdigest() != entry["sha256"]

    spoil("md5-seal.json", lambda d: d["seal"].update(algorithm="md5"), reseal=True)
    spoil("control-name.json", lambda d: d["fingerprints"].update({"ref\n  signed by key 0": d["fingerprints"]["reference"]}),
          reseal=True)
    spoil("huge-permutations.json", lambda d: d["tests"][0]["settings"].update(n_permutations=10**9), reseal=True)
    (folder / "long-integer.json").write_text('{"bundle_format": ' + "9" * 5000 + "}")
    spoil("edited.json", lambda d: d["tests"][0]["result"].update(verdict="independent"), reseal=False)
    spoil("forged.json", lambda d: d["tests"][0]["result"].update(verdict="independent"), reseal=True)
    spoil("altered-fp.json", alter_fp, reseal=True)


def _identify_bundle(folder: Path, bl) -> None:  # noqa: ANN001
    """An identify bundle written by the CLI, and a copy whose Holm-adjusted p-value was changed and re-sealed."""
    code, stderr, _ = run_in(folder, ["identify", "suspect.fp", "--registry", "reg.db", "--bundle", "id-evidence.json", "--json"])
    if code != 0:
        raise RuntimeError(f"could not write the identify bundle of the bad-input workspace: {stderr}")
    data = json.loads((folder / "id-evidence.json").read_text())
    data["identification"]["candidates"][0]["log10_p_holm"] -= 1.0
    data["seal"]["digest"] = bl.seal(data)
    (folder / "id-forged.json").write_text(json.dumps(data))


def _signed_bundles(folder: Path, bl) -> None:  # noqa: ANN001
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
    data["signature"] = signing.sign(bl.canonical_json(data), keys["lab"])
    (folder / "signed.json").write_text(json.dumps(data))
    data["command"] = "seedprints compare other.fp suspect.fp"
    data["seal"]["digest"] = bl.seal(data)
    (folder / "signed-edited.json").write_text(json.dumps(data))


def _archives(folder: Path) -> None:
    """Registry archives whose manifest holds a 5000-digit number, nests 100,000 deep, or a source path with a newline."""
    import io
    import tarfile

    from seedprints import Registry  # as users and the CLI open one: with the search index
    from seedprints.registry.archive import MANIFEST

    with Registry.open(folder / "reg.db") as reg:
        reg.export(folder / "good.tar")
    with tarfile.open(folder / "good.tar") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    manifest = json.loads(dict((m.name, data) for m, data in members)[MANIFEST])
    with_newline = json.loads(json.dumps(manifest))
    with_newline["entries"][0]["source_path"] = "a\nb"
    for name, text in (("bigint.tar", '{"version": ' + "9" * 5000 + "}"), ("deep.tar", "[" * 100_000),
                       ("src-nl.tar", json.dumps(with_newline))):
        with tarfile.open(folder / name, "w", format=tarfile.PAX_FORMAT) as tar:
            for member, data in members:
                data = text.encode() if member.name == MANIFEST else data
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
    (folder / "good.tar").unlink()


def _configs(folder: Path) -> None:
    """Tiny Llama configs with one bad field each (for seeds register), and config-only model folders."""
    tiny = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 100, "max_position_embeddings": 64}
    (folder / "deepcfg.json").write_text("[" * 100_000)
    for name, change in (("hs-str", {"hidden_size": "abc"}), ("heads-3", {"num_attention_heads": 3, "num_key_value_heads": 3}),
                         ("dtype-bad", {"dtype": "float99"}), ("vocab-huge", {"vocab_size": 10**12}),
                         ("vocab-neg", {"vocab_size": -5})):
        (folder / f"cfg-{name}.json").write_text(json.dumps({**tiny, **change}))
    for name, config in (("zero-width", {"model_type": "llama", "hidden_size": 0}), ("mt-list", {"model_type": ["llama"]}),
                         ("hs-text", {"model_type": "llama", "hidden_size": "abc"}),
                         ("bad-dtype", {"model_type": "llama", "hidden_size": 32, "dtype": "float99"})):
        (folder / name).mkdir()
        (folder / name / "config.json").write_text(json.dumps(config))
    (folder / "index-junk").mkdir()
    (folder / "index-junk" / "config.json").write_text(json.dumps(tiny))
    (folder / "index-junk" / "model.safetensors.index.json").write_text("{junk")
    adapter = folder / "ns" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": "index-junk",
                                                             "r": 2, "target_modules": ["q_proj"]}))


def _zoos(folder: Path) -> None:
    """Zoo configs with one mistyped field each, and zoos that are empty or hold a bad manifest."""
    config = {"name": "t", "families": [{"arch": {"family": "llama", "hidden_size": 32, "num_layers": 1, "num_heads": 2,
                                                  "intermediate_size": 64, "vocab_size": 128, "max_position": 64},
                                         "seeds": [1]}],
              "pretrain": {"domain": "prose", "steps": 2, "batch_size": 2, "seq_len": 16, "lr": 0.001, "warmup": 1,
                           "data_seed": 0, "max_chars": 1000}}
    changes = {"checkpoints-int": {"checkpoints": 5}, "edits-int": {"edits": 5}, "blend-int": {"blend": 5},
               "students-int": {"distill": {"teacher_seed": 1, "student_seeds": 9}},
               "steps-str": {"pretrain": {**config["pretrain"], "steps": "many"}},
               "temperature-str": {"distill": {"teacher_seed": 1, "student_seeds": [9], "temperature": "hot"}},
               "hidden-str": {"families": [{**config["families"][0], "arch": {**config["families"][0]["arch"],
                                                                               "hidden_size": "abc"}}]}}
    for name, change in changes.items():
        (folder / f"zc-{name}.json").write_text(json.dumps({**config, **change}))
    (folder / "zc-bigint.json").write_text('{"name": ' + "9" * 5000 + "}")
    (folder / "zc-deep.json").write_text("[" * 100_000)
    (folder / "empty-zoo").mkdir()
    manifest = {"name": "m1", "family": "llama", "init_seed": 0, "lineages": 5, "stage": "init", "label": "x"}
    for zoo, text, model_config in (("bad-manifest-zoo", json.dumps(manifest), "{}"), ("junk-manifest-zoo", "{junk", "{}"),
                                    ("broken-zoo", json.dumps({**manifest, "lineages": ["llama-s0"]}), "{not json")):
        (folder / zoo / "m1").mkdir(parents=True)
        (folder / zoo / "m1" / "zoo_manifest.json").write_text(text)
        (folder / zoo / "m1" / "config.json").write_text(model_config)


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
        "Generated by `python -m tests.bad_inputs --out docs/bad-inputs.md` (`make docs-bad-inputs`) from",
        "the cases in `tests/bad_inputs.py`; `tests/test_bad_inputs.py` runs the same cases and checks",
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
    """An argument as the table shows it: shell-quoted with line breaks as ``\\n``, a very long one as its start and length."""
    if len(arg) > 60:
        return f"{arg[:12]}...({len(arg)} characters)"
    return shlex.quote(arg).replace("\n", "\\n")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def main(argv: list[str] | None = None) -> int:
    """Run every case in a temporary workspace and write the page."""
    parser = argparse.ArgumentParser(description="Run every bad-input case and write the docs page of answers.")
    parser.add_argument("--out", type=Path, default=Path("docs/bad-inputs.md"), help="page to write")
    args = parser.parse_args(argv)
    from seedprints.output_paths import write_atomic

    with tempfile.TemporaryDirectory(prefix="seedprints-bad-inputs-") as tmp:
        page = render(run_all(Path(tmp)))
    write_atomic(args.out, page.encode())
    print(f"wrote {args.out} ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
