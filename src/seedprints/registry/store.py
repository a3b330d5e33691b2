"""The registry: named, tagged fingerprints in one SQLite file, safe with several processes writing.

Each entry stores the compact rank encoding of a fingerprint (:mod:`seedprints.encoding`) with its
SHA-256, so tests on an entry give the same numbers as on the full fingerprint. The file runs in WAL
mode with a busy timeout; every write is one ``BEGIN IMMEDIATE`` transaction, so a crash or Ctrl-C
leaves the previous state and concurrent writers wait for each other instead of losing work.

Example:
    >>> from seedprints.registry import Registry
    >>> with Registry.open("refs.db") as reg:                          # doctest: +SKIP
    ...     reg.add(fp, name="llama-2-7b", tags={"family": "llama"})
    ...     [e.name for e in reg.entries(tags={"family": "llama"})]
    ['llama-2-7b']
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

from seedprints.encoding import RankedFingerprint, decode, encode, rank_fingerprint
from seedprints.errors import FingerprintFormatError, RegistryError, UsageError
from seedprints.fingerprint import Fingerprint, short_repr
from seedprints.inputs import special_file
from seedprints.probes import ProbeSpec
from seedprints.registry import schema

DEFAULT_TIMEOUT_S = 30.0
MAX_NAME_CHARS = 200
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ENTRY_COLUMNS = (
    "id, name, probe_hash, spec, model_id, hidden_size, n, n_logits, metadata, source_path, source_sha256, "
    "encoding_sha256, length(encoding), created_at"
)


@dataclasses.dataclass(frozen=True)
class RegistryEntry:
    """What the registry knows about one fingerprint (everything but its encoded ranks).

    Attributes
    ----------
    name : str
        Unique name of the entry.
    probe_hash, spec : str, ProbeSpec
        The probes the fingerprint was made with; only entries of equal hash can be compared.
    model_id : str
        Where the model came from (path or hub name).
    hidden_size, n, n_logits : int
        Width d, number of probes N, and number of recorded logit tokens m (0 when none).
    tags : dict of str to str
        Free-form labels (family, seed, license, ...).
    metadata : dict of str to str
        The fingerprint's header fields (dtype, config hash, versions, ...).
    source_path, source_sha256 : str or None
        The file or model directory it was added from, and the SHA-256 of a fingerprint file's bytes.
    encoding_sha256 : str
        SHA-256 of the stored encoding, checked whenever the entry is read.
    encoded_bytes : int
        Size of the stored encoding.
    created_at : str
        When the entry was added (UTC, ISO 8601).
    """

    name: str
    probe_hash: str
    spec: ProbeSpec
    model_id: str
    hidden_size: int
    n: int
    n_logits: int
    tags: dict[str, str]
    metadata: dict[str, str]
    source_path: str | None
    source_sha256: str | None
    encoding_sha256: str
    encoded_bytes: int
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; the probe spec as its JSON object."""
        fields = dataclasses.asdict(self)
        fields["spec"] = json.loads(self.spec.to_json())
        return fields


