"""The registry: named, tagged fingerprints in a SQLite file or a PostgreSQL database, safe with several writers.

Each entry stores the compact rank encoding of a fingerprint (:mod:`seedprints.encoding`) with its
SHA-256, so tests on an entry give the same numbers as on the full fingerprint, and the search index of the entry
when the registry was opened with an ``index``: bytes the registry stores and reads but does not make or parse
(``seedprints.Registry`` passes the stage-1 data of a scan, :mod:`seedprints.search.index`). Every write is one transaction holding the registry's write
lock (:mod:`seedprints.registry.database`), so a crash or Ctrl-C leaves the previous state and
concurrent writers wait for each other instead of losing work.

Example:
    >>> from seedprints.registry import Registry
    >>> with Registry.open("refs.db") as reg:                          # doctest: +SKIP
    ...     reg.add(fp, name="llama-2-7b", tags={"family": "llama"})
    ...     [e.name for e in reg.entries(tags={"family": "llama"})]
    ['llama-2-7b']
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from seedprints.errors import FingerprintFormatError, RegistryError, UsageError
from seedprints.probes import ProbeSpec
from seedprints.registry.database import Database
from seedprints.registry.entries import Indexer, NewEntry, RegistryEntry, check_name, check_tags, now, sha256_file
from seedprints.registry.location import RegistryLocation

if TYPE_CHECKING:
    from seedprints.encoding import RankedFingerprint
    from seedprints.fingerprint import Fingerprint

DEFAULT_TIMEOUT_S = 30.0
INDEX_PAGE = 256  # entries per page of the search index (stage-1 data: about 64 MB at d=768)
_ENTRY_COLUMNS = (
    "id, name, probe_hash, spec, model_id, hidden_size, n, n_logits, metadata, source_path, source_sha256, "
    "encoding_sha256, length(encoding), created_at"
)


class Registry:
    """An open registry (SQLite file or PostgreSQL database). Use :meth:`open`, preferably as a context manager.

    ``path`` is where it is, a :class:`~seedprints.registry.location.RegistryLocation` (it prints as the file, or
    the server URL without its password). ``index`` makes the search index stored beside each entry added (None:
    entries get none, and a scan tests them in full).
    """

    def __init__(self, db: Database, index: Indexer | None = None) -> None:
        self._db = db
        self._index = index
        self.path: RegistryLocation = db.location

    @classmethod
    def open(
        cls, path: str | Path | RegistryLocation, *, create: bool = True, timeout: float = DEFAULT_TIMEOUT_S,
        index: Indexer | None = None,
    ) -> "Registry":
        """Open (or, with ``create``, create) the registry at ``path``.

        Parameters
        ----------
        path : str, Path or RegistryLocation
            A SQLite file (``~`` expanded; a new one's folder must exist), or a ``postgresql://`` URL of a
            database that is empty or already a registry.
        create : bool
            Create an empty registry when there is none yet (else RegistryError).
        timeout : float
            Seconds to wait for another process's write lock (or the server) before giving up.
        index : callable, optional
            ``RankedFingerprint -> bytes | None``: the search index to store beside each entry written (by
            :meth:`add`, :meth:`import_archive`, and a migration from schema 2). ``seedprints.Registry`` passes
            the stage-1 data of identify's scan.

        Raises
        ------
        RegistryError
            Not a seedprints registry, from a newer schema, locked, unreachable, or cannot be opened.
        """
        return cls(_open_database(RegistryLocation.parse(path), create=create, timeout=timeout, index=index), index)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def damage(self) -> str | None:
        """What the backend's integrity check finds wrong with the registry (a SQLite file's ``PRAGMA quick_check``), or
        None; a damaged registry can still be read and exported, but every write refuses it. Reads the whole file."""
        with self._db.errors():
            return self._db.damage()

    def check_intact(self) -> None:
        """RegistryError, the same line a write would give, when the registry is damaged (see :meth:`damage`)."""
        with self._db.errors():
            self._db.check_intact()

    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """Reads inside the block all see the same state of the registry, whatever other processes write meanwhile."""
        return self._db.snapshot()

    def export(self, path: str | Path, *, names: list[str] | None = None, tags: dict[str, str] | None = None) -> list[RegistryEntry]:
        """Write the chosen entries (all, or ``names``, or those with all ``tags``) to a portable archive, atomically
        (:mod:`seedprints.registry.archive`); returns the entries written.

        Raises RegistryError for an unknown name or an empty selection, and OutputPathError for a target that is a
        folder, a pipe or device, or the registry's own file.
        """
        from seedprints.registry import archive  # tarfile: only for the verbs that read or write archives

        with self.snapshot():
            chosen = self.entries(tags=tags)
            if names is not None:
                wanted = set(names)
                for name in names:
                    self.get(name)
                chosen = [e for e in chosen if e.name in wanted]
            if not chosen:
                raise RegistryError(f"no entries of registry {self.path} match; nothing exported")
            archive.write_archive(path, chosen, lambda name: self.encoding(name)[1], self.path)
        return chosen

    def import_archive(self, path: str | Path, *, replace: bool = False) -> list[RegistryEntry]:
        """Add every entry of an archive, all or nothing; returns them in archive order.

        Raises ArchiveError for a corrupt, truncated, foreign, unsafe or newer archive (nothing is written),
        RegistryError when names are already taken (listed) and not ``replace``.
        """
        from seedprints.registry import archive  # tarfile: only for the verbs that read or write archives

        names = archive.verify_archive(path)  # pass 1: every checksum and encoding, nothing written
        taken = self.taken(names)
        if taken and not replace:
            raise RegistryError(
                f"registry {self.path} already has entries named {', '.join(map(repr, taken))}; "
                "remove them or import with --replace"
            )
        self.add_many(archive.read_archive(path), replace=replace)  # pass 2, inside the transaction: it may have changed
        return [self.get(name) for name in names]

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
        # the rank code (numpy, the lineage module's ranks) only where an entry is written or read: registry list,
        # show and remove start without it (bench/bench_startup.py)
        from seedprints.encoding import RankedFingerprint, encode, rank_fingerprint
        from seedprints.fingerprint import Fingerprint

        if not isinstance(fp, (Fingerprint, RankedFingerprint)):
            raise TypeError(f"Registry.add takes a Fingerprint or RankedFingerprint, got {type(fp).__name__}; "
                            "load one with seedprints.load_fingerprint(path)")
        check_name(name)
        tags = check_tags(tags)
        if isinstance(fp, Fingerprint):
            fp = rank_fingerprint(fp, source_sha256=sha256_file(source) if source is not None and Path(source).is_file() else None)
        blob = encode(fp)
        source_path = str(Path(source).resolve()) if source is not None else None
        with self._db.write():
            if replace:
                self._db.execute("DELETE FROM entries WHERE name = ?", (name,))
            elif self._db.execute("SELECT 1 FROM entries WHERE name = ?", (name,)).fetchone():
                raise RegistryError(f"registry {self.path} already has an entry named {name!r}; choose another --name or pass --replace")
            _insert(self._db, name, fp, tags, blob, source_path, now(), self._index)
        return self.get(name)

    def entries(self, *, probe_hash: str | None = None, tags: dict[str, str] | None = None) -> list[RegistryEntry]:
        """Entries sorted by name (no encodings loaded), optionally only those of one probe hash and with all ``tags``."""
        where, params = _filters(probe_hash, tags)
        with self._db.errors():
            rows = self._db.execute(f"SELECT {_ENTRY_COLUMNS} FROM entries{where} ORDER BY name", params).fetchall()
            return self._entries(rows)

    def get(self, name: str) -> RegistryEntry:
        """The entry called ``name``; RegistryError if there is none."""
        with self._db.errors():
            rows = self._db.execute(f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE name = ?", (name,)).fetchall()
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
            with self._db.errors():
                row = self._db.execute("SELECT encoding FROM entries WHERE name = ?", (entry.name,)).fetchone()
            if row is None:
                continue  # removed by another process since the listing
            yield entry, self._decode(entry, bytes(row[0]))

    def index_pages(self, *, probe_hash: str) -> Iterator[list[tuple[str, bytes | None]]]:
        """The stored search index of every entry of one probe hash, by entry name, a page at a time (None: the entry
        has none, e.g. it holds too few probes or was added without an ``index``). Read inside :meth:`snapshot` for
        one consistent state."""
        last = -1
        while True:
            with self._db.errors():
                rows = self._db.execute(
                    "SELECT entries.id, entries.name, screens.data FROM entries LEFT JOIN screens ON screens.entry = entries.id "
                    "WHERE entries.probe_hash = ? AND entries.id > ? ORDER BY entries.id LIMIT ?",
                    (probe_hash, last, INDEX_PAGE),
                ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [(name, None if data is None else bytes(data)) for _, name, data in rows]

    def encoding(self, name: str) -> tuple[RegistryEntry, bytes]:
        """The entry called ``name`` and its stored encoding, checked against its SHA-256 (for archives)."""
        entry = self.get(name)
        with self._db.errors():
            row = self._db.execute("SELECT encoding FROM entries WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise RegistryError(f"registry {self.path}: entry {name!r} was removed meanwhile; try again")
        blob = bytes(row[0])
        self._decode(entry, blob)
        return entry, blob

    def _decode(self, entry: RegistryEntry, blob: bytes) -> RankedFingerprint:
        from seedprints.encoding import decode  # see add: not for the verbs that only list

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
        with self._db.write():
            if self._db.execute("DELETE FROM entries WHERE name = ?", (name,)).rowcount == 0:
                raise RegistryError(f"registry {self.path} has no entry named {name!r}; see `seedprints registry list`")

    def probe_specs(self) -> dict[str, tuple[ProbeSpec, int]]:
        """Every probe hash present, with its spec and number of entries."""
        with self._db.errors():
            rows = self._db.execute("SELECT probe_hash, min(spec), count(*) FROM entries GROUP BY probe_hash ORDER BY probe_hash").fetchall()
        return {probe_hash: (ProbeSpec.from_json(spec), count) for probe_hash, spec, count in rows}

    def record_scan(self, suspect: str, settings: dict, results: list[dict]) -> int:
        """Log a scan of ``suspect`` against the registry (settings and per-entry results as JSON); returns its id."""
        try:
            settings_json = json.dumps(settings, sort_keys=True, allow_nan=False)
            results_json = json.dumps(results, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"scan settings and results must be plain JSON values (no NaN): {exc}") from exc
        with self._db.write():
            return int(self._db.execute(
                "INSERT INTO scans (suspect, created_at, settings, results) VALUES (?, ?, ?, ?) RETURNING id",
                (suspect, now(), settings_json, results_json),
            ).fetchone()[0])

    def scans(self) -> list[dict[str, Any]]:
        """Every logged scan, oldest first: id, suspect, created_at, settings, results."""
        with self._db.errors():
            rows = self._db.execute("SELECT id, suspect, created_at, settings, results FROM scans ORDER BY id").fetchall()
        return [
            {"id": i, "suspect": s, "created_at": c, "settings": json.loads(st), "results": json.loads(r)}
            for i, s, c, st, r in rows
        ]

    def taken(self, names: list[str]) -> list[str]:
        """Those of ``names`` that already name an entry."""
        with self._db.errors():
            return [n for n in names if self._db.execute("SELECT 1 FROM entries WHERE name = ?", (n,)).fetchone()]

    def add_many(self, items: Iterable[NewEntry], *, replace: bool) -> None:
        """Write several entries in one transaction: all of them or none (an exception from ``items`` rolls
        everything back). Without ``replace``, names already present are refused and listed."""
        with self._db.write():
            for item in items:
                check_name(item.name)
                exists = self._db.execute("SELECT 1 FROM entries WHERE name = ?", (item.name,)).fetchone()
                if exists and not replace:
                    raise RegistryError(
                        f"registry {self.path} already has an entry named {item.name!r}; remove it or pass --replace"
                    )
                self._db.execute("DELETE FROM entries WHERE name = ?", (item.name,))
                _insert(self._db, item.name, item.ranked, check_tags(item.tags), item.blob, item.source_path,
                        item.created_at, self._index)

    def _entries(self, rows: list[tuple]) -> list[RegistryEntry]:
        tags: dict[int, dict[str, str]] = {row[0]: {} for row in rows}
        if rows:
            ids = list(tags)
            for start in range(0, len(ids), 500):  # SQLite limits the number of bound parameters
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for entry, key, value in self._db.execute(
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


def _insert(
    db: Database, name: str, ranked: RankedFingerprint, tags: dict[str, str], blob: bytes,
    source_path: str | None, created_at: str, index: Indexer | None,
) -> None:
    """Write one entry, its tags and, with an ``index``, its search index (inside a write transaction)."""
    n_logits = 0 if ranked.logit_ranks is None else int(ranked.logit_ranks.shape[1])
    entry = db.execute(
        "INSERT INTO entries (name, probe_hash, spec, model_id, hidden_size, n, n_logits, metadata, source_path, "
        "source_sha256, encoding, encoding_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            name, ranked.probe_hash, ranked.spec.to_json(), ranked.model_id, ranked.hidden_size, ranked.n, n_logits,
            json.dumps(ranked.metadata, sort_keys=True), source_path, ranked.source_sha256, blob,
            hashlib.sha256(blob).hexdigest(), created_at,
        ),
    ).fetchone()[0]
    db.executemany("INSERT INTO tags (entry, key, value) VALUES (?, ?, ?)", [(entry, k, v) for k, v in tags.items()])
    data = None if index is None else index(ranked)
    if data is not None:
        db.execute("INSERT INTO screens (entry, data) VALUES (?, ?)", (entry, data))


def _filters(probe_hash: str | None, tags: dict[str, str] | None) -> tuple[str, list[str]]:
    clauses, params = [], []
    if probe_hash is not None:
        clauses.append("probe_hash = ?")
        params.append(probe_hash)
    for key, value in (tags or {}).items():
        clauses.append("id IN (SELECT entry FROM tags WHERE key = ? AND value = ?)")
        params += [key, value]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _open_database(location: RegistryLocation, *, create: bool, timeout: float, index: Indexer | None) -> Database:
    """Connect to the registry at ``location``: a PostgreSQL server or a SQLite file (each backend imports its
    driver, so a SQLite registry never imports psycopg)."""
    if location.is_postgres:
        from seedprints.registry.postgres_db import PostgresDatabase

        return PostgresDatabase.connect(location, create=create, timeout=timeout, index=index)
    from seedprints.registry.sqlite_db import SQLiteDatabase

    return SQLiteDatabase.connect(location, create=create, timeout=timeout, index=index)
