"""The core's model-reading helpers the zoo uses, imported here only, so a move in the core changes one line.

Importing this module imports torch and transformers: callers import it inside the function that
reads a model.
"""

from __future__ import annotations

from seedprints.model.fit import read_model_shape
from seedprints.model.hf import quiet_transformers

__all__ = ["quiet_transformers", "read_model_shape"]