def check_name(name: str, *, option: str | None = None) -> str:
    """Refuse names that are empty, too long, unprintable, padded with spaces, start with '-' (a command line would
    read them as options) or contain a path separator. ``option`` names the CLI flag that gave the name, for advice.

    Raises TypeError for a name that is not a str, UsageError for a bad one.
    """
    if not isinstance(name, str):
        raise TypeError(f"an entry name must be a str, got {type(name).__name__} {short_repr(name)}")
    if not name.strip():
        raise UsageError(f"an entry name must not be empty; {f'pass {option}' if option else 'give a name'}")
    problem = None
    if len(name) > MAX_NAME_CHARS:
        problem = f"is {len(name)} characters long (at most {MAX_NAME_CHARS})"
    elif not name.isprintable():
        problem = "contains unprintable characters"
    elif "/" in name or "\\" in name:
        problem = "contains a path separator"
    elif name != name.strip():
        problem = "starts or ends with a space"
    elif name.startswith("-"):
        problem = "starts with '-', which seedprints commands would read as an option"
    if problem:
        raise UsageError(f"entry name {name[:MAX_NAME_CHARS]!r} {problem}; choose another {option or 'name'}")
    return name


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Tags are a mapping of printable strings; keys non-empty without '=' (the CLI writes them KEY=VALUE).

    Raises TypeError when ``tags`` is not a mapping of str to str, UsageError for a bad key or value.
    """
    if tags is not None and not isinstance(tags, Mapping):
        raise TypeError(f"tags must be a dict of str to str such as {{'family': 'llama'}}, got {type(tags).__name__}")
    tags = dict(tags or {})
    for key, value in tags.items():
        if not (isinstance(key, str) and isinstance(value, str)):
            raise TypeError(f"tag {short_repr(key)}={short_repr(value)}: keys and values must be strings")
        if not key.strip() or "=" in key or len(key) > MAX_NAME_CHARS or not key.isprintable():
            raise UsageError(f"bad tag key {key[:MAX_NAME_CHARS]!r}: use a short printable key without '='")
        if len(value) > MAX_NAME_CHARS or not value.isprintable():
            raise UsageError(f"bad value for tag {key!r}: use at most {MAX_NAME_CHARS} printable characters")
    return dict(sorted(tags.items()))


def registry_files(path: Path) -> tuple[Path, ...]:
    """The registry file and the journals SQLite keeps beside it, none of which an output may replace."""
    return tuple(path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm", "-journal"))


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Registry:
    """An open registry file. Use :meth:`open`, preferably as a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, timeout: float = DEFAULT_TIMEOUT_S) -> "Registry":
        """Open (or, with ``create``, create) the registry at ``path``.

        Parameters
        ----------
        path : str or Path
            SQLite file; a new one's folder must exist.
        create : bool
            Create an empty registry when the file does not exist (else RegistryError).
        timeout : float
            Seconds to wait for another process's write lock before giving up.

        Raises
        ------
        RegistryError
            The file is not a seedprints registry, is from a newer schema, is locked, or cannot be opened.
        """
        path = Path(path)
        check_path(path, create)
        try:
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise RegistryError(f"cannot open registry {path}: {exc}; check the path and its permissions") from exc
        try:
            with _sqlite_errors(path):
                conn.execute("PRAGMA foreign_keys = ON")
                schema.prepare(conn, path)
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode != "wal":
                    raise RegistryError(f"registry {path} cannot use write-ahead logging (journal mode {mode}); put it on a local disk")
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: all of it is committed, or none of it (also on Ctrl-C)."""
        with _sqlite_errors(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # SQLite may have rolled back by itself (e.g. disk full)
                    self._conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside the block all see the same state of the registry, whatever other processes write meanwhile."""
        with _sqlite_errors(self.path):
            self._conn.execute("BEGIN")
            try:
                yield
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")

    def export(self, path: str | Path, *, names: list[str] | None = None, tags: dict[str, str] | None = None) -> list[RegistryEntry]:
        """Write the chosen entries (all by default) to a portable archive; see :func:`seedprints.registry.archive.export_archive`."""
        from seedprints.registry.archive import export_archive

        return export_archive(self, path, names=names, tags=tags)

    def import_archive(self, path: str | Path, *, replace: bool = False) -> list[RegistryEntry]:
        """Add every entry of an archive, all or nothing; see :func:`seedprints.registry.archive.import_archive`."""
        from seedprints.registry.archive import import_archive

        return import_archive(self, path, replace=replace)

    def add(
        self,
        fp: Fingerprint | RankedFingerprint,
        *,
        name: str,
        tags: dict[str, str] | None = None,
        source: str | Path | None = None,
        replace: bool = False,
    ) -> RegistryEntry:
        """Register a fingerprint under ``name``.

        Parameters
        ----------
        fp : Fingerprint or RankedFingerprint
            Stored as its compact rank encoding.
        name : str
            Unique name: non-empty, printable, no path separator, at most 200 characters.
        tags : dict of str to str, optional
            Free-form labels.
        source : str or Path, optional
            Where it came from; when it is a file and ``fp`` is a full fingerprint, the SHA-256 of its bytes is recorded.
        replace : bool
            Overwrite an entry of the same name instead of refusing.

        Raises
        ------
        RegistryError
            An entry of that name exists (and not ``replace``), or the registry is locked.
        UsageError
            Bad name or tags.
        TypeError
            ``fp`` is not a fingerprint, ``name`` not a str, or ``tags`` not a dict of str to str.
        """
        if not isinstance(fp, (Fingerprint, RankedFingerprint)):
            raise TypeError(f"Registry.add takes a Fingerprint or RankedFingerprint, got {type(fp).__name__}; "
                            "load one with seedprints.load_fingerprint(path)")
        check_name(name)
        tags = check_tags(tags)
        if isinstance(fp, Fingerprint):
            fp = rank_fingerprint(fp, source_sha256=sha256_file(source) if source is not None and Path(source).is_file() else None)
        blob = encode(fp)
        source_path = str(Path(source).resolve()) if source is not None else None
        with self._write() as conn:
            if replace:
                conn.execute("DELETE FROM entries WHERE name = ?", (name,))
            elif conn.execute("SELECT 1 FROM entries WHERE name = ?", (name,)).fetchone():
                raise RegistryError(f"registry {self.path} already has an entry named {name!r}; choose another --name or pass --replace")
            _insert(conn, name, fp, tags, blob, source_path, _now())
        return self.get(name)

    def entries(self, *, probe_hash: str | None = None, tags: dict[str, str] | None = None) -> list[RegistryEntry]:
        """Entries sorted by name (no encodings loaded), optionally only those of one probe hash and with all ``tags``."""
        where, params = _filters(probe_hash, tags)
        with _sqlite_errors(self.path):
            rows = self._conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM entries{where} ORDER BY name", params).fetchall()
            return self._entries(rows)

    def get(self, name: str) -> RegistryEntry:
        """The entry called ``name``; RegistryError if there is none."""
        with _sqlite_errors(self.path):
            rows = self._conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE name = ?", (name,)).fetchall()
            if not rows:
                raise RegistryError(f"registry {self.path} has no entry named {name!r}; see `seedprints registry list`")
            return self._entries(rows)[0]

    def ranked(self, *, probe_hash: str, names: list[str] | None = None) -> Iterator[tuple[RegistryEntry, RankedFingerprint]]:
        """Decode the entries of one probe hash (optionally only ``names``), in name order, one at a time.

        Each encoding is checked against its stored SHA-256 first; a mismatch raises RegistryError naming the entry.
        """
        if names is not None:
            for name in names:
                self.get(name)
        for entry in self.entries(probe_hash=probe_hash):
            if names is not None and entry.name not in names:
                continue
            with _sqlite_errors(self.path):
                row = self._conn.execute("SELECT encoding FROM entries WHERE name = ?", (entry.name,)).fetchone()
            if row is None:
                continue  # removed by another process since the listing
            yield entry, self._decode(entry, bytes(row[0]))

    def encoding(self, name: str) -> tuple[RegistryEntry, bytes]:
        """The entry called ``name`` and its stored encoding, checked against its SHA-256 (for archives)."""
        entry = self.get(name)
        with _sqlite_errors(self.path):
            row = self._conn.execute("SELECT encoding FROM entries WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise RegistryError(f"registry {self.path}: entry {name!r} was removed meanwhile; try again")
        blob = bytes(row[0])
        self._decode(entry, blob)
        return entry, blob

    def _decode(self, entry: RegistryEntry, blob: bytes) -> RankedFingerprint:
        if hashlib.sha256(blob).hexdigest() != entry.encoding_sha256:
            raise RegistryError(
                f"registry {self.path}: entry {entry.name!r} is corrupt (its encoding does not match its SHA-256); "
                "remove it and add it again"
            )
        try:
            ranked = decode(blob, source=f"registry entry {entry.name!r}")
        except FingerprintFormatError as exc:
            raise RegistryError(f"registry {self.path}: {exc}; remove the entry and add it again") from exc
        if ranked.probe_hash != entry.probe_hash:
            raise RegistryError(f"registry {self.path}: entry {entry.name!r} disagrees with its probe hash; remove it and add it again")
        return ranked

    def remove(self, name: str) -> None:
        """Delete the entry called ``name`` (and its tags); RegistryError if there is none."""
        with self._write() as conn:
            if conn.execute("DELETE FROM entries WHERE name = ?", (name,)).rowcount == 0:
                raise RegistryError(f"registry {self.path} has no entry named {name!r}; see `seedprints registry list`")

    def probe_specs(self) -> dict[str, tuple[ProbeSpec, int]]:
        """Every probe hash present, with its spec and number of entries."""
        with _sqlite_errors(self.path):
            rows = self._conn.execute("SELECT probe_hash, min(spec), count(*) FROM entries GROUP BY probe_hash ORDER BY probe_hash").fetchall()
        return {probe_hash: (ProbeSpec.from_json(spec), count) for probe_hash, spec, count in rows}

    def record_scan(self, suspect: str, settings: dict, results: list[dict]) -> int:
        """Log a scan of ``suspect`` against the registry (settings and per-entry results as JSON); returns its id."""
        try:
            settings_json = json.dumps(settings, sort_keys=True, allow_nan=False)
            results_json = json.dumps(results, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"scan settings and results must be plain JSON values (no NaN): {exc}") from exc
        with self._write() as conn:
            return int(conn.execute(
                "INSERT INTO scans (suspect, created_at, settings, results) VALUES (?, ?, ?, ?)",
                (suspect, _now(), settings_json, results_json),
            ).lastrowid)

    def scans(self) -> list[dict[str, Any]]:
        """Every logged scan, oldest first: id, suspect, created_at, settings, results."""
        with _sqlite_errors(self.path):
            rows = self._conn.execute("SELECT id, suspect, created_at, settings, results FROM scans ORDER BY id").fetchall()
        return [
            {"id": i, "suspect": s, "created_at": c, "settings": json.loads(st), "results": json.loads(r)}
            for i, s, c, st, r in rows
        ]

    def taken(self, names: list[str]) -> list[str]:
        """Those of ``names`` that already name an entry."""
        with _sqlite_errors(self.path):
            return [n for n in names if self._conn.execute("SELECT 1 FROM entries WHERE name = ?", (n,)).fetchone()]

    def add_many(self, items: Iterable[NewEntry], *, replace: bool) -> None:
        """Write several entries in one transaction: all of them or none (an exception from ``items`` rolls
        everything back). Without ``replace``, names already present are refused and listed."""
        with self._write() as conn:
            for item in items:
                check_name(item.name)
                exists = conn.execute("SELECT 1 FROM entries WHERE name = ?", (item.name,)).fetchone()
                if exists and not replace:
                    raise RegistryError(
                        f"registry {self.path} already has an entry named {item.name!r}; remove it or pass --replace"
                    )
                conn.execute("DELETE FROM entries WHERE name = ?", (item.name,))
                _insert(conn, item.name, item.ranked, check_tags(item.tags), item.blob, item.source_path, item.created_at)

    def _entries(self, rows: list[tuple]) -> list[RegistryEntry]:
        tags: dict[int, dict[str, str]] = {row[0]: {} for row in rows}
        if rows:
            ids = list(tags)
            for start in range(0, len(ids), 500):  # SQLite limits the number of bound parameters
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for entry, key, value in self._conn.execute(
                    f"SELECT entry, key, value FROM tags WHERE entry IN ({marks}) ORDER BY key", chunk
                ):
                    tags[entry][key] = value
        return [
            RegistryEntry(
                name=name, probe_hash=probe_hash, spec=ProbeSpec.from_json(spec), model_id=model_id,
                hidden_size=hidden_size, n=n, n_logits=n_logits, tags=tags[entry_id], metadata=json.loads(metadata),
                source_path=source_path, source_sha256=source_sha256, encoding_sha256=encoding_sha256,
                encoded_bytes=encoded_bytes, created_at=created_at,
            )
            for (entry_id, name, probe_hash, spec, model_id, hidden_size, n, n_logits, metadata, source_path,
                 source_sha256, encoding_sha256, encoded_bytes, created_at) in rows
        ]


class NewEntry(NamedTuple):
    """An entry to write with :meth:`Registry.add_many` (e.g. read from an archive)."""

    name: str
    tags: dict[str, str]
    ranked: RankedFingerprint
    blob: bytes
    source_path: str | None
    created_at: str


def _insert(
    conn: sqlite3.Connection, name: str, ranked: RankedFingerprint, tags: dict[str, str], blob: bytes,
    source_path: str | None, created_at: str,
) -> None:
    n_logits = 0 if ranked.logit_ranks is None else int(ranked.logit_ranks.shape[1])
    cursor = conn.execute(
        "INSERT INTO entries (name, probe_hash, spec, model_id, hidden_size, n, n_logits, metadata, source_path, "
        "source_sha256, encoding, encoding_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            name, ranked.probe_hash, ranked.spec.to_json(), ranked.model_id, ranked.hidden_size, ranked.n, n_logits,
            json.dumps(ranked.metadata, sort_keys=True), source_path, ranked.source_sha256, blob,
            hashlib.sha256(blob).hexdigest(), created_at,
        ),
    )
    conn.executemany("INSERT INTO tags (entry, key, value) VALUES (?, ?, ?)", [(cursor.lastrowid, k, v) for k, v in tags.items()])


