"""Use transformers and huggingface_hub offline and quietly: a local model must never become a network request."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import transformers


@contextlib.contextmanager
def offline_hub() -> Iterator[None]:
    """Hugging Face Hub offline mode for the duration: a hub lookup that transformers or peft might try fails at once.

    seedprints reads local files only; this makes sure no code path (a file missing from an adapter, a base model
    named by hub id) turns into a network request. Sets ``huggingface_hub.constants.HF_HUB_OFFLINE``, which
    huggingface_hub and transformers consult on every request, and the ``HF_HUB_OFFLINE`` variable peft reads.
    """
    from huggingface_hub import constants

    flag, variable = constants.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")
    constants.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = flag
        if variable is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = variable



@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars for the duration of a load."""
    logging = transformers.utils.logging
    verbosity = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
