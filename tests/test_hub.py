"""Hub ids as model arguments, against a Hub stand-in on 127.0.0.1: downloads of safe files only, the resolved
commit in fingerprints and bundles, one-line errors, and local directories that never touch the network."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, run
from tests.hub_server import TINY_REPO, HubServer, tiny_hub
from seedprints import hub
from seedprints.errors import HubError

FAST = ("--n", "30", "--length", "8")
REPO = TINY_REPO


@pytest.fixture(scope="module")
def server(tiny_llama_dir, tiny_llama_derived_dir) -> HubServer:
    """The stand-in with a tagged and a default revision, a gated repo and one of pickles only."""
    with tiny_hub(tiny_llama_dir, tiny_llama_derived_dir) as stand_in:
        yield stand_in


@pytest.fixture
def hub_env(server, tmp_path, monkeypatch) -> HubServer:
    """HF_ENDPOINT at the stand-in and a fresh HF_HOME, so nothing reaches the real Hub or the user's cache."""
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for name in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    server.requests.clear()
    return server


def _sha(server: HubServer, revision: str) -> str:
    return str(server.repos[REPO].resolve(revision))


class TestParse:
    def test_ids_and_revisions(self):
        assert hub.parse_hub_id("org/name") == hub.HubRef("org/name")
        assert hub.parse_hub_id("org/name@v1.0") == hub.HubRef("org/name", "v1.0")
        assert hub.parse_hub_id("org/name", "main") == hub.HubRef("org/name", "main")
        assert hub.parse_hub_id("org/name@main", "main") == hub.HubRef("org/name", "main")

    @pytest.mark.parametrize("text", ["name", "a/b/c", "/abs/path", "org/-name", "a--b/c", "org/na..me", "org/name.git",
                                      "org/name@", "org/name@a b", "./x", "x.fp.safetensors"])
    def test_not_ids(self, text):
        assert hub.parse_hub_id(text) is None

    def test_existing_local_path_wins(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "org" / "name").mkdir(parents=True)
        assert hub.parse_hub_id("org/name") is None
        assert hub.parse_hub_id("org/other") == hub.HubRef("org/other")

    def test_two_revisions_refused(self):
        with pytest.raises(HubError, match="give the revision once"):
            hub.parse_hub_id("org/name@v1", "v2")

    def test_snapshot_metadata(self, tmp_path):
        commit = "ab" * 20
        assert hub.snapshot_metadata(tmp_path / "models--my-org--my.model" / "snapshots" / commit) == {
            "hub_repo": "my-org/my.model", "hub_commit": commit}
        assert hub.snapshot_metadata(tmp_path / "model") == {}


