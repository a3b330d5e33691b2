"""Names and limits that every verb checks its options against: a cheap module (no scipy), so verbs start quickly.

The tests themselves live in :mod:`seedprints.stats.lineage` and :mod:`seedprints.stats.paper`;
:mod:`seedprints.stats.methods` maps these names to them.
"""

MIN_PROBES = 20
MIN_DIMS = 8
# each method's name, and the probes it is designed for
METHOD_PROBES: dict[str, str] = {"lineage": "untrained", "paper": "token"}
DEFAULT_METHOD = "lineage"
