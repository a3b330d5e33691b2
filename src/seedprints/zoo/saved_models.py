"""Save a zoo model and its tokenizer as a Hugging Face directory, atomically, and load it back."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from seedprints import tempfiles
from seedprints.errors import OutputPathError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

__all__ = ["load_saved", "save_model"]


@contextmanager
def _quiet_hf_progress() -> Iterator[None]:
    """Silence transformers' tqdm bars ("Writing model shards") for the duration."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def save_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    out_dir: str | Path,
    *,
    overwrite: bool = True,
) -> Path:
    """Write a normal Hugging Face model directory, atomically.

    The model (safetensors weights, ``config.json``, ``generation_config.json``) and the
    tokenizer (``tokenizer.json`` and its configs) are written into a temporary directory beside
    ``out_dir``, which is then renamed into place; an existing ``out_dir`` is replaced only once
    the new one is complete. Load it back with
    ``AutoModelForCausalLM.from_pretrained(out_dir, local_files_only=True)``.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        Saved in its current dtype.
    tokenizer : transformers.PreTrainedTokenizerFast
        Saved next to the weights.
    out_dir : str or Path
        Target directory; parents are created.
    overwrite : bool, optional
        Replace an existing directory (default). If False, an existing ``out_dir`` is an error.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    OutputPathError
        If ``out_dir`` exists and is a file, or exists and ``overwrite`` is False, or cannot be
        written; no temporary directory is left behind.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or not overwrite):
        what = "a file" if not out.is_dir() else "an existing directory (overwrite=False)"
        raise OutputPathError(f"cannot write model to {out}: it is {what}; choose another path")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfiles.temp_dir(out)
    except OSError as exc:
        raise OutputPathError(f"cannot write model to {out}: {exc.strerror or exc}") from exc
    old: Path | None = None
    try:
        with _quiet_hf_progress():
            model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            old.rmdir()
            out.rename(old)
        tmp.rename(out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not out.exists():
            old.rename(out)
        raise OutputPathError(f"cannot write model to {out}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out


def load_saved(model_dir: str | Path, *, device: str = "cpu") -> PreTrainedModel:
    """Load a model written by :func:`save_model` in float32, whatever it was stored in (local files only), in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    with _quiet_hf_progress():
        model = AutoModelForCausalLM.from_pretrained(Path(model_dir), local_files_only=True, dtype=torch.float32)
    return model.to(device).eval()