class TestDownload:
    def test_fingerprint_records_the_resolved_commit(self, hub_env, tiny_llama_dir, tmp_path, capsys):
        out = tmp_path / "hub.fp.safetensors"
        code, stdout, err = run(capsys, "fingerprint", f"{REPO}@v1", "-o", out, *FAST, "--json")
        assert code == 0, err
        from seedprints import load_fingerprint

        fp = load_fingerprint(out)
        commit = _sha(hub_env, "v1")
        assert fp.metadata["hub_commit"] == commit and fp.metadata["model_revision"] == commit
        assert fp.metadata["hub_repo"] == REPO
        local = tmp_path / "local.fp.safetensors"
        assert run(capsys, "fingerprint", tiny_llama_dir, "-o", local, *FAST)[0] == 0
        assert (load_fingerprint(local).hidden == fp.hidden).all()

    def test_only_safe_files_are_fetched(self, hub_env, tmp_path):
        snapshot = hub.download(hub.HubRef(REPO, "v1"))
        fetched = sorted(p.name for p in snapshot.path.iterdir())
        assert "model.safetensors" in fetched and "config.json" in fetched and "tokenizer.json" in fetched
        assert not {"pytorch_model.bin", "README.md", "modeling_tiny.py"} & set(fetched)
        assert not any(r.endswith((".bin", ".md", ".py")) for r in hub_env.requests)
        with_code = hub.download(hub.HubRef(REPO, "v1"), trust_remote_code=True)
        assert (with_code.path / "modeling_tiny.py").is_file()

    def test_revision_option_and_default_branch(self, hub_env, tmp_path, capsys):
        db = tmp_path / "refs.db"
        code, stdout, err = run(capsys, "registry", "add", REPO, "--revision", "v1", *FAST, "--registry", db, "--json")
        assert code == 0, err
        entry = json.loads(stdout)["entry"]
        assert entry["name"] == "tiny-llama" and entry["metadata"]["hub_commit"] == _sha(hub_env, "v1")
        code, stdout, err = run(capsys, "registry", "add", REPO, "--name", "latest", *FAST, "--registry", db, "--json")
        assert code == 0, err
        assert json.loads(stdout)["entry"]["metadata"]["hub_commit"] == _sha(hub_env, "main")

    def test_compare_bundle_carries_commits(self, hub_env, tmp_path, capsys):
        bundle = tmp_path / "evidence.json"
        code, stdout, err = run(capsys, "compare", f"{REPO}@v1", REPO, *FAST, "--bundle", bundle, "--json")
        assert code == 0, err
        assert json.loads(stdout)["verdict"] == "same-lineage"
        from seedprints.fingerprint import from_bytes

        embedded = json.loads(bundle.read_text())["fingerprints"]
        commits = {name: from_bytes(base64.b64decode(item["data_base64"])).metadata["hub_commit"]
                   for name, item in embedded.items()}
        assert commits == {"reference": _sha(hub_env, "v1"), "suspect": _sha(hub_env, "main")}

    def test_cached_snapshot_serves_offline(self, hub_env, monkeypatch):
        first = hub.download(hub.HubRef(REPO, "v1"))
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        hub_env.requests.clear()
        again = hub.download(hub.HubRef(REPO, "v1"))
        assert again.path == first.path and again.commit == first.commit and hub_env.requests == []
        with pytest.raises(HubError, match="HF_HUB_OFFLINE is set"):
            hub.download(hub.HubRef(REPO, "never-fetched"))


class TestErrors:
    @pytest.mark.parametrize("model, fragments", [
        ("tiny-org/gated", ("gated repository", "log in with a token")),
        (f"{REPO}@nope", ("has no revision 'nope'", "--revision")),
        ("tiny-org/pickles", ("no safetensors weights", "never pickles")),
        ("tiny-org/missing", ("neither a local path nor a Hub model", "log in with a token")),
    ])
    def test_one_line_and_nothing_written(self, hub_env, tmp_path, capsys, model, fragments):
        out = tmp_path / "fp.safetensors"
        code, stdout, err = run(capsys, "fingerprint", model, "-o", out, *FAST)
        assert_one_line_error(code, err, *fragments)
        assert not out.exists() and list(tmp_path.glob("*.partial")) == []

    def test_unreachable_hub(self, hub_env, tmp_path, capsys, monkeypatch):
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
        monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
        code, _, err = run(capsys, "registry", "add", REPO, *FAST, "--registry", tmp_path / "r.db")
        assert_one_line_error(code, err, "tiny-org/tiny-llama is not a local path", "cannot be downloaded from http://127.0.0.1:9")
        assert not (tmp_path / "r.db").exists()


class TestLocalStaysOffline:
    def test_local_directory_makes_no_request(self, hub_env, tiny_llama_dir, tmp_path, capsys):
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "-o", tmp_path / "fp.safetensors", *FAST)
        assert code == 0, err
        assert hub_env.requests == []

    def test_revision_needs_a_hub_id(self, hub_env, tiny_llama_dir, tmp_path, capsys):
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "--revision", "v1", "-o", tmp_path / "fp.safetensors")
        assert code == 2 and "--revision applies to Hub ids" in err
        assert hub_env.requests == []
