"""Lineage tests on hidden-state matrices: the paper's test and its building blocks.

Importing this package does not import torch.
"""

from seedprints.stats.kendall import kendall_tau_b_columns
from seedprints.stats.paper import paper_test
from seedprints.stats.result import LineageResult

__all__ = ["LineageResult", "kendall_tau_b_columns", "paper_test"]
