"""Ed25519 signatures on evidence bundles: who vouches for a result, beyond what anyone can recompute.

A bundle's seal shows only that it was not edited by accident, since whoever edits a bundle can
re-seal it. A signature binds the bundle to the holder of a private key: ``seedprints keygen``
makes a key pair, ``--sign KEY`` on ``compare``/``identify`` signs the bundle's canonical JSON,
and ``seedprints verify --public-key KEY.pub`` accepts the bundle only if that key signed it.
Keys are PEM files (PKCS#8 private key written with mode 0600, SubjectPublicKeyInfo public key);
the bundle records the raw public key, so a signature can be checked without the key file, and
the key's id is the first 16 hex digits of the SHA-256 of its raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from seedprints import tempfiles
from seedprints.errors import SigningKeyError
from seedprints.inputs import special_file
from seedprints.output_paths import check_output_path

ALGORITHM = "ed25519"
MAX_KEY_FILE_BYTES = 1 << 16


def generate_key_pair(private_path: str | Path) -> tuple[Path, Path, str]:
    """Write a new private key to ``private_path`` (mode 0600) and its public key to ``private_path.pub``.

    Returns both paths and the key id. Raises OutputPathError when a file cannot be written; the
    public key is written first and removed again if the private key cannot be written, so a
    failure leaves no half of a pair.
    """

    private_path = check_output_path(private_path)
    public_path = check_output_path(private_path.with_name(private_path.name + ".pub"))
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    with tempfiles.replacing(public_path) as handle:
        handle.write(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    try:
        with tempfiles.replacing(private_path, mode=0o600) as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    except BaseException:
        public_path.unlink(missing_ok=True)
        raise
    return private_path, public_path, key_id(public)


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Read an unencrypted Ed25519 private key (PEM), refusing anything else with one line."""
    data, path = _read(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # encrypted with a passphrase
        raise SigningKeyError(f"signing key {path} is encrypted; seedprints reads unencrypted keys made by "
                              "`seedprints keygen`") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        hint = " (it is a public key; sign with the private key)" if b"PUBLIC KEY" in data else ""
        raise SigningKeyError(f"{path} is not a PEM private key{hint}; make one with `seedprints keygen KEY`") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"signing key {path} is a {type(key).__name__.removeprefix('_')}, not an Ed25519 key; "
                              "make one with `seedprints keygen KEY`")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """Read an Ed25519 public key (PEM), refusing anything else with one line."""
    data, path = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        hint = " (it is a private key; give the .pub file)" if b"PRIVATE KEY" in data else ""
        raise SigningKeyError(f"{path} is not a PEM public key{hint}; `seedprints keygen KEY` writes KEY.pub") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"public key {path} is not an Ed25519 key; `seedprints keygen KEY` writes KEY.pub")
    return key


def key_id(public: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key: a short name for a signer."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def sign(message: bytes, key: Ed25519PrivateKey) -> dict[str, str]:
    """The signature record a bundle stores: algorithm, raw public key and key id, and the signature (base64)."""
    public = key.public_key()
    return {"algorithm": ALGORITHM, "public_key": base64.b64encode(_raw(public)).decode("ascii"), "key_id": key_id(public),
            "value": base64.b64encode(key.sign(message)).decode("ascii")}


def check(message: bytes, record: Any) -> str:
    """The key id that signed ``message`` per ``record``; ValueError (one line) when the record is malformed or false."""
    if not isinstance(record, dict) or record.get("algorithm") != ALGORITHM:
        found = record.get("algorithm") if isinstance(record, dict) else None
        raise ValueError(f"signature algorithm is {found!r}; seedprints checks {ALGORITHM!r} signatures")
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(str(record.get("public_key")), validate=True))
        value = base64.b64decode(str(record.get("value")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("signature record holds no valid public key or signature") from exc
    if record.get("key_id") != key_id(public):
        raise ValueError(f"signature names key {record.get('key_id')!r} but holds key {key_id(public)}")
    try:
        public.verify(value, message)
    except InvalidSignature as exc:
        raise ValueError(f"the signature of key {key_id(public)} does not match the contents; the bundle was "
                         "changed after it was signed") from exc
    return key_id(public)


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _read(path: str | Path, what: str) -> tuple[bytes, Path]:
    path = Path(path)
    try:
        if path.is_dir():
            raise SigningKeyError(f"{what} {path} is a directory; give the key file")
        if special_file(path):
            raise SigningKeyError(f"{what} {path} is not a regular file (a pipe or device); give the key file")
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise SigningKeyError(f"{what} {path} is larger than any key file; give the key made by `seedprints keygen`")
        return path.read_bytes(), path
    except FileNotFoundError as exc:
        raise SigningKeyError(f"{what} {path} does not exist; make a key pair with `seedprints keygen KEY`") from exc
    except OSError as exc:
        raise SigningKeyError(f"cannot read {what} {path}: {exc.strerror}") from exc
