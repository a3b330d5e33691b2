"""Where a run's probes come from, decided in one place (pipeline.resolve_probes) for compare, matrix, claims, fleet and
every other command: fingerprints give the spec and models follow it, models alone share their default probes; and
what a spec says of its probes (read from a file, token ids, embeddings, texts)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seedprints import pipeline
from seedprints.errors import IncompatibleFingerprintsError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.options import ProbeOptions
from seedprints.probe_files import load_probe_file
from seedprints.probes import Probes, embedding_spec, probes_for, token_spec
from tests.conftest import TINY_VOCAB, TINY_WIDTH

OPTIONS = ProbeOptions(n=20, length=8)


def _probe_file(tmp_path: Path, name: str = "probes.json", token: int = 1) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"token_ids": [[token, 2, 3]] * 12}))
    return path


def _fingerprint(spec, width: int = TINY_WIDTH) -> Fingerprint:
    hidden = np.random.default_rng(0).standard_normal((spec.n, width)).astype(np.float32)
    return Fingerprint(hidden=hidden, spec=spec, model_id="ref")


class TestWhatASpecSays:
    def test_each_kind(self, tmp_path):
        text = tmp_path / "texts.txt"
        text.write_text("\n".join(f"text {i}" for i in range(12)))
        kinds = {
            "token": token_spec(20, 8, 100), "embedding": embedding_spec(20, 8, 32),
            "token-file": load_probe_file(_probe_file(tmp_path)).spec, "text-file": load_probe_file(text).spec,
        }
        says = {kind: (s.from_file, s.draws_token_ids, s.feeds_embeddings, s.needs_tokenizer) for kind, s in kinds.items()}
        assert says == {"token": (False, True, False, False), "embedding": (False, False, True, False),
                        "token-file": (True, False, False, False), "text-file": (True, False, False, True)}

    def test_at_n_of_picks_the_same_probes_at_another_count(self):
        own = token_spec(20, 8, 100)
        other = token_spec(20, 8, 99)
        assert own.at_n_of([other, own.with_n(50), own.with_n(30)]) == own.with_n(50)
        assert own.at_n_of([other]) == own

    def test_probes_for_a_file_spec_takes_only_its_own_file(self, tmp_path):
        file = load_probe_file(_probe_file(tmp_path))
        other = load_probe_file(_probe_file(tmp_path, "other.json", token=4))
        assert probes_for(file.spec, file) is file
        assert probes_for(file.spec, other) is None and probes_for(file.spec, None) is None
        generated = token_spec(20, 8, 100)
        assert probes_for(generated, file) == generated


class TestResolveProbes:
    def test_models_alone_share_their_default_probes(self, tiny_llama_dir, tiny_llama_other_dir):
        resolved = pipeline.resolve_probes([tiny_llama_dir, tiny_llama_other_dir], OPTIONS)
        assert resolved.fingerprints == (None, None) and resolved.origin is None
        assert resolved.spec == pipeline.shared_default_spec([tiny_llama_dir], OPTIONS)

    def test_models_follow_the_first_fingerprint(self, tiny_llama_dir, tmp_path):
        spec = token_spec(30, 8, TINY_VOCAB)
        path = tmp_path / "ref.fp"
        _fingerprint(spec).save(path)
        resolved = pipeline.resolve_probes([tiny_llama_dir, path, _fingerprint(token_spec(30, 8, 50))], OPTIONS)
        assert resolved.probes == spec and resolved.origin == f"fingerprint {path}"
        assert resolved.fingerprints[0] is None and resolved.fingerprints[1].spec == spec

    def test_a_model_is_checked_by_config_against_the_fingerprint(self, tiny_llama_dir):
        with pytest.raises(IncompatibleFingerprintsError, match="hidden sizes differ"):
            pipeline.resolve_probes([_fingerprint(token_spec(30, 8, TINY_VOCAB), width=16), tiny_llama_dir])
        with pytest.raises(UsageError, match="reach id"):
            pipeline.resolve_probes([_fingerprint(token_spec(30, 8, TINY_VOCAB + 5)), tiny_llama_dir])

    def test_file_probes_need_their_file_only_when_a_model_runs(self, tiny_llama_dir, tmp_path):
        path = _probe_file(tmp_path)
        fp = _fingerprint(load_probe_file(path).spec)
        assert pipeline.resolve_probes([fp, fp]).probes == fp.spec
        with pytest.raises(UsageError, match="made from a probe file"):
            pipeline.resolve_probes([fp, tiny_llama_dir])
        with pytest.raises(UsageError, match="is not the file"):
            pipeline.resolve_probes([fp, tiny_llama_dir], ProbeOptions(probe_file=str(_probe_file(tmp_path, "o.json", 4))))
        resolved = pipeline.resolve_probes([fp, tiny_llama_dir], ProbeOptions(probe_file=str(path)))
        assert isinstance(resolved.probes, Probes) and resolved.spec == fp.spec

    def test_generated_only_refuses_file_probes_before_reading_any(self, tiny_llama_dir, tmp_path):
        fp = _fingerprint(load_probe_file(_probe_file(tmp_path)).spec)
        with pytest.raises(UsageError, match="made from a probe file .*; no files here") as refused:
            pipeline.resolve_probes([fp, tiny_llama_dir], generated_only="no files here")
        assert "probe_file" not in str(refused.value)
        with pytest.raises(UsageError, match="probe_file='missing.json' gives probes read from a file; no files here"):
            pipeline.resolve_probes(models=[tiny_llama_dir], options=ProbeOptions(probe_file="missing.json"),
                                    generated_only="no files here")

    def test_models_are_never_read_as_fingerprints(self, tmp_path):
        model_file = tmp_path / "model.gguf"
        model_file.write_bytes(b"not a fingerprint")
        with pytest.raises(UsageError, match="probe_file="):
            pipeline.resolve_probes(models=[model_file], options=ProbeOptions(probe_file="p.json"), generated_only="x")
        with pytest.raises(UsageError, match="at least one"):
            pipeline.resolve_probes()


def test_max_token_id_is_the_largest_id_fed_or_scored(tmp_path):
    from seedprints.probes import untrained_token_spec

    assert token_spec(20, 8, 100).max_token_id == 99
    assert untrained_token_spec(20, 8, 160, 100).max_token_id == 159
    assert embedding_spec(20, 8, 32).max_token_id is None
    assert load_probe_file(_probe_file(tmp_path)).spec.max_token_id is None
