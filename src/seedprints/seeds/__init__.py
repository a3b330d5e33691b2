"""Candidate init seeds: rebuild a model exactly as the framework initialises it under a seed, and fingerprint it.

The init seed is a model's lineage root. Given an architecture's config, :func:`init_model_from_config`
rebuilds the weights transformers draws under ``torch.manual_seed(seed)``, bit for bit, so any number
of candidate seeds can be fingerprinted (:func:`fingerprint_seeds`) and registered
(:func:`register_seeds`); ``seedprints identify`` then says from which of them a trained model grew.

The work is in three private modules: ``_config`` (read and check an architecture's config), ``_rebuild`` (the init
under a seed, and its fingerprint) and ``_register`` (seed lists, entry names, registration); the names below are
the public ones.
"""

from __future__ import annotations

from seedprints.seeds._config import check_config, config_sha256, default_probes, load_config
from seedprints.seeds._rebuild import INIT_METHODS, fingerprint_init, fingerprint_seeds, init_metadata, init_model_from_config
from seedprints.seeds._register import (
    MAX_SEEDS, RegisterReport, check_prefix, check_seed_tags, parse_seeds, register_seeds, seed_entry_name,
)

__all__ = [
    "INIT_METHODS",
    "MAX_SEEDS",
    "RegisterReport",
    "check_config",
    "check_prefix",
    "check_seed_tags",
    "config_sha256",
    "default_probes",
    "fingerprint_init",
    "fingerprint_seeds",
    "init_metadata",
    "init_model_from_config",
    "load_config",
    "parse_seeds",
    "register_seeds",
    "seed_entry_name",
]
