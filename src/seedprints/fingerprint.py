"""The fingerprint file: one ``.safetensors`` file holding a model's probe responses and how they were made.

Layout: a float32 tensor ``hidden`` of shape ``[N, d]`` (row i = final hidden state at the last
position of probe i), for specs with ``output_tokens`` a float32 tensor ``logits`` of shape
``[N, m]`` (those tokens' logits at the same position), for fingerprints made with a weight sketch its tensors
``weights.embedding`` ``[t, d]``, ``weights.mlp.<layer>`` ``[k, 3d]`` and ``weights.values.<layer>`` ``[c, 2d]`` with
the metadata ``weights_head_dim`` (:class:`~seedprints.stats.units.WeightSketch`), and string metadata: ``seedprints_format`` ("1"), ``probe_spec`` (canonical
JSON) and ``probe_hash``, ``model_id``, ``model_revision``, ``config_hash``, ``hidden_size``,
``dtype`` (of the forward pass), ``seedprints_version``, ``created_at``. No pickle: the reader parses
the header itself, checks every field and size before touching tensor bytes, and writes are atomic.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import json
import re
import struct
from pathlib import Path
from typing import IO, Any

import numpy as np

from seedprints import __version__
from seedprints import output_paths
from seedprints.inputs import load_json, short_repr, special_file
from seedprints.errors import (
    FingerprintFormatError,
    IncompatibleFingerprintsError,
    SeedprintsError,
    UsageError,
)
from seedprints.naming import spoken
from seedprints.probes import ProbeSpec
from seedprints.stats.units import WeightSketch

FORMAT_VERSION = "1"
TENSOR_NAME = "hidden"
LOGITS_NAME = "logits"  # optional: [N, m] logits of the probe spec's output_tokens
WEIGHTS_PREFIX = "weights."  # optional: the weight sketch the units part reads, one tensor per piece
_WEIGHTS_NAME = re.compile(r"weights\.(embedding|(mlp|values)\.(0|[1-9][0-9]{0,5}))")
HEAD_DIM_KEY = "weights_head_dim"
_MAX_HEADER_BYTES = 1 << 20
# Sane limits, checked before anything is allocated: far above any real model, far below a hostile claim.
MAX_ROWS = 10_000_000
MAX_COLUMNS = 1_000_000
MAX_TENSOR_BYTES = 1 << 36  # 64 GiB of float32 over all tensors
_REQUIRED_KEYS = ("seedprints_format", "probe_spec", "probe_hash", "model_id", "hidden_size", "dtype")


@dataclasses.dataclass(frozen=True, eq=False)
class Fingerprint:
    """A model's responses to a probe set.

    Attributes
    ----------
    hidden : numpy.ndarray
        float32 ``[N, d]``: final hidden state at the last position, one row per probe.
    spec : ProbeSpec
        The probes that produced the rows.
    model_id : str
        Where the model came from (path or name).
    metadata : dict of str to str
        The rest of the header (``config_hash``, ``dtype``, ``created_at``, ...).
    logits : numpy.ndarray or None
        float32 ``[N, m]`` logits of ``spec.output_tokens`` (None when the spec records none).
    weights : WeightSketch or None
        A sketch of the model's weights for the units part of the lineage test (None unless asked for: it sees
        through a relabelling of the hidden dimensions; megabytes, see ``FILE_SKETCH``).

    Raises
    ------
    TypeError
        A field of the wrong type (e.g. ``hidden`` a list rather than a numpy array).
    UsageError
        ``hidden`` or ``logits`` not 2-D real numbers, or with different row counts.
    """

    hidden: np.ndarray
    spec: ProbeSpec
    model_id: str
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    logits: np.ndarray | None = None
    weights: WeightSketch | None = None

    def __post_init__(self) -> None:
        """Refuse, when built, what would fail far away: arrays that are not 2-D real numbers with one row per probe."""
        if not isinstance(self.spec, ProbeSpec):
            raise TypeError(f"Fingerprint spec must be a ProbeSpec, got {type(self.spec).__name__}")
        if not isinstance(self.model_id, str):
            raise TypeError(f"Fingerprint model_id must be a str, got {type(self.model_id).__name__}")
        if not isinstance(self.metadata, dict):
            raise TypeError(f"Fingerprint metadata must be a dict of str to str, got {type(self.metadata).__name__}")
        if self.weights is not None and not isinstance(self.weights, WeightSketch):
            raise TypeError(f"Fingerprint weights must be a WeightSketch, got {type(self.weights).__name__}")
        _check_matrix(self.hidden, TENSOR_NAME, "[N, d]")
        if self.logits is not None:
            _check_matrix(self.logits, LOGITS_NAME, "[N, m]")
            if self.logits.shape[0] != self.hidden.shape[0]:
                raise UsageError(
                    f"Fingerprint logits have {self.logits.shape[0]} rows but hidden has {self.hidden.shape[0]}; "
                    "give one row per probe in both"
                )

    @property
    def n(self) -> int:
        """Number of probes (rows)."""
        return int(self.hidden.shape[0])

    @property
    def hidden_size(self) -> int:
        """Width d of the hidden states."""
        return int(self.hidden.shape[1])

    @property
    def probe_hash(self) -> str:
        """Hash of the probe spec."""
        return self.spec.hash

    def header(self) -> dict[str, str]:
        """All metadata as the strings written to the file."""
        fields = {
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "seedprints_version": __version__,
            "dtype": "float32",
            **self.metadata,
            "seedprints_format": FORMAT_VERSION,
            "probe_spec": self.spec.to_json(),
            "probe_hash": self.spec.hash,
            "model_id": self.model_id,
            "hidden_size": str(self.hidden_size),
        }
        if self.weights is not None:
            fields[HEAD_DIM_KEY] = str(self.weights.head_dim)
        return {k: str(v) for k, v in sorted(fields.items())}

    def save(self, path: str | Path) -> Path:
        """Write atomically to ``path`` (temp file in the same folder, then rename)."""
        return save(self, path)

    def prefix(self, n: int) -> "Fingerprint":
        """The first ``n`` rows: exactly the fingerprint of the same model on the same probes with N = n.

        Raises UsageError when ``n`` exceeds the rows held or the probes have no prefix property (file probes).
        """
        spec = self.spec.with_n(n)
        if not 1 <= n <= self.n:
            raise UsageError(f"cannot take {n} probes of a fingerprint of {self.n}; use at most {self.n}")
        logits = None if self.logits is None else self.logits[:n]
        return dataclasses.replace(self, hidden=self.hidden[:n], spec=spec, logits=logits)


def _check_matrix(array: Any, name: str, shape: str) -> None:
    """A Fingerprint tensor must be a 2-D numpy array of real numbers (ints or floats, not text or objects)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"Fingerprint {name} must be a numpy array of shape {shape}, got {type(array).__name__}; "
                        "convert it with numpy.asarray(..., dtype=numpy.float32)")
    if array.ndim != 2:
        raise UsageError(f"Fingerprint {name} must be 2-D {shape} with one row per probe, got shape {array.shape}; reshape it")
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise UsageError(f"Fingerprint {name} must hold real numbers, got dtype {array.dtype}; convert it with "
                         ".astype(numpy.float32)")