def _filters(probe_hash: str | None, tags: dict[str, str] | None) -> tuple[str, list[str]]:
    clauses, params = [], []
    if probe_hash is not None:
        clauses.append("probe_hash = ?")
        params.append(probe_hash)
    for key, value in (tags or {}).items():
        clauses.append("id IN (SELECT entry FROM tags WHERE key = ? AND value = ?)")
        params += [key, value]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def check_path(path: Path, create: bool) -> None:
    """Refuse a pipe or device, a directory, a missing file (unless ``create``) or a missing folder, and a file
    that is not SQLite, before SQLite touches it (SQLite would block on a FIFO and write a journal beside a device)."""
    if special_file(path):
        raise RegistryError(f"registry {path} is not a regular file (a pipe or device); give a registry file such as registry.db")
    if path.is_dir():
        raise RegistryError(f"registry {path} is a directory; give a file path such as {path / 'registry.db'}")
    if not path.exists():
        if not create:
            raise RegistryError(f"registry {path} does not exist; add a fingerprint first with `seedprints registry add`")
        folder = path.parent
        if not folder.is_dir():
            raise RegistryError(f"cannot create registry {path}: folder {folder} does not exist; create it first")
        if not os.access(folder, os.W_OK):
            raise RegistryError(f"cannot create registry {path}: folder {folder} is not writable; choose another --registry")
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise RegistryError(f"cannot read registry {path}: {exc.strerror}; check its permissions") from exc
    if head and head != _SQLITE_MAGIC:
        raise RegistryError(f"{path} is not a seedprints registry (not an SQLite database); choose another --registry path")


@contextlib.contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """SQLite's errors as one RegistryError line: locked, corrupt, or anything else."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise RegistryError(f"registry {path} is locked by another process; try again") from exc
        raise RegistryError(f"registry {path}: {exc}; check the file and its permissions") from exc
    except sqlite3.DatabaseError as exc:
        raise RegistryError(f"registry {path} is damaged ({exc}); restore it from a backup or an export") from exc
