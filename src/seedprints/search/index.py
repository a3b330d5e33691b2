"""The search index: the stage-1 data of identify's scan, made when an entry is registered, read when a scan runs.

The registry stores these bytes beside each entry but never makes or parses them (``registry/`` stores and reads
only). This module makes them (:func:`screen_index`, the :data:`~seedprints.registry.entries.Indexer` that
:class:`Registry` opens every registry with) and reads them back for a scan (:func:`screen_pages`).

Example:
    >>> import seedprints
    >>> with seedprints.Registry.open("refs.db") as reg:              # doctest: +SKIP
    ...     reg.add(fp, name="llama-2-7b")                            # stored with its stage-1 data
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from seedprints.errors import FingerprintFormatError, RegistryError
from seedprints.registry.entries import Indexer
from seedprints.registry.location import RegistryLocation
from seedprints.registry.store import DEFAULT_TIMEOUT_S
from seedprints.registry.store import Registry as _Storage

if TYPE_CHECKING:
    from seedprints.encoding import RankedFingerprint
    from seedprints.search.screen import Screen


def screen_index(ranked: RankedFingerprint) -> bytes | None:
    """The stored stage-1 data of an entry (:func:`~seedprints.search.screen.make_screen`), or None when it holds too
    few probes or dimensions for stage 1 (a scan then tests it in full)."""
    # the screen's rank code only where an entry is written or scanned: the registry verbs that list, show or remove
    # open this registry too, and start without it (bench/bench_startup.py)
    from seedprints.search.screen import encode_screen, make_screen

    screen = make_screen(ranked)
    return None if screen is None else encode_screen(screen)


def screen_pages(reg: _Storage, *, probe_hash: str) -> Iterator[list[tuple[str, Screen | None]]]:
    """The stage-1 data of every entry of one probe hash, by entry name, a page at a time (None: the entry has none).
    Read inside :meth:`~seedprints.registry.store.Registry.snapshot` for one consistent state; RegistryError names an
    entry whose stored data does not parse."""
    for page in reg.index_pages(probe_hash=probe_hash):
        yield [(name, None if data is None else _screen(reg, name, data)) for name, data in page]


def _screen(reg: _Storage, name: str, data: bytes) -> Screen:
    from seedprints.search.screen import decode_screen  # see screen_index

    try:
        return decode_screen(data)
    except FingerprintFormatError as exc:
        raise RegistryError(f"registry {reg.path}: entry {name!r}: {exc}; remove the entry and add it again") from exc


class Registry(_Storage):
    """A registry (:class:`seedprints.registry.store.Registry`) that stores the search index beside every entry it
    writes: what ``seedprints.Registry`` and the CLI open, so that identify's scan can test every entry on its first
    probes before testing the strongest in full."""

    @classmethod
    def open(
        cls, path: str | Path | RegistryLocation, *, create: bool = True, timeout: float = DEFAULT_TIMEOUT_S,
        index: Indexer | None = screen_index,
    ) -> "Registry":
        """Open (or create) the registry at ``path``; see :meth:`seedprints.registry.store.Registry.open`."""
        return super().open(path, create=create, timeout=timeout, index=index)  # type: ignore[return-value]