def save(fp: Fingerprint, path: str | Path) -> Path:
    """Write ``fp`` to ``path`` atomically; raises OutputPathError if the folder is not writable."""
    return output_paths.write_atomic(Path(path), to_bytes(fp))


def to_bytes(fp: Fingerprint) -> bytes:
    """The bytes :func:`save` writes: a fingerprint file held in memory (e.g. to embed in an evidence bundle)."""
    tensors = {TENSOR_NAME: np.ascontiguousarray(fp.hidden, dtype="<f4")}
    if fp.logits is not None:
        tensors[LOGITS_NAME] = np.ascontiguousarray(fp.logits, dtype="<f4")
    for name, array in tensors.items():
        if array.ndim != 2 or array.shape[0] != tensors[TENSOR_NAME].shape[0]:
            raise FingerprintFormatError(f"fingerprint tensor {name!r} must be 2-D with one row per probe, got {array.shape}")
    if fp.weights is not None:
        tensors.update(_sketch_tensors(fp.weights))
    return _encode(tensors, fp.header())


def _sketch_tensors(sketch: WeightSketch) -> dict[str, np.ndarray]:
    """The weight sketch as named float32 tensors; empty pieces (no unit kept) are left out."""
    pieces = {WEIGHTS_PREFIX + "embedding": sketch.embedding}
    pieces.update({f"{WEIGHTS_PREFIX}mlp.{i}": block for i, block in enumerate(sketch.mlp)})
    pieces.update({f"{WEIGHTS_PREFIX}values.{i}": block for i, block in enumerate(sketch.values)})
    return {name: np.ascontiguousarray(array, dtype="<f4") for name, array in pieces.items() if array.size}


