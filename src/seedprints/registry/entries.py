"""What a registry entry is, and the checks on names and tags that every backend and archive share."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple

from seedprints.errors import UsageError
from seedprints.inputs import short_repr
from seedprints.probes import ProbeSpec

if TYPE_CHECKING:
    from seedprints.encoding import RankedFingerprint

MAX_NAME_CHARS = 200
# The search index of an entry, made by whoever opens the registry (``seedprints.Registry``: the stage-1 data of
# identify's scan): bytes stored beside the entry and handed back as they are, or None for no index.
Indexer = Callable[["RankedFingerprint"], "bytes | None"]


@dataclasses.dataclass(frozen=True)
class RegistryEntry:
    """What the registry knows about one fingerprint (everything but its encoded ranks).

    Attributes
    ----------
    name : str
        Unique name of the entry.
    probe_hash, spec : str, ProbeSpec
        The probes the fingerprint was made with; only entries of equal hash can be compared.
    model_id : str
        Where the model came from (path or hub name).
    hidden_size, n, n_logits : int
        Width d, number of probes N, and number of recorded logit tokens m (0 when none).
    tags : dict of str to str
        Free-form labels (family, seed, license, ...).
    metadata : dict of str to str
        The fingerprint's header fields (dtype, config hash, versions, ...).
    source_path, source_sha256 : str or None
        The file or model directory it was added from, and the SHA-256 of a fingerprint file's bytes.
    encoding_sha256 : str
        SHA-256 of the stored encoding, checked whenever the entry is read.
    encoded_bytes : int
        Size of the stored encoding.
    created_at : str
        When the entry was added (UTC, ISO 8601).
    """

    name: str
    probe_hash: str
    spec: ProbeSpec
    model_id: str
    hidden_size: int
    n: int
    n_logits: int
    tags: dict[str, str]
    metadata: dict[str, str]
    source_path: str | None
    source_sha256: str | None
    encoding_sha256: str
    encoded_bytes: int
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; the probe spec as its JSON object."""
        fields = dataclasses.asdict(self)
        fields["spec"] = json.loads(self.spec.to_json())
        return fields


def check_name(name: str, *, option: str | None = None) -> str:
    """Refuse names that are empty, too long, unprintable, padded with spaces, start with '-' (a command line would
    read them as options) or contain a path separator. ``option`` names the CLI flag that gave the name, for advice.

    Raises TypeError for a name that is not a str, UsageError for a bad one.
    """
    if not isinstance(name, str):
        raise TypeError(f"an entry name must be a str, got {type(name).__name__} {short_repr(name)}")
    if not name.strip():
        raise UsageError(f"an entry name must not be empty; {f'pass {option}' if option else 'give a name'}")
    problem = None
    if len(name) > MAX_NAME_CHARS:
        problem = f"is {len(name)} characters long (at most {MAX_NAME_CHARS})"
    elif not name.isprintable():
        problem = "contains unprintable characters"
    elif "/" in name or "\\" in name:
        problem = "contains a path separator"
    elif name != name.strip():
        problem = "starts or ends with a space"
    elif name.startswith("-"):
        problem = "starts with '-', which seedprints commands would read as an option"
    if problem:
        raise UsageError(f"entry name {name[:MAX_NAME_CHARS]!r} {problem}; choose another {option or 'name'}")
    return name


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Tags are a mapping of printable strings; keys non-empty without '=' (the CLI writes them KEY=VALUE).

    Raises TypeError when ``tags`` is not a mapping of str to str, UsageError for a bad key or value.
    """
    if tags is not None and not isinstance(tags, Mapping):
        raise TypeError(f"tags must be a dict of str to str such as {{'family': 'llama'}}, got {type(tags).__name__}")
    tags = dict(tags or {})
    for key, value in tags.items():
        if not (isinstance(key, str) and isinstance(value, str)):
            raise TypeError(f"tag {short_repr(key)}={short_repr(value)}: keys and values must be strings")
        if not key.strip() or "=" in key or len(key) > MAX_NAME_CHARS or not key.isprintable():
            raise UsageError(f"bad tag key {key[:MAX_NAME_CHARS]!r}: use a short printable key without '='")
        if len(value) > MAX_NAME_CHARS or not value.isprintable():
            raise UsageError(f"bad value for tag {key!r}: use at most {MAX_NAME_CHARS} printable characters")
    return dict(sorted(tags.items()))


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def now() -> str:
    """The current UTC time, ISO 8601 to the second (an entry's created_at, a scan's time)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")



class NewEntry(NamedTuple):
    """An entry to write with :meth:`Registry.add_many` (e.g. read from an archive)."""

    name: str
    tags: dict[str, str]
    ranked: RankedFingerprint
    blob: bytes
    source_path: str | None
    created_at: str
