"""The shared registry backend: a PostgreSQL database that a team's machines all reach (psycopg 3).

Writers take one transaction-scoped advisory lock, so they run one at a time exactly as on SQLite
(``BEGIN IMMEDIATE``); a client killed mid-transaction loses its connection and the server rolls the
transaction back. Snapshots are REPEATABLE READ transactions. The table ``seedprints_registry`` marks a
database as ours and holds its schema version.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from seedprints.errors import RegistryError
from seedprints.registry.database import Database, rollback_on_error
from seedprints.registry.location import RegistryLocation
from seedprints.registry.schema import checked_version, prepare

if TYPE_CHECKING:
    from seedprints.registry.entries import Indexer

WRITE_LOCK = int.from_bytes(b"SdPr", "big")  # the advisory lock every writer of a registry holds
_MARK = "seedprints_registry"
_PLACEHOLDER = re.compile(r"\?")


class PostgresDatabase(Database):
    """A registry in a PostgreSQL database, reached by URL."""

    id_type = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    blob_type = "BYTEA"

    def __init__(self, conn: Any, location: RegistryLocation) -> None:
        self._conn = conn
        self.location = location

    @classmethod
    def connect(
        cls, location: RegistryLocation, *, create: bool, timeout: float, index: Indexer | None = None
    ) -> "PostgresDatabase":
        """Connect to the server as a registry of the current schema; ``create`` lets an empty database become one."""
        try:
            import psycopg
        except ImportError as exc:
            raise RegistryError("a PostgreSQL registry needs psycopg 3; install it with `pip install 'psycopg[binary]'`") from exc
        try:
            conn = psycopg.connect(location.url, autocommit=True, connect_timeout=max(1, int(timeout)))
        except psycopg.Error as exc:
            raise RegistryError(
                f"cannot connect to registry {location}: {_first_line(exc)}; check the URL and that the server runs"
            ) from exc
        except ValueError as exc:  # psycopg refuses a malformed URL this way
            raise RegistryError(f"registry URL {location} is malformed ({exc}); write postgresql://USER@HOST/DATABASE") from exc
        db = cls(conn, location)
        try:
            with db.errors():
                db.execute(f"SET lock_timeout = {int(timeout * 1000)}")
                if not create and db.schema_version() == 0:
                    raise RegistryError(f"registry {db.location} has no entries yet; add a fingerprint first with `seedprints registry add`")
            prepare(db, index)
        except BaseException:
            conn.close()
            raise
        return db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(_PLACEHOLDER.sub("%s", sql), params or None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(_PLACEHOLDER.sub("%s", sql), rows)

    def _in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self._conn.info.transaction_status != TransactionStatus.IDLE

    def write(self) -> contextlib.AbstractContextManager[None]:
        return rollback_on_error(self, ["BEGIN", f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"], self._in_transaction)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        with self.errors():
            self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            try:
                yield
            finally:
                if self._in_transaction():
                    self.execute("COMMIT")

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        import psycopg
        from psycopg import errors

        try:
            yield
        except errors.LockNotAvailable as exc:
            raise RegistryError(f"registry {self.location} is locked by another writer; try again") from exc
        except psycopg.OperationalError as exc:
            raise RegistryError(f"registry {self.location}: {_first_line(exc)}; check that the server runs and try again") from exc
        except psycopg.Error as exc:
            raise RegistryError(f"registry {self.location}: {_first_line(exc)}; check the database and your permissions") from exc

    def damage(self) -> None:
        """None: there is no file here to damage. The server guards its own pages (data checksums, WAL replay after a
        crash) and fails a read of a corrupt page by itself; seedprints adds no check of its own."""
        return None

    def schema_version(self) -> int:
        tables = {row[0] for row in self.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()}
        if _MARK not in tables:
            if tables:
                raise RegistryError(f"{self.location} is not a seedprints registry (a database with other tables); "
                                    "create an empty database for the registry")
            return 0
        row = self.execute(f"SELECT schema_version FROM {_MARK}").fetchone()
        version = 0 if row is None else int(row[0])
        return checked_version(version, self.location)

    def set_schema_version(self, version: int) -> None:
        self.execute(f"CREATE TABLE IF NOT EXISTS {_MARK} (schema_version INTEGER NOT NULL)")
        self.execute(f"DELETE FROM {_MARK}")
        self.execute(f"INSERT INTO {_MARK} (schema_version) VALUES (?)", (int(version),))

    def close(self) -> None:
        self._conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
