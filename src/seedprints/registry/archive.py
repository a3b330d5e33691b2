"""Registry archives: a portable ``.tar`` of entries, so teams can share reference sets.

Layout (uncompressed tar, members in this order): ``manifest.json`` (format, version, and per entry its
name, tags, metadata, model id, probe hash, source, created_at, and the SHA-256 and size of its
encoding), then ``entries/000000.bin``, ``entries/000001.bin``, ... the encodings
(:mod:`seedprints.encoding`), addressed by index, never by a path derived from a name.

Import trusts nothing: it reads only regular members with exactly the expected names, in order,
within size limits (no links, absolute paths or '..'), verifies every checksum and decodes every
encoding before writing anything, then writes all entries in one transaction, checking each again.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

from seedprints import tempfiles
from seedprints.encoding import RankedFingerprint, decode
from seedprints.errors import ArchiveError, FingerprintFormatError, OutputPathError, RegistryError, UsageError
from seedprints.output_paths import check_output_path, same_file
from seedprints.inputs import load_json, special_file
from seedprints.registry.entries import NewEntry, RegistryEntry, check_name, check_tags
from seedprints.registry.location import RegistryLocation

ARCHIVE_FORMAT = "seedprints-registry-archive"
ARCHIVE_VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 << 20
MAX_ENTRY_BYTES = 512 << 20  # an encoded N=10000, d=16384 fingerprint is about 290 MB
MAX_ARCHIVE_BYTES = 64 << 30
MAX_ENTRIES = 1_000_000
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHOWN_TEXT = ("model_id", "source_path", "created_at")  # printed in `registry list`/`show` tables: one line each
_FIELDS = {
    "name": str, "tags": dict, "metadata": dict, "model_id": str, "probe_hash": str, "source_path": (str, type(None)),
    "source_sha256": (str, type(None)), "encoding_sha256": str, "encoded_bytes": int, "created_at": str,
}


def member_name(index: int) -> str:
    """Archive member holding the encoding of the manifest's entry ``index``."""
    return f"entries/{index:06d}.bin"


def write_archive(path: str | Path, chosen: list[RegistryEntry], blob: Callable[[str], bytes], registry: RegistryLocation) -> None:
    """Write ``chosen`` entries to an archive at ``path``, atomically; ``blob(name)`` gives an entry's stored encoding.

    Raises OutputPathError for a target that is a folder, a pipe or device, or the ``registry``'s own file.
    :meth:`Registry.export <seedprints.registry.store.Registry.export>` chooses the entries.
    """
    path = _check_target(Path(path), registry)
    manifest = {
        "format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "entries": [_manifest_entry(e) for e in chosen],
    }
    with tempfiles.replacing(path) as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_member(tar, MANIFEST, json.dumps(manifest, sort_keys=True, indent=1).encode())
        for index, entry in enumerate(chosen):
            _add_member(tar, member_name(index), blob(entry.name))


def read_archive(path: str | Path) -> Iterator[NewEntry]:
    """The entries of an archive, each checked (member, checksum, encoding) as it is read; ArchiveError at the
    first fault. :meth:`Registry.import_archive <seedprints.registry.store.Registry.import_archive>` writes them."""
    for meta, ranked, blob in _verified(Path(path)):
        yield NewEntry(meta["name"], meta["tags"], ranked, blob, meta["source_path"], meta["created_at"])


def verify_archive(path: str | Path) -> list[str]:
    """Read a whole archive, checking every member, checksum and encoding; return its entry names.

    Raises ArchiveError for anything :meth:`Registry.import_archive` would refuse as an archive.
    """
    return [meta["name"] for meta, _, _ in _verified(Path(path))]


def _check_target(path: Path, registry: RegistryLocation) -> Path:
    """Refuse an export target that is a folder, a pipe or device, or a SQLite registry's file (or a journal beside it)."""
    if special_file(path):
        raise OutputPathError(f"archive {path} is not a regular file (a pipe or device); give a file name such as registry.tar")
    if path.is_dir():
        raise OutputPathError(f"archive {path} is a directory; give a file name such as {path / 'registry.tar'}")
    for own in registry.files():
        if same_file(path, own):
            raise OutputPathError(
                f"archive {path} is the registry's own file {own}; write the archive elsewhere, e.g. {path.parent / 'registry.tar'}"
            )
    return check_output_path(path)


def _manifest_entry(entry: RegistryEntry) -> dict[str, Any]:
    return {
        "name": entry.name, "tags": entry.tags, "metadata": entry.metadata, "model_id": entry.model_id,
        "probe_hash": entry.probe_hash, "source_path": entry.source_path, "source_sha256": entry.source_sha256,
        "encoding_sha256": entry.encoding_sha256, "encoded_bytes": entry.encoded_bytes, "created_at": entry.created_at,
    }


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0  # no owner or time: the bytes depend on the entries only
    tar.addfile(info, io.BytesIO(data))


