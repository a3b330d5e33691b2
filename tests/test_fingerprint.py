"""The fingerprint file: round trip, pinned bytes, and refusal of every kind of bad file."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import pytest

from seedprints import fingerprint as fpfile
from seedprints.errors import FingerprintFormatError, IncompatibleFingerprintsError, OutputPathError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.probes import ProbeSpec, embedding_spec, token_spec

FIXED = {"created_at": "2026-01-01T00:00:00+00:00", "seedprints_version": "0.0.0", "dtype": "float32"}


def make(n=20, d=8, seed=0, spec=None) -> Fingerprint:
    hidden = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return Fingerprint(hidden=hidden, spec=spec or token_spec(n, 4, 100), model_id="models/tiny", metadata=dict(FIXED))


def rewrite_header(path, mutate) -> None:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    mutate(header)
    new = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + length :])


class TestRoundTrip:
    def test_save_load(self, tmp_path):
        fp = make()
        fpfile.save(fp, tmp_path / "a.safetensors")
        back = fpfile.load(tmp_path / "a.safetensors")
        np.testing.assert_array_equal(back.hidden, fp.hidden)
        assert back.spec == fp.spec and back.model_id == "models/tiny"
        assert back.metadata["created_at"] == FIXED["created_at"]

    def test_same_fingerprint_same_bytes(self, tmp_path):
        # Golden bytes: the on-disk format is a contract with every fingerprint already shared.
        fpfile.save(make(), tmp_path / "a.safetensors")
        fpfile.save(make(), tmp_path / "b.safetensors")
        a, b = (tmp_path / "a.safetensors").read_bytes(), (tmp_path / "b.safetensors").read_bytes()
        assert a == b
        assert hashlib.sha256(a).hexdigest()[:16] == "e35c9ecc273b7f91"

    def test_header_only_read(self, tmp_path):
        fpfile.save(make(), tmp_path / "a.safetensors")
        header = fpfile.read_header(tmp_path / "a.safetensors")
        assert header["seedprints_format"] == "1" and header["hidden_size"] == "8"
        assert json.loads(header["probe_spec"])["kind"] == "token"

    def test_logits_round_trip(self, tmp_path):
        spec = ProbeSpec(kind="token", n=20, length=4, vocab_bound=100, input_tokens=(1, 2, 3), output_tokens=(7, 8))
        fp = make(spec=spec)
        fp = Fingerprint(hidden=fp.hidden, spec=spec, model_id="m", logits=np.arange(40, dtype=np.float32).reshape(20, 2))
        fpfile.save(fp, tmp_path / "a.safetensors")
        back = fpfile.load(tmp_path / "a.safetensors")
        np.testing.assert_array_equal(back.logits, fp.logits)
        np.testing.assert_array_equal(back.hidden, fp.hidden)

    def test_readable_by_safetensors(self, tmp_path):
        from safetensors.numpy import load_file

        fpfile.save(make(), tmp_path / "a.safetensors")
        assert load_file(tmp_path / "a.safetensors")["hidden"].shape == (20, 8)


class TestBadFiles:
    @pytest.fixture
    def good(self, tmp_path):
        path = tmp_path / "fp.safetensors"
        fpfile.save(make(), path)
        return path

    def test_missing(self, tmp_path):
        with pytest.raises(FingerprintFormatError, match="does not exist"):
            fpfile.load(tmp_path / "none.safetensors")

    def test_directory(self, tmp_path):
        with pytest.raises(FingerprintFormatError, match="is a directory"):
            fpfile.load(tmp_path)

    @pytest.mark.parametrize("cut", [3, 8, 50, -1])
    def test_truncated(self, good, cut):
        good.write_bytes(good.read_bytes()[:cut])
        with pytest.raises(FingerprintFormatError):
            fpfile.load(good)

    def test_not_ours(self, tmp_path):
        from safetensors.numpy import save_file

        save_file({"hidden": np.zeros((20, 8), np.float32)}, tmp_path / "other.safetensors")
        with pytest.raises(FingerprintFormatError, match="no seedprints metadata"):
            fpfile.load(tmp_path / "other.safetensors")

    def test_random_bytes(self, tmp_path):
        path = tmp_path / "junk.safetensors"
        path.write_bytes(np.random.default_rng(0).bytes(4096))
        with pytest.raises(FingerprintFormatError, match="not a seedprints fingerprint"):
            fpfile.load(path)

    def test_huge_claimed_header(self, tmp_path):
        path = tmp_path / "big.safetensors"
        path.write_bytes(struct.pack("<Q", 10**12) + b"{}")
        with pytest.raises(FingerprintFormatError, match="bad header length"):
            fpfile.load(path)

    def test_newer_format(self, good):
        rewrite_header(good, lambda h: h["__metadata__"].update(seedprints_format="2"))
        with pytest.raises(FingerprintFormatError, match="upgrade seedprints"):
            fpfile.load(good)

    def test_claimed_shape_larger_than_data(self, good):
        rewrite_header(good, lambda h: h["hidden"].update(shape=[10**6, 8]))
        with pytest.raises(FingerprintFormatError, match="bad data offsets"):
            fpfile.load(good)

    def test_logits_without_output_tokens(self, tmp_path):
        fp = make()
        with_logits = Fingerprint(hidden=fp.hidden, spec=fp.spec, model_id="m", logits=np.zeros((20, 3), np.float32))
        fpfile.save(with_logits, tmp_path / "a.safetensors")
        with pytest.raises(FingerprintFormatError, match="records 0 logit tokens"):
            fpfile.load(tmp_path / "a.safetensors")

    def test_unknown_tensor(self, good):
        rewrite_header(good, lambda h: h.update(extra=h.pop("hidden")))
        with pytest.raises(FingerprintFormatError, match="expected a float32 tensor 'hidden'"):
            fpfile.load(good)

    def test_wrong_dtype(self, good):
        rewrite_header(good, lambda h: h["hidden"].update(dtype="F64"))
        with pytest.raises(FingerprintFormatError, match="float32"):
            fpfile.load(good)

    def test_altered_spec(self, good):
        def alter(h):
            spec = json.loads(h["__metadata__"]["probe_spec"])
            spec["seed"] = 1
            h["__metadata__"]["probe_spec"] = json.dumps(spec)

        rewrite_header(good, alter)
        with pytest.raises(FingerprintFormatError, match="altered"):
            fpfile.load(good)

    def test_missing_key(self, good):
        rewrite_header(good, lambda h: h["__metadata__"].pop("model_id"))
        with pytest.raises(FingerprintFormatError, match="lacks model_id"):
            fpfile.load(good)


class TestAtomicWrite:
    def test_missing_folder(self, tmp_path):
        with pytest.raises(OutputPathError, match="does not exist"):
            fpfile.save(make(), tmp_path / "no" / "a.safetensors")

    def test_output_is_directory(self, tmp_path):
        with pytest.raises(OutputPathError, match="is a directory"):
            fpfile.save(make(), tmp_path)

    def test_failed_write_leaves_nothing(self, tmp_path, monkeypatch):
        def boom(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr("os.replace", boom)
        with pytest.raises(KeyboardInterrupt):
            fpfile.save(make(), tmp_path / "a.safetensors")
        assert list(tmp_path.iterdir()) == []


class TestCompatibility:
    def test_same_spec_ok(self):
        fpfile.check_compatible(make(seed=0), make(seed=1))

    def test_different_specs_named(self):
        other = make(spec=token_spec(20, 4, 100, seed=9))
        with pytest.raises(IncompatibleFingerprintsError, match="seed=42.*seed=9"):
            fpfile.check_compatible(make(), other)

    def test_different_widths(self):
        spec = embedding_spec(20, 4, 8)
        a = make(spec=spec)
        b = Fingerprint(hidden=np.zeros((20, 16), np.float32), spec=spec, model_id="x")
        with pytest.raises(IncompatibleFingerprintsError, match="d=8.*d=16"):
            fpfile.check_compatible(a, b)


class TestInMemoryFields:
    """A Fingerprint built from Python refuses bad arrays when built, not with an IndexError far away."""

    @pytest.mark.parametrize(("hidden", "error", "fragment"), [
        (np.zeros(20, np.float32), UsageError, "must be 2-D"),
        (np.zeros((20, 8, 2), np.float32), UsageError, "must be 2-D"),
        (np.full((20, 8), "1.5"), UsageError, "real numbers"),
        (np.zeros((20, 8), object), UsageError, "real numbers"),
        (np.zeros((20, 8), bool), UsageError, "real numbers"),
        (np.zeros((20, 8), complex), UsageError, "real numbers"),
        ([[0.0] * 8] * 20, TypeError, "numpy array"),
    ])
    def test_bad_hidden(self, hidden, error, fragment):
        with pytest.raises(error, match=fragment):
            Fingerprint(hidden=hidden, spec=token_spec(20, 4, 100), model_id="m")

    @pytest.mark.parametrize(("logits", "error", "fragment"), [
        (np.zeros((19, 2), np.float32), UsageError, "19 rows but hidden has 20"),
        (np.zeros(20, np.float32), UsageError, "logits must be 2-D"),
        ("logits", TypeError, "numpy array"),
    ])
    def test_bad_logits(self, logits, error, fragment):
        with pytest.raises(error, match=fragment):
            Fingerprint(hidden=np.zeros((20, 8), np.float32), spec=token_spec(20, 4, 100), model_id="m", logits=logits)

    @pytest.mark.parametrize("field", [{"spec": "token"}, {"model_id": 5}, {"metadata": [("dtype", "float32")]}])
    def test_bad_field_types(self, field):
        fields = {"hidden": np.zeros((20, 8), np.float32), "spec": token_spec(20, 4, 100), "model_id": "m", **field}
        with pytest.raises(TypeError, match=f"Fingerprint {next(iter(field))} must be"):
            Fingerprint(**fields)

    def test_integer_matrices_are_numbers(self):
        assert Fingerprint(hidden=np.ones((20, 8), np.int64), spec=token_spec(20, 4, 100), model_id="m").hidden_size == 8
