"""The registry's schema, shared by every backend, and the migrations from older schemas.

Opening a registry of an older schema migrates it step by step inside one write transaction; a newer
schema is refused. Schema 3 added a table for each entry's search index (the stage-1 data of a scan), which the
registry stores but does not make: whoever opens it passes the function that does (:data:`~seedprints.registry.entries.Indexer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from seedprints.errors import FingerprintFormatError, RegistryError

if TYPE_CHECKING:
    from seedprints.registry.database import Database
    from seedprints.registry.entries import Indexer
    from seedprints.registry.location import RegistryLocation

SCHEMA_VERSION = 3

CREATE = (
    """CREATE TABLE entries (
        id {id_type},
        name TEXT NOT NULL UNIQUE,
        probe_hash TEXT NOT NULL,
        spec TEXT NOT NULL,
        model_id TEXT NOT NULL,
        hidden_size INTEGER NOT NULL,
        n INTEGER NOT NULL,
        n_logits INTEGER NOT NULL,
        metadata TEXT NOT NULL,
        source_path TEXT,
        source_sha256 TEXT,
        encoding {blob_type} NOT NULL,
        encoding_sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX entries_probe_hash ON entries (probe_hash)",
    """CREATE TABLE tags (
        entry INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (entry, key)
    )""",
    "CREATE INDEX tags_key_value ON tags (key, value)",
    """CREATE TABLE scans (
        id {id_type},
        suspect TEXT NOT NULL,
        created_at TEXT NOT NULL,
        settings TEXT NOT NULL,
        results TEXT NOT NULL
    )""",
    """CREATE TABLE screens (
        entry INTEGER PRIMARY KEY REFERENCES entries (id) ON DELETE CASCADE,
        data {blob_type} NOT NULL
    )""",
)


def _statements(db: Database, statements: tuple[str, ...]) -> None:
    for statement in statements:
        db.execute(statement.format(id_type=db.id_type, blob_type=db.blob_type))


def _v1_to_v2(db: Database, index: Indexer | None) -> None:
    """Schema 1 kept tags as a JSON object in ``entries.tags`` and had no scan log: move tags into their
    own table (so they can be indexed and filtered) and add ``scans``. Only SQLite registries were ever of schema 1."""
    _statements(db, CREATE[2:5])
    db.execute(
        "INSERT INTO tags (entry, key, value) SELECT entries.id, t.key, CAST(t.value AS TEXT) "
        "FROM entries, json_each(entries.tags) AS t"
    )
    db.execute("ALTER TABLE entries DROP COLUMN tags")


def _v2_to_v3(db: Database, index: Indexer | None) -> None:
    """Add the table of search indexes, and with an ``index`` the index of every entry, made from its stored ranks
    (an entry that does not decode gets none: the scan then tests it in full, and reports it as corrupt)."""
    _statements(db, CREATE[5:])
    if index is None:
        return
    from seedprints.encoding import decode  # the rank code, for this one migration only (start-up of every open)

    for (entry,) in db.execute("SELECT id FROM entries ORDER BY id").fetchall():
        blob = bytes(db.execute("SELECT encoding FROM entries WHERE id = ?", (entry,)).fetchone()[0])
        try:
            data = index(decode(blob))
        except FingerprintFormatError:
            continue
        if data is not None:
            db.execute("INSERT INTO screens (entry, data) VALUES (?, ?)", (entry, data))


MIGRATIONS: dict[int, Callable[[Database, "Indexer | None"], None]] = {1: _v1_to_v2, 2: _v2_to_v3}  # from version k to k + 1


def checked_version(version: int, location: RegistryLocation) -> int:
    """``version`` of a registry marked as ours; refuses a newer schema and a missing version."""
    if version > SCHEMA_VERSION:
        raise RegistryError(f"registry {location} was written by a newer seedprints (schema {version}); upgrade seedprints")
    if version < 1:
        raise RegistryError(f"registry {location} has no schema version; it is damaged, restore it from a backup or an export")
    return version


def prepare(db: Database, index: Indexer | None = None) -> None:
    """Make ``db`` a registry of the current schema: create an empty database, migrate an older one (``index``
    makes the search index a migration adds), refuse a foreign or newer one. Runs in one write transaction when it
    writes."""
    with db.errors():
        if db.schema_version() == SCHEMA_VERSION:
            return
    with db.write():
        version = db.schema_version()  # again, under the write lock: another process may have done it meanwhile
        if version == 0:
            _statements(db, CREATE)
        else:
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](db, index)
        db.set_schema_version(SCHEMA_VERSION)
