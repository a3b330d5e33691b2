"""What the registry needs of a database, whichever it is: statements, one writer at a time, consistent reads.

The store and the schema speak one SQL (``?`` placeholders, ``INSERT ... RETURNING id``) through a
:class:`Database`; the store picks the backend from the parsed :class:`~seedprints.registry.location.RegistryLocation`:
a PostgreSQL server (:mod:`~seedprints.registry.postgres_db`) or a SQLite file (:mod:`~seedprints.registry.sqlite_db`).
"""

from __future__ import annotations

import abc
import contextlib
from typing import Any, Iterator, Sequence

from seedprints.errors import RegistryError
from seedprints.registry.location import RegistryLocation


def damaged(location: RegistryLocation, detail: object) -> RegistryError:
    """The one line for a damaged registry, whether a read stumbles on it (identify) or the check before a write finds it."""
    return RegistryError(f"registry {location} is damaged ({detail}); restore it from a backup or an export")


class Database(abc.ABC):
    """One connection to a registry database, in autocommit mode outside :meth:`write` and :meth:`snapshot`.

    ``location`` is where the registry is; messages name it (a server's URL prints without its password).
    ``id_type`` and ``blob_type`` are the column types the schema's templates fill in.
    """

    location: RegistryLocation
    id_type: str
    blob_type: str

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (``?`` placeholders) and return its cursor (fetchone, fetchall, rowcount)."""

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""
        for row in rows:
            self.execute(sql, row)

    @abc.abstractmethod
    def write(self) -> contextlib.AbstractContextManager[None]:
        """One transaction that holds the registry's write lock: all of it is committed, or none of it."""

    @abc.abstractmethod
    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """Reads inside the block all see one state of the registry, whatever other processes write meanwhile."""

    @abc.abstractmethod
    def errors(self) -> contextlib.AbstractContextManager[None]:
        """The backend's errors as one RegistryError line (locked, damaged, unreachable, ...)."""

    @abc.abstractmethod
    def damage(self) -> str | None:
        """What the backend's own integrity check finds wrong with the stored registry, or None."""

    def check_intact(self) -> None:
        """Refuse (RegistryError) a registry that :meth:`damage` finds damaged: nothing may be written into it."""
        detail = self.damage()
        if detail is not None:
            raise damaged(self.location, detail)

    @abc.abstractmethod
    def schema_version(self) -> int:
        """Schema version of the registry, 0 for an empty database; refuses foreign and newer ones."""

    @abc.abstractmethod
    def set_schema_version(self, version: int) -> None:
        """Mark the registry as ours, of schema ``version`` (inside :meth:`write`)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection."""


@contextlib.contextmanager
def rollback_on_error(db: Database, begin: Sequence[str], in_transaction: Any) -> Iterator[None]:
    """Run ``begin``'s statements, check the registry is intact, run the block, then COMMIT; ROLLBACK when the check
    or the block raises (also on Ctrl-C). The check runs under the write lock, so what it passed is what is written to."""
    with db.errors():
        for statement in begin:
            db.execute(statement)
        try:
            db.check_intact()
            yield
            db.execute("COMMIT")
        except BaseException:
            if in_transaction():  # a backend may have rolled back by itself (e.g. SQLite on a full disk)
                db.execute("ROLLBACK")
            raise
