"""One suspect against many fingerprints: identify against a registry, and the all-pairs matrix.

- :mod:`~seedprints.search.identification`: :func:`identify`, a suspect against every compatible registry entry;
  its result types in :mod:`~seedprints.search.results`, its plan in :mod:`~seedprints.search.planning`, the looks
  that run the scan in :mod:`~seedprints.search.looks`.
- :mod:`~seedprints.search.staged_scan`: the two-stage scan; :mod:`~seedprints.search.screen` its stage 1 (the
  search index, stored beside each registry entry) and :mod:`~seedprints.search.scan` the exact full test of many
  entries at once.
- :mod:`~seedprints.search.matrix`: every input against every other, with one probe spec.

The public names are ``seedprints.identify`` and ``seedprints.IdentifyResult``; the modules here may change.
"""
