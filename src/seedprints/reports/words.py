"""Words for a reader of a result: what the short keys of its JSON mean (the JSON keeps the keys)."""

from __future__ import annotations

from seedprints.naming import setting


def skip_reason(reason: str) -> str:
    """Why registry entries were skipped (a key of :attr:`seedprints.IdentifyResult.skipped`), in words that name settings as
    the caller writes them (``budget=`` from Python, ``--budget`` on the CLI)."""
    words = {
        "probe_spec": "made with other probes",
        "hidden_size": "of another hidden size",
        "probe_file": f"made from a probe file (pass it with {setting('probe_file')})",
        "model_cannot_take_probes": "with probes the model cannot take (token ids beyond its vocabulary, or another width)",
        "no_prefix": "made with probes that have no prefix (probe files, torch-generated): drop "
                     f"{setting('budget')} and {setting('early_stop', True)}",
    }
    return words.get(reason, reason.replace("_", " "))
