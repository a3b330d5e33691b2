"""What ``seedprints registry add`` stores: the fingerprint of a source (a fingerprint file as it is, or a model
directory fingerprinted now, on a reference's probes or its own) and the entry's name, so that the Python API
registers a source exactly as the command line does."""

from __future__ import annotations

from pathlib import Path

from seedprints import fingerprint as _fpfile
from seedprints import pipeline
from seedprints.errors import UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.fingerprint_run import like_probes
from seedprints.naming import setting
from seedprints.options import ProbeOptions, RunOptions
from seedprints.probes import ProbeSpec
from seedprints.registry import check_name


def entry_fingerprint(source: Path, *, like: Path | None = None, options: ProbeOptions | None = None,
                      run: RunOptions | None = None) -> Fingerprint:
    """The fingerprint a registry entry of ``source`` stores: a fingerprint file's own, or a model directory's on
    ``like``'s probes (checked by config before any weight is read), else on those ``options`` give."""
    run = run or RunOptions()
    if pipeline.is_fingerprint_file(source):
        return _fpfile.load(source)  # the registry records the file's SHA-256 beside it
    if not source.is_dir():
        raise UsageError(f"{source} does not exist; give a fingerprint file or a model directory")
    probes, origin = like_probes(source, like, options, trust_remote_code=run.trust_remote_code)
    return pipeline.fingerprint_model(source, probes, options=options, run=run, probe_origin=origin)


def made_from_probe_file(path: Path) -> bool:
    """Whether the fingerprint file ``path`` was made from a probe file (so a probe file given with it is used)."""
    return ProbeSpec.from_json(_fpfile.read_header(path)["probe_spec"]).from_file


def entry_name(fp: Fingerprint, name: str | None = None) -> str:
    """``name`` as given (checked where it was given), else the last part of the fingerprint's model id, checked."""
    if name is not None:
        return name
    derived = Path(fp.model_id.rstrip("/\\")).name
    if not derived:
        raise UsageError(f"cannot derive an entry name from model id {fp.model_id!r}; pass {setting('name')}")
    return check_name(derived, option=setting("name"))
