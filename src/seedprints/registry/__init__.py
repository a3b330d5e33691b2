"""A persistent library of fingerprints (a SQLite file or a PostgreSQL database) with tags, scan logs, and portable archives.

See :class:`Registry` (open, add, entries, get, ranked, remove, export, import_archive).
"""

from __future__ import annotations

from seedprints.registry.entries import RegistryEntry
from seedprints.registry.store import Registry

__all__ = ["Registry", "RegistryEntry"]
