"""A persistent library of fingerprints (a SQLite file or a PostgreSQL database) with tags, scan logs, and portable archives.

See :class:`Registry` (open, add, entries, get, ranked, remove, export, import_archive) and
:class:`RegistryLocation` (where one is); :func:`check_name`, :func:`check_tags`, :func:`check_path` (a SQLite
registry file) and :func:`verify_archive` check inputs before long work. The registry stores and reads: the search index it keeps beside each entry
is made by whoever opens it (``seedprints.Registry``, :mod:`seedprints.search.index`, passes the stage-1 data of
identify's scan). Names load on first use, so the CLI's option parser can
import :mod:`~seedprints.registry.location` without the store and its numpy code.
"""

from __future__ import annotations

from seedprints.lazy_names import lazy_getattr

_EXPORTS = {
    "Registry": "seedprints.registry.store",
    "RegistryEntry": "seedprints.registry.entries",
    "RegistryLocation": "seedprints.registry.location",
    "check_name": "seedprints.registry.entries",  # the checks a caller runs before long work, so a bad
    "check_tags": "seedprints.registry.entries",  # name, tag or registry file fails in the first second
    "check_path": "seedprints.registry.sqlite_db",
    "verify_archive": "seedprints.registry.archive",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
