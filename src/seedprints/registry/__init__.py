"""A persistent library of fingerprints (SQLite) with tags, scan logs, and portable archives.

See :class:`Registry` (open, add, entries, get, ranked, remove, export, import_archive).
"""

from __future__ import annotations

from seedprints.registry.store import Registry, RegistryEntry

__all__ = ["Registry", "RegistryEntry"]
