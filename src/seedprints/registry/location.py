"""Where a registry lives, decided once: a SQLite file or a PostgreSQL server URL.

The ``--registry`` option and every public function that takes a registry parse what they are given
with :meth:`RegistryLocation.parse`; the layers below pass the parsed location on, so none of them
guesses the kind from a ``str`` or ``Path`` again.

Example:
    >>> RegistryLocation.parse("postgresql://alice:secret@db.example.org/refs").is_postgres
    True
    >>> str(RegistryLocation.parse("postgresql://alice:secret@db.example.org/refs"))
    'postgresql://alice:***@db.example.org/refs'
    >>> RegistryLocation.parse("refs.db").path
    PosixPath('refs.db')
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from pathlib import Path

URL_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")  # the file and the journals SQLite keeps beside it


@dataclasses.dataclass(frozen=True, repr=False)
class RegistryLocation:
    """A registry's place: a PostgreSQL server (:attr:`url`) or a SQLite file (:attr:`path`); make one with :meth:`parse`.

    It prints (``str``) as the file path or the URL without its password: what messages and JSON name.
    """

    target: str  # the file path with '~' expanded, or the URL as given (password included)
    is_postgres: bool

    @classmethod
    def parse(cls, location: str | os.PathLike[str] | RegistryLocation) -> RegistryLocation:
        """Text starting ``postgresql://`` or ``postgres://`` is a server; any other str or path a SQLite file."""
        if isinstance(location, RegistryLocation):
            return location
        if isinstance(location, str) and location.startswith(URL_SCHEMES):
            return cls(location, True)
        if not isinstance(location, (str, os.PathLike)):
            raise TypeError(f"a registry location is a file path or a postgresql:// URL, got {type(location).__name__}")
        return cls(str(Path(location).expanduser()), False)

    @property
    def path(self) -> Path:
        """The SQLite file (ValueError for a server: check :attr:`is_postgres` first)."""
        if self.is_postgres:
            raise ValueError(f"registry {self} is a PostgreSQL server, not a file")
        return Path(self.target)

    @property
    def url(self) -> str:
        """The server's URL with its password, for connecting only (ValueError for a file)."""
        if not self.is_postgres:
            raise ValueError(f"registry {self} is a SQLite file, not a server")
        return self.target

    def files(self) -> tuple[Path, ...]:
        """The registry file and the journals SQLite keeps beside it, which no output may replace (none for a server)."""
        if self.is_postgres:
            return ()
        return tuple(self.path.with_name(self.path.name + suffix) for suffix in _SQLITE_SUFFIXES)

    def __str__(self) -> str:
        return redacted(self.target) if self.is_postgres else self.target

    def __repr__(self) -> str:
        return f"RegistryLocation({str(self)!r})"


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
