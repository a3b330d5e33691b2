"""Lineage tests on hidden-state matrices: the default permutation-null test, the paper's test, their parts.

Importing this package does not import torch.
"""

from seedprints.stats.kendall import kendall_tau_b_columns
from seedprints.stats.lineage import lineage_test
from seedprints.stats.paper import paper_test
from seedprints.stats.result import LineageResult

__all__ = ["LineageResult", "kendall_tau_b_columns", "lineage_test", "paper_test"]
