"""Probe specs: determinism (golden hashes pin the bytes), serialisation, and refusal of bad specs or files."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from seedprints.errors import UsageError
from seedprints.probe_files import load_probe_file
from seedprints.probes import ProbeSpec, embedding_spec, generated, token_spec


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


class TestGeneratedProbes:
    def test_token_probes_are_pinned(self):
        # Golden values: any change to the generator changes every fingerprint ever made.
        spec = token_spec(20, 16, 4096)
        assert spec.hash == "0cebed79a82b3a74"
        assert _digest(np.stack(generated(spec).token_ids(0, 20))) == "02b9e70eddee2a8b"

    def test_embedding_probes_are_pinned(self):
        spec = embedding_spec(10, 4, 8)
        assert spec.hash == "a3cd0cbd70b44cf3"
        assert _digest(generated(spec).embeddings(0, 10)) == "4ba2d7c0a5dbe18a"

    def test_rows_do_not_depend_on_the_slice(self):
        probes = generated(token_spec(50, 8, 1000, seed=7))
        whole = np.stack(probes.token_ids(0, 50))
        parts = np.stack(probes.token_ids(0, 17) + probes.token_ids(17, 50))
        np.testing.assert_array_equal(whole, parts)

    def test_token_ids_are_in_range_and_roughly_uniform(self):
        ids = np.stack(generated(token_spec(200, 100, 10)).token_ids(0, 200))
        assert ids.min() == 0 and ids.max() == 9
        counts = np.bincount(ids.ravel(), minlength=10)
        assert np.all(np.abs(counts / ids.size - 0.1) < 0.01)

    def test_embedding_moments(self):
        emb = generated(embedding_spec(20, 32, 64, mean=0.5, std=2.0)).embeddings(0, 20)
        assert emb.dtype == np.float32 and emb.shape == (20, 32, 64)
        assert abs(emb.mean() - 0.5) < 0.05 and abs(emb.std() - 2.0) < 0.05

    def test_seed_changes_probes(self):
        a = np.stack(generated(token_spec(10, 8, 1000, seed=1)).token_ids(0, 10))
        b = np.stack(generated(token_spec(10, 8, 1000, seed=2)).token_ids(0, 10))
        assert not np.array_equal(a, b)

    def test_torch_rng_reproduces_reference_generator(self):
        import torch

        spec = token_spec(12, 9, 500, seed=42, rng="torch")
        torch.manual_seed(42)
        expected = torch.randint(0, 500, (12, 9), dtype=torch.long).numpy()
        np.testing.assert_array_equal(np.stack(generated(spec).token_ids(0, 12)), expected)


class TestProbeSpec:
    def test_json_round_trip_and_hash(self):
        spec = embedding_spec(100, 64, 256, seed=3)
        again = ProbeSpec.from_json(spec.to_json())
        assert again == spec and again.hash == spec.hash

    def test_hash_differs_by_any_field(self):
        base = token_spec(100, 64, 1000)
        others = [token_spec(101, 64, 1000), token_spec(100, 65, 1000), token_spec(100, 64, 999), token_spec(100, 64, 1000, seed=0)]
        assert len({base.hash, *(o.hash for o in others)}) == 5

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            (dict(kind="token", n=5, length=8, vocab_bound=10), "at least 10"),
            (dict(kind="token", n=20, length=0, vocab_bound=10), "length"),
            (dict(kind="token", n=20, length=8, vocab_bound=None), "vocab_bound"),
            (dict(kind="embedding", n=20, length=8, hidden_size=None, std=0.02, mean=0.0), "hidden_size"),
            (dict(kind="embedding", n=20, length=8, hidden_size=4, std=0.0, mean=0.0), "std"),
            (dict(kind="other", n=20, length=8), "unknown probe kind"),
            (dict(kind="token", n=20, length=8, vocab_bound=10, rng="mt"), "rng"),
        ],
    )
    def test_bad_specs_are_refused(self, kwargs, message):
        with pytest.raises(UsageError, match=message):
            ProbeSpec(**kwargs)

    def test_unknown_field_or_newer_version_is_refused(self):
        fields = json.loads(token_spec(20, 8, 10).to_json())
        with pytest.raises(UsageError, match="unknown fields"):
            ProbeSpec.from_json(json.dumps({**fields, "temperature": 3}))
        with pytest.raises(UsageError, match="upgrade seedprints"):
            ProbeSpec.from_json(json.dumps({**fields, "version": 99}))


class TestProbeFiles:
    def test_token_file(self, tmp_path):
        rows = [[1, 2, 3]] * 6 + [[4, 5]] * 6
        path = tmp_path / "p.json"
        path.write_text(json.dumps({"token_ids": rows}))
        probes = load_probe_file(path)
        assert probes.spec.kind == "token-file" and probes.spec.n == 12 and probes.spec.length == 3
        assert [r.tolist() for r in probes.token_ids(5, 7)] == [[1, 2, 3], [4, 5]]
        assert len(probes.spec.source_sha256) == 64

    def test_text_files(self, tmp_path):
        texts = [f"probe number {i}" for i in range(12)]
        (tmp_path / "t.json").write_text(json.dumps({"texts": texts}))
        (tmp_path / "t.txt").write_text("\n".join(texts) + "\n\n")
        for name in ("t.json", "t.txt"):
            probes = load_probe_file(tmp_path / name)
            assert probes.needs_tokenizer and probes.texts(0, 12) == texts

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("not json", "not valid JSON"),
            ('{"other": 1}', "needs a 'token_ids' or a 'texts' key"),
            ('{"token_ids": [[1, -2]]}', "integers from 0"),
            ('{"token_ids": [[1, 1000000000000000000000000000000]]}', "integers from 0"),
            ('{"token_ids": [[1]], "texts": ["a"]}', "both 'token_ids' and 'texts'"),
            ('[' * 100_000, "nests too deeply"),
            ('{"token_ids": [[' + '9' * 5000 + ']]}', "integer too long"),
            ('{"token_ids": [[1, 2]]}', "at least 10"),
            ('{"texts": ["a", 3]}', "non-empty strings"),
        ],
    )
    def test_bad_files_are_refused(self, tmp_path, content, message):
        path = tmp_path / "bad.json"
        path.write_text(content)
        with pytest.raises(UsageError, match=message):
            load_probe_file(path)

    def test_missing_file(self, tmp_path):
        with pytest.raises(UsageError, match="cannot read probe file"):
            load_probe_file(tmp_path / "nope.json")
