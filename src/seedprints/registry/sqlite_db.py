"""The embedded registry backend: one SQLite file, safe with several processes writing on one machine.

The file runs in WAL mode with a busy timeout; every write is one ``BEGIN IMMEDIATE`` transaction, so
a crash or Ctrl-C leaves the previous state and concurrent writers wait for each other. The file
carries ``PRAGMA application_id`` = :data:`APPLICATION_ID` (a foreign SQLite file is refused by name)
and ``PRAGMA user_version`` = its schema version.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from seedprints.errors import RegistryError
from seedprints.inputs import special_file
from seedprints.registry.database import Database, damaged, rollback_on_error
from seedprints.registry.location import RegistryLocation
from seedprints.registry.schema import checked_version, prepare

if TYPE_CHECKING:
    from seedprints.registry.entries import Indexer

APPLICATION_ID = int.from_bytes(b"SdPr", "big")  # stored in the SQLite header: marks the file as a seedprints registry
_SQLITE_MAGIC = b"SQLite format 3\x00"


class SQLiteDatabase(Database):
    """A registry file opened with :mod:`sqlite3`."""

    id_type = "INTEGER PRIMARY KEY"
    blob_type = "BLOB"

    def __init__(self, conn: sqlite3.Connection, location: RegistryLocation) -> None:
        self._conn = conn
        self.location = location

    @classmethod
    def connect(
        cls, location: RegistryLocation, *, create: bool, timeout: float, index: Indexer | None = None
    ) -> "SQLiteDatabase":
        """Open the file (creating it with ``create``) as a registry of the current schema, in WAL mode."""
        path = location.path
        check_path(path, create)
        try:
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise RegistryError(f"cannot open registry {path}: {exc}; check the path and its permissions") from exc
        db = cls(conn, location)
        try:
            with db.errors():
                conn.execute("PRAGMA foreign_keys = ON")
            prepare(db, index)
            db.use_wal()
        except BaseException:
            conn.close()
            raise
        return db

    def use_wal(self) -> None:
        """Switch to write-ahead logging; refuses a file system that cannot."""
        with self.errors():
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise RegistryError(f"registry {self.location} cannot use write-ahead logging (journal mode {mode}); put it on a local disk")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def write(self) -> contextlib.AbstractContextManager[None]:
        return rollback_on_error(self, ["BEGIN IMMEDIATE"], lambda: self._conn.in_transaction)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        with self.errors():
            self._conn.execute("BEGIN")
            try:
                yield
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        path = self.location
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise RegistryError(f"registry {path} is locked by another process; try again") from exc
            raise RegistryError(f"registry {path}: {exc}; check the file and its permissions") from exc
        except sqlite3.DatabaseError as exc:
            raise damaged(path, exc) from exc

    def damage(self) -> str | None:
        """The first problem ``PRAGMA quick_check`` reports (a bad page, a broken b-tree, a malformed record), or None.

        quick_check rather than integrity_check: it reads every page once (O(N), about 0.3 s per 500 MB from the page
        cache), while integrity_check also matches every index against its table (O(N log N)) for little more here,
        since a damaged page shows in the b-tree walk. That is cheap enough to run before every write.
        """
        try:
            report = self._conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        except sqlite3.DatabaseError as exc:  # too damaged to even walk, e.g. a broken schema page
            return str(exc)
        if report == "ok":
            return None
        lines = [line for line in report.splitlines() if line.strip() and not line.startswith("*** in database")]
        return lines[0] if lines else report

    def schema_version(self) -> int:
        path = self.location
        application_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        foreign = f"{path} is not a seedprints registry (an SQLite database of another program); choose another --registry path"
        if application_id == 0 and version == 0:
            if self._conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
                raise RegistryError(foreign)
            return 0
        if application_id != APPLICATION_ID:
            raise RegistryError(foreign)
        return checked_version(version, path)

    def set_schema_version(self, version: int) -> None:
        self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        self._conn.execute(f"PRAGMA user_version = {int(version)}")

    def close(self) -> None:
        self._conn.close()


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
