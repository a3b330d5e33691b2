"""The registry's SQLite schema, how a file is recognised as ours, and the migrations from older schemas.

A registry file carries ``PRAGMA application_id`` = :data:`APPLICATION_ID` (so a foreign SQLite file
is refused by name) and ``PRAGMA user_version`` = its schema version. Opening a file of an older
schema migrates it step by step inside one transaction; a newer schema is refused.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable

from seedprints.errors import RegistryError

APPLICATION_ID = int.from_bytes(b"SdPr", "big")  # stored in the SQLite header: marks the file as a seedprints registry
SCHEMA_VERSION = 2

CREATE = (
    """CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
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
        encoding BLOB NOT NULL,
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
        id INTEGER PRIMARY KEY,
        suspect TEXT NOT NULL,
        created_at TEXT NOT NULL,
        settings TEXT NOT NULL,
        results TEXT NOT NULL
    )""",
)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Schema 1 kept tags as a JSON object in ``entries.tags`` and had no scan log: move tags into their
    own table (so they can be indexed and filtered) and add ``scans``."""
    for statement in CREATE[2:]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO tags (entry, key, value) SELECT entries.id, t.key, CAST(t.value AS TEXT) "
        "FROM entries, json_each(entries.tags) AS t"
    )
    conn.execute("ALTER TABLE entries DROP COLUMN tags")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2}  # from version k to k + 1


def prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Make ``conn`` a registry of the current schema: create an empty database, migrate an older one,
    refuse a foreign or newer one. Runs in one ``BEGIN IMMEDIATE`` transaction when it writes."""
    if _version(conn, path) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn, path)  # again, under the write lock: another process may have done it meanwhile
        if version == 0:
            for statement in CREATE:
                conn.execute(statement)
        else:
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](conn)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _version(conn: sqlite3.Connection, path: Path) -> int:
    """Schema version of the file, 0 for an empty database; refuses foreign and newer files."""
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if application_id == 0 and version == 0:
        if conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
            raise RegistryError(f"{path} is not a seedprints registry (an SQLite database of another program); choose another --registry path")
        return 0
    if application_id != APPLICATION_ID:
        raise RegistryError(f"{path} is not a seedprints registry (an SQLite database of another program); choose another --registry path")
    if version > SCHEMA_VERSION:
        raise RegistryError(f"registry {path} was written by a newer seedprints (schema {version}); upgrade seedprints")
    if version < 1:
        raise RegistryError(f"registry {path} has no schema version; it is damaged, restore it from a backup or an export")
    return version