def _encode(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """safetensors framing with sorted keys, so the same fingerprint always gives the same bytes."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name in sorted(tensors):
        array = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format aligns tensor data to 8 bytes
    return struct.pack("<Q", len(text)) + text + b"".join(tensors[name].tobytes() for name in sorted(tensors))


def read_header(path: str | Path) -> dict[str, str]:
    """Read and check only the header of a fingerprint file (no tensor bytes)."""
    header, _, _ = _parse(Path(path), read_data=False)
    return header


def load(path: str | Path) -> Fingerprint:
    """Load a fingerprint, refusing anything corrupt, truncated, foreign or from a newer format."""
    path = Path(path)
    return _build(path, *_parse(path, read_data=True))


def from_bytes(data: bytes, *, source: str = "embedded fingerprint") -> Fingerprint:
    """Parse fingerprint file bytes held in memory, with the same checks as :func:`load`; ``source`` names them in errors."""
    stream = io.BytesIO(data)
    return _build(source, *_parse_stream(stream, len(data), source, read_data=True))


def _build(
    path: Path | str, meta: dict[str, str], info: dict[str, tuple[list[int], tuple[int, int]]], data: bytes
) -> Fingerprint:
    """Check the header's probe spec against the tensors and assemble the Fingerprint."""
    try:
        spec = ProbeSpec.from_json(meta["probe_spec"])
    except (SeedprintsError, TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise FingerprintFormatError(f"{path}: bad probe spec in header ({exc}); re-create the fingerprint") from exc
    if spec.hash != meta["probe_hash"]:
        raise FingerprintFormatError(f"{path}: probe hash does not match its spec; the file was altered, re-create it")
    arrays = {
        name: np.frombuffer(data[start:stop], dtype="<f4").reshape(shape).astype(np.float32)
        for name, (shape, (start, stop)) in info.items()
    }
    hidden, logits = arrays[TENSOR_NAME], arrays.get(LOGITS_NAME)
    expected_logits = len(spec.output_tokens) if spec.output_tokens else 0
    if (logits.shape[1] if logits is not None else 0) != expected_logits:
        raise FingerprintFormatError(
            f"{path}: the probe spec records {expected_logits} logit tokens but the file holds "
            f"{'none' if logits is None else logits.shape[1]}; re-create the fingerprint"
        )
    if meta["hidden_size"] != str(hidden.shape[1]):
        raise FingerprintFormatError(f"{path}: header says hidden_size {meta['hidden_size']} but the matrix is {hidden.shape}")
    if hidden.shape[0] != spec.n:
        raise FingerprintFormatError(f"{path}: {hidden.shape[0]} rows but the probe spec has n={spec.n}; re-create it")
    rest = {k: v for k, v in meta.items()
            if k not in ("probe_spec", "probe_hash", "model_id", "hidden_size", "seedprints_format", HEAD_DIM_KEY)}
    return Fingerprint(hidden=hidden, spec=spec, model_id=meta["model_id"], metadata=rest, logits=logits,
                       weights=_sketch_from(path, meta, arrays, hidden.shape[1]))


def _sketch_from(path: Path | str, meta: dict[str, str], arrays: dict[str, np.ndarray], width: int) -> WeightSketch | None:
    """The weight sketch held in a file's ``weights.*`` tensors, checked whole, or None when it holds none."""
    names = [name for name in arrays if name.startswith(WEIGHTS_PREFIX)]
    if not names and HEAD_DIM_KEY not in meta:
        return None
    corrupt = f"{path}: its weight sketch is incomplete or inconsistent"
    head_dim = meta.get(HEAD_DIM_KEY, "")
    if WEIGHTS_PREFIX + "embedding" not in arrays or not head_dim.isdigit() or int(head_dim) < 1:
        raise FingerprintFormatError(f"{corrupt} (needs weights.embedding and {HEAD_DIM_KEY}); re-create the fingerprint")

    def blocks(kind: str) -> tuple[np.ndarray, ...]:
        found = sorted(int(name.rsplit(".", 1)[1]) for name in names if name.startswith(f"{WEIGHTS_PREFIX}{kind}."))
        if found != list(range(len(found))):
            raise FingerprintFormatError(f"{corrupt} ({kind} layers {found} are not 0 to {len(found) - 1}); "
                                         "re-create the fingerprint")
        return tuple(arrays[f"{WEIGHTS_PREFIX}{kind}.{i}"] for i in found)

    try:
        sketch = WeightSketch(embedding=arrays[WEIGHTS_PREFIX + "embedding"], mlp=blocks("mlp"), values=blocks("values"),
                              head_dim=int(head_dim))
    except UsageError as exc:
        raise FingerprintFormatError(f"{corrupt} ({exc}); re-create the fingerprint") from exc
    if sketch.hidden_size != width:
        raise FingerprintFormatError(f"{corrupt} (its width {sketch.hidden_size} is not the hidden states' {width}); "
                                     "re-create the fingerprint")
    return sketch


def _parse(path: Path, read_data: bool) -> tuple[dict[str, str], dict[str, tuple[list[int], tuple[int, int]]], bytes]:
    """Parse a fingerprint file's framing, refusing paths that are missing, directories, pipes or unreadable."""
    if special_file(path):
        raise FingerprintFormatError(f"{path} is not a regular file (a pipe or device); give a fingerprint file")
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            return _parse_stream(handle, size, path, read_data)
    except IsADirectoryError as exc:
        raise FingerprintFormatError(f"{path} is a directory, not a fingerprint file") from exc
    except FileNotFoundError as exc:
        raise FingerprintFormatError(f"fingerprint file {path} does not exist; check the path") from exc
    except OSError as exc:
        raise FingerprintFormatError(f"cannot read {path}: {exc.strerror}; check that it is a readable fingerprint file") from exc


def _parse_stream(
    handle: IO[bytes], size: int, path: Path | str, read_data: bool
) -> tuple[dict[str, str], dict[str, tuple[list[int], tuple[int, int]]], bytes]:
    """Parse the safetensors framing by hand so that no bad length, offset or size claim is ever trusted."""
    not_ours = f"{path} is not a seedprints fingerprint"
    prefix = handle.read(8)
    if len(prefix) < 8:
        raise FingerprintFormatError(f"{not_ours} (file is {size} bytes, too short); re-create it")
    (header_len,) = struct.unpack("<Q", prefix)
    if header_len > min(_MAX_HEADER_BYTES, size - 8):
        raise FingerprintFormatError(f"{not_ours} (bad header length); the file is corrupt or of another kind")
    header_bytes = handle.read(header_len)
    try:
        header = load_json(header_bytes)
    except json.JSONDecodeError as exc:
        raise FingerprintFormatError(f"{not_ours} (header is not JSON); the file is corrupt or of another kind") from exc
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or "seedprints_format" not in meta:
        raise FingerprintFormatError(f"{not_ours} (no seedprints metadata); make one with `seedprints fingerprint`")
    if not isinstance(meta["seedprints_format"], str):
        raise FingerprintFormatError(f"{not_ours} (its format field is not text); the file is corrupt or was edited")
    if meta["seedprints_format"] != FORMAT_VERSION:
        raise FingerprintFormatError(
            f"{path} uses fingerprint format {short_repr(meta['seedprints_format'])}; this seedprints reads format "
            f"{FORMAT_VERSION!r}: upgrade seedprints"
        )
    missing = [k for k in _REQUIRED_KEYS if not isinstance(meta.get(k), str)]
    if missing:
        raise FingerprintFormatError(f"{path}: header lacks {', '.join(missing)}; re-create the fingerprint")
    not_text = sorted(k for k, v in meta.items() if not isinstance(v, str))
    if not_text:
        raise FingerprintFormatError(f"{path}: metadata {short_repr(not_text)} must be strings; the file is corrupt, re-create it")
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    foreign = {name for name in tensors if name not in (TENSOR_NAME, LOGITS_NAME) and not _WEIGHTS_NAME.fullmatch(name)}
    if TENSOR_NAME not in tensors or foreign:
        raise FingerprintFormatError(
            f"{path}: expected a float32 tensor {TENSOR_NAME!r} (and optionally {LOGITS_NAME!r} and a weight sketch), "
            f"found {short_repr(sorted(tensors))}; re-create the fingerprint"
        )
    info: dict[str, tuple[list[int], tuple[int, int]]] = {}
    offset = 0
    for name in sorted(tensors):
        entry = tensors[name]
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or entry.get("dtype") != "F32"
            or not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(s, int) and s > 0 for s in shape))
            or not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets))
        ):
            raise FingerprintFormatError(f"{path}: tensor {name!r} must be float32 and 2-D; re-create the fingerprint")
        if shape[0] > MAX_ROWS or shape[1] > MAX_COLUMNS or offset + shape[0] * shape[1] * 4 > MAX_TENSOR_BYTES:
            raise FingerprintFormatError(
                f"{path}: tensor {name!r} claims shape {shape}, beyond the limits of {MAX_ROWS} probes, {MAX_COLUMNS} "
                f"columns and {MAX_TENSOR_BYTES >> 30} GiB in all; the file is corrupt or hostile, re-create it"
            )
        end = offset + shape[0] * shape[1] * 4
        if offsets != [offset, end]:
            raise FingerprintFormatError(f"{path}: tensor {name!r} has bad data offsets; the file is corrupt, re-create it")
        info[name] = (shape, (offset, end))
        offset = end
    if size - 8 - header_len != offset:
        raise FingerprintFormatError(
            f"{path} is truncated or padded (needs {offset} data bytes for its tensors, has "
            f"{size - 8 - header_len}); re-create or re-download it"
        )
    if LOGITS_NAME in info and info[LOGITS_NAME][0][0] != info[TENSOR_NAME][0][0]:
        raise FingerprintFormatError(f"{path}: {LOGITS_NAME!r} and {TENSOR_NAME!r} have different row counts; re-create it")
    return meta, info, handle.read() if read_data else b""


def check_compatible(ref: Fingerprint, suspect: Fingerprint, *, same_width: bool = True) -> None:
    """Refuse to compare fingerprints made with different probes (or widths when the test needs equal ones)."""
    if ref.spec != suspect.spec:
        legacy = [name for name, fp in (("reference", ref), ("suspect", suspect)) if fp.spec.picked_by_a_model]
        again = spoken(cli="seedprints fingerprint SUSPECT --like REFERENCE_FILE",
                       python="seedprints.fingerprint_model(suspect, reference.spec)")
        advice = (f"the {' and the '.join(legacy)} used the reference-picked rare-token probes of seedprints before "
                  "0.2, which fingerprints made apart never share; fingerprint both models again with the defaults"
                  if legacy else f"fingerprint the suspect with the reference's probes ({again})")
        raise IncompatibleFingerprintsError(
            f"fingerprints use different probes: reference {ref.spec.describe()} vs suspect "
            f"{suspect.spec.describe()}; {advice}"
        )
    if same_width and ref.hidden_size != suspect.hidden_size:
        raise IncompatibleFingerprintsError(
            f"hidden sizes differ (reference d={ref.hidden_size}, suspect d={suspect.hidden_size}); "
            "this test compares dimensions one to one and needs equal widths"
        )
