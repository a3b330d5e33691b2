"""Signed evidence bundles: keygen, --sign, verify --public-key, and a clear line for every bad key or signature."""

from __future__ import annotations

import json
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from seedprints.bundle import layout as bl, verify as bv
from seedprints import signing
from seedprints.errors import OutputPathError, SigningKeyError

from .bad_inputs import build_workspace
from .conftest import assert_one_line_error, run


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("signing"))


@pytest.fixture()
def keys(tmp_path):
    """Two key pairs made by the CLI: lab (the signer) and other."""
    paths = {}
    for name in ("lab", "other"):
        private, public, _ = signing.generate_key_pair(tmp_path / f"{name}.key")
        paths[name], paths[f"{name}.pub"] = private, public
    return paths


def signed_bundle(workspace, tmp_path, capsys, key) -> tuple:
    path = tmp_path / "evidence.json"
    code, _, err = run(capsys, "compare", workspace / "base.fp", workspace / "suspect.fp", "--bundle", path, "--sign", key)
    assert code == 0, err
    return path, json.loads(path.read_text())


def reseal(path, data) -> None:
    """Write ``data`` with a fresh seal, as a forger without the private key would."""
    data["seal"]["digest"] = bl.seal(data)
    path.write_text(json.dumps(data))


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path, capsys):
    code, out, err = run(capsys, "keygen", tmp_path / "lab.key", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert stat.S_IMODE((tmp_path / "lab.key").stat().st_mode) == 0o600
    public = signing.load_public_key(tmp_path / "lab.key.pub")
    assert payload["key_id"] == signing.key_id(public) == signing.key_id(signing.load_private_key(tmp_path / "lab.key").public_key())
    assert_one_line_error(*run(capsys, "keygen", tmp_path / "lab.key")[::2], "already exist")
    assert run(capsys, "keygen", tmp_path / "lab.key", "--force")[0] == 0
    assert signing.key_id(signing.load_public_key(tmp_path / "lab.key.pub")) != payload["key_id"]


def test_signed_bundle_verifies_with_its_key_and_names_the_signer(workspace, tmp_path, capsys, keys):
    path, data = signed_bundle(workspace, tmp_path, capsys, keys["lab"])
    lab = signing.key_id(signing.load_public_key(keys["lab.pub"]))
    assert data["signature"]["key_id"] == lab and "--sign" not in data["command"] and str(keys["lab"]) not in data["command"]
    code, out, err = run(capsys, "verify", path, "--public-key", keys["lab.pub"], "--json")
    assert code == 0, err
    assert json.loads(out)["signed_by"] == lab
    code, out, _ = run(capsys, "verify", path)
    assert code == 0 and f"signed by Ed25519 key {lab}" in out


def test_identify_bundle_can_be_signed(workspace, tmp_path, capsys, keys):
    path = tmp_path / "id.json"
    code, _, err = run(capsys, "identify", workspace / "suspect.fp", "--registry", workspace / "reg.db", "--bundle", path,
                       "--sign", keys["lab"])
    assert code == 0, err
    assert bv.verify_bundle(path, signing.load_public_key(keys["lab.pub"])).signed_by is not None


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(command="seedprints compare a b"), "does not match the contents"),
    (lambda d: d["signature"].update(key_id="0" * 16), "signature names key"),
    (lambda d: d["signature"].update(value="not base64!"), "no valid public key or signature"),
    (lambda d: d["signature"].update(algorithm="rsa"), "seedprints checks 'ed25519'"),
])
def test_changed_after_signing_is_refused_even_when_resealed(workspace, tmp_path, capsys, keys, change, message):
    path, data = signed_bundle(workspace, tmp_path, capsys, keys["lab"])
    change(data)
    reseal(path, data)
    assert_one_line_error(*run(capsys, "verify", path)[::2], message)


def test_resigned_by_another_key_is_refused_by_the_owners_public_key(workspace, tmp_path, capsys, keys):
    path, data = signed_bundle(workspace, tmp_path, capsys, keys["lab"])
    data["command"] = "seedprints compare forged.fp suspect.fp"
    data["signature"] = signing.sign(bl.canonical_json(data), signing.load_private_key(keys["other"]))
    reseal(path, data)
    assert run(capsys, "verify", path)[0] == 0  # a valid signature, by somebody
    assert_one_line_error(*run(capsys, "verify", path, "--public-key", keys["lab.pub"])[::2], "not by the given key")


def test_unsigned_bundle_is_refused_when_a_signature_is_asked_for(workspace, capsys, keys):
    assert_one_line_error(*run(capsys, "verify", workspace / "evidence.json", "--public-key", keys["lab.pub"])[::2],
                          "is not signed")


def test_sign_without_bundle_is_a_usage_error(workspace, capsys, keys):
    code, _, err = run(capsys, "compare", workspace / "base.fp", workspace / "suspect.fp", "--sign", keys["lab"])
    assert code == 2 and "add --bundle FILE" in err


@pytest.mark.parametrize(("which", "message"), [
    ("missing", "does not exist"), ("text", "is not a PEM private key"), ("public", "it is a public key"),
    ("rsa", "not an Ed25519 key"), ("encrypted", "is encrypted"), ("folder", "is a directory"),
])
def test_bad_signing_keys_are_refused_before_any_work(workspace, tmp_path, capsys, keys, which, message):
    key = {"missing": tmp_path / "nope.key", "text": workspace / "notes.txt", "public": keys["lab.pub"],
           "folder": workspace / "existing-dir"}.get(which, tmp_path / f"{which}.key")
    if which in ("rsa", "encrypted"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=1024) if which == "rsa" else \
            signing.load_private_key(keys["lab"])
        encryption = serialization.BestAvailableEncryption(b"pw") if which == "encrypted" else serialization.NoEncryption()
        key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    out = tmp_path / "never.json"
    code, _, err = run(capsys, "compare", workspace / "base.fp", workspace / "suspect.fp", "--bundle", out, "--sign", key)
    assert_one_line_error(code, err, message)
    assert not out.exists()


@pytest.mark.parametrize(("which", "message"), [("private", "it is a private key"), ("text", "is not a PEM public key")])
def test_bad_public_keys_are_refused(workspace, keys, which, message):
    with pytest.raises(SigningKeyError, match=message):
        signing.load_public_key(keys["lab"] if which == "private" else workspace / "notes.txt")


def test_a_failed_private_key_write_removes_the_public_half(tmp_path, monkeypatch):
    real = signing.tempfiles.replacing

    def failing(path, mode=None):
        if mode == 0o600:  # the private key's write
            raise OutputPathError(f"cannot write {path}: No space left on device; choose a writable location")
        return real(path, mode)

    monkeypatch.setattr(signing.tempfiles, "replacing", failing)
    with pytest.raises(OutputPathError, match="No space left"):
        signing.generate_key_pair(tmp_path / "lab.key")
    assert list(tmp_path.iterdir()) == []