def _verified(path: Path) -> Iterator[tuple[dict[str, Any], RankedFingerprint, bytes]]:
    """Each manifest entry with its decoded, checksum-verified encoding; ArchiveError on anything unexpected."""
    if special_file(path):  # opening a FIFO would block forever
        raise ArchiveError(f"archive {path} is not a regular file (a pipe or device); give a file written by `seedprints registry export`")
    try:
        with tarfile.open(path, mode="r:") as tar:
            manifest = _check_manifest(_read_member(tar, tar.next(), MANIFEST, MAX_MANIFEST_BYTES, path), path)
            for index, meta in enumerate(manifest):
                blob = _read_member(tar, tar.next(), member_name(index), meta["encoded_bytes"], path)
                yield meta, _check_blob(blob, meta, path), blob
            extra = tar.next()
            if extra is not None:
                raise ArchiveError(f"archive {path} has an unexpected extra member {extra.name!r}; refusing it")
    except FileNotFoundError as exc:
        raise ArchiveError(f"archive {path} does not exist; check the path") from exc
    except IsADirectoryError as exc:
        raise ArchiveError(f"archive {path} is a directory, not an archive file") from exc
    except (tarfile.TarError, EOFError, UnicodeError) as exc:
        raise ArchiveError(f"archive {path} is truncated or not a seedprints archive ({exc}); export it again") from exc
    except OSError as exc:
        if isinstance(exc, RegistryError):
            raise
        raise ArchiveError(f"cannot read archive {path}: {exc.strerror or exc}") from exc


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo | None, expected: str, limit: int, path: Path) -> bytes:
    """The bytes of ``member``, which must be a regular file named ``expected`` of at most ``limit`` bytes."""
    if member is None:
        raise ArchiveError(f"archive {path} ends before member {expected!r}; it is truncated, export it again")
    name = member.name
    if name.startswith(("/", "\\")) or ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise ArchiveError(f"archive {path} has a member with an unsafe path {name!r}; refusing it")
    if not member.isreg():
        raise ArchiveError(f"archive {path}: member {name!r} is a link or special file, not a regular file; refusing it")
    if name != expected:
        raise ArchiveError(f"archive {path} has an unexpected member {name!r} where {expected!r} belongs; not a seedprints archive")
    if member.size > limit:
        raise ArchiveError(f"archive {path}: member {name!r} is {member.size} bytes, more than the {limit} allowed; refusing it")
    handle = tar.extractfile(member)
    data = handle.read() if handle is not None else b""
    if len(data) != member.size:
        raise ArchiveError(f"archive {path} is truncated inside {name!r}; export it again")
    return data


def _check_manifest(data: bytes, path: Path) -> list[dict[str, Any]]:
    """The manifest's entries, each checked field by field."""
    try:
        manifest = load_json(data)
    except json.JSONDecodeError as exc:
        raise ArchiveError(f"archive {path}: manifest.json cannot be read ({exc}); not a seedprints archive") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise ArchiveError(f"archive {path} is not a seedprints registry archive (manifest format is not {ARCHIVE_FORMAT!r})")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArchiveError(f"archive {path}: manifest has no valid version; the archive is corrupt, export it again")
    if version > ARCHIVE_VERSION:
        raise ArchiveError(f"archive {path} was written by a newer seedprints (archive version {version}); upgrade seedprints")
    entries = manifest.get("entries")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ENTRIES:
        raise ArchiveError(f"archive {path}: manifest must list 1 to {MAX_ENTRIES} entries; the archive is corrupt")
    total = 0
    for index, meta in enumerate(entries):
        _check_entry(meta, index, path)
        total += meta["encoded_bytes"]
    if total > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"archive {path} holds {total} bytes of entries, more than the {MAX_ARCHIVE_BYTES} allowed; refusing it")
    names = [meta["name"] for meta in entries]
    if len(set(names)) != len(names):
        raise ArchiveError(f"archive {path} lists the same entry name twice; the archive is corrupt, export it again")
    return entries


def _check_entry(meta: Any, index: int, path: Path) -> None:
    where = f"archive {path}: manifest entry {index}"
    if not isinstance(meta, dict) or set(meta) != set(_FIELDS):
        raise ArchiveError(f"{where} does not have the expected fields; the archive is corrupt, export it again")
    for key, kind in _FIELDS.items():
        value = meta[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ArchiveError(f"{where}: field {key!r} has the wrong type; the archive is corrupt, export it again")
    for key in ("tags", "metadata"):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta[key].items()):
            raise ArchiveError(f"{where}: {key} must map strings to strings; the archive is corrupt")
    for key in _SHOWN_TEXT:
        if meta[key] is not None and not meta[key].isprintable():
            raise ArchiveError(f"{where}: field {key!r} holds control characters such as a newline; the archive is corrupt")
    try:
        check_name(meta["name"])
        check_tags(meta["tags"])
    except UsageError as exc:
        raise ArchiveError(f"{where}: {exc}") from exc
    if not _SHA256.fullmatch(meta["encoding_sha256"]) or not 1 <= meta["encoded_bytes"] <= MAX_ENTRY_BYTES:
        raise ArchiveError(f"{where}: bad checksum or size field; the archive is corrupt, export it again")


def _check_blob(blob: bytes, meta: dict[str, Any], path: Path) -> RankedFingerprint:
    """Decode an entry's encoding after checking its SHA-256; it must agree with its manifest entry."""
    name = meta["name"]
    if hashlib.sha256(blob).hexdigest() != meta["encoding_sha256"]:
        raise ArchiveError(f"archive {path}: entry {name!r} fails its SHA-256 check; the archive is corrupt, nothing was imported")
    try:
        ranked = decode(blob, source=f"archive entry {name!r}")
    except FingerprintFormatError as exc:
        raise ArchiveError(f"archive {path}: {exc}; nothing was imported") from exc
    facts = {"model_id": ranked.model_id, "probe_hash": ranked.probe_hash, "metadata": ranked.metadata,
             "source_sha256": ranked.source_sha256}
    if any(meta[key] != value for key, value in facts.items()):
        raise ArchiveError(f"archive {path}: manifest and encoding of entry {name!r} disagree; the archive is corrupt")
    return ranked
