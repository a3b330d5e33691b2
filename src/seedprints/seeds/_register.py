"""Register candidate seeds: parse a seed list, name and tag the entries, fingerprint the seeds not yet registered."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedprints.errors import RegistryError, UsageError
from seedprints.inputs import short_repr
from seedprints.options import RunOptions
from seedprints.probes import Probes, ProbeSpec
from seedprints.registry.entries import check_name, check_tags
from seedprints.seeds._config import config_sha256, load_config
from seedprints.seeds._rebuild import MAX_SEED, check_init, fingerprint_seeds

if TYPE_CHECKING:
    from transformers import PretrainedConfig

    from seedprints.registry import Registry, RegistryEntry


MAX_SEEDS = 1_000_000
"""Most seeds one :func:`parse_seeds` call accepts (register more in several runs)."""

_SEED_PART = re.compile(r"^(\d+)(?:-(\d+))?$")

_MAX_SEED_DIGITS = len(str(MAX_SEED))


def parse_seeds(text: str) -> list[int]:
    """Parse a seed list such as ``"0-999"``, ``"1,5,9"`` or ``"0-9,100"`` into sorted distinct seeds.

    Raises
    ------
    UsageError
        Empty parts, anything but non-negative integers and ``a-b`` ranges with ``a <= b``, seeds of
        2**64 or more, or more than :data:`MAX_SEEDS` seeds.

    Examples
    --------
    >>> parse_seeds("0-3,10,2")
    [0, 1, 2, 3, 10]
    """
    seeds: set[int] = set()
    for part in str(text).split(","):
        match = _SEED_PART.match(part.strip())
        if not match:
            raise UsageError(
                f"bad seed list {short_repr(text)}: {short_repr(part.strip())} is not a seed or a range; write e.g. 0-999 or 1,5,9"
            )
        if any(len(digits.lstrip("0")) > _MAX_SEED_DIGITS for digits in match.groups() if digits is not None):
            raise UsageError(f"seed {short_repr(part.strip())} is too large; torch seeds are below 2**64")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise UsageError(f"bad seed range {part.strip()!r}: the end is below the start; write e.g. {high}-{low}")
        if high > MAX_SEED:
            raise UsageError(f"seed {high} is too large; torch seeds are below 2**64")
        if len(seeds) + (high - low + 1) > MAX_SEEDS:
            raise UsageError(f"seed list {short_repr(text)} has more than {MAX_SEEDS} seeds; register them in several runs")
        seeds.update(range(low, high + 1))
    return sorted(seeds)


def seed_entry_name(prefix: str, seed: int) -> str:
    """Registry name of a candidate seed: ``{prefix}seed-{seed}``."""
    return f"{prefix}seed-{seed}"


@dataclasses.dataclass(frozen=True)
class RegisterReport:
    """What :func:`register_seeds` did.

    Attributes
    ----------
    registry : str
        The registry file.
    config_sha256 : str
        SHA-256 of the config every entry was initialised from.
    probe_hash : str
        Hash of the probes every entry was fingerprinted with.
    added, skipped : list of str
        Entry names registered now, and those already registered with the same config, init and probes.
    """

    registry: str
    config_sha256: str
    probe_hash: str
    added: list[str]
    skipped: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _same_candidate(entry: RegistryEntry, probe_hash: str, tags: Mapping[str, str]) -> bool:
    return entry.probe_hash == probe_hash and all(entry.tags.get(k) == v for k, v in tags.items())


def register_seeds(
    registry: Registry,
    config: Mapping[str, Any] | PretrainedConfig | str | Path,
    seeds: Iterable[int],
    probes: ProbeSpec | Probes,
    *,
    init: str = "transformers",
    prefix: str = "",
    tags: Mapping[str, str] | None = None,
    run: RunOptions | None = None,
    on_seed: Callable[[int, bool], Any] | None = None,
) -> RegisterReport:
    """Fingerprint the init of each seed and register it as ``{prefix}seed-{k}``, resuming an earlier run.

    Each entry is tagged ``seed=k``, ``init=<init>``, ``config=<config SHA-256>`` plus ``tags``. A name
    already registered with the same probes and those tags is skipped; any other entry of that name
    stops the run before anything is computed.

    Parameters
    ----------
    registry : Registry
        An open registry (:class:`seedprints.registry.Registry`).
    config, seeds, probes, init, run
        As for :func:`fingerprint_seeds`.
    prefix : str
        Prepended to every entry name.
    tags : mapping of str to str, optional
        Extra tags for every entry; they may not redefine ``seed``, ``init`` or ``config``.
    on_seed : callable, optional
        Called as ``on_seed(seed, added)`` after each seed (e.g. to advance a progress bar).

    Returns
    -------
    RegisterReport

    Raises
    ------
    RegistryError
        A name is taken by an entry of other probes, config, init or tags.
    UsageError
        Unknown ``init``, a ``prefix`` that makes bad entry names, or ``tags`` that redefine ``seed``, ``init`` or
        ``config``.
    TypeError
        ``prefix`` not a str, or ``tags`` not a mapping of str to str.
    """
    check_init(init)
    extra = check_seed_tags(tags)
    seeds = list(seeds)
    check_prefix(prefix, seeds)
    cfg = load_config(config)
    sha = config_sha256(cfg)
    spec = probes.spec if isinstance(probes, Probes) else probes
    wanted = {seed: {**extra, "seed": str(seed), "init": init, "config": sha} for seed in seeds}
    existing = {e.name: e for e in registry.entries()}
    todo: list[int] = []
    skipped: list[str] = []
    for seed in seeds:
        name = seed_entry_name(prefix, seed)
        entry = existing.get(name)
        if entry is None:
            todo.append(seed)
        elif _same_candidate(entry, spec.hash, wanted[seed]):
            skipped.append(name)
        else:
            raise RegistryError(
                f"registry {registry.path} already has an entry {name!r} made otherwise (other probes, config, init or "
                "tags); choose another --name-prefix or remove it"
            )
    for seed in seeds:
        if seed not in todo and on_seed is not None:
            on_seed(seed, False)
    added: list[str] = []
    for seed, fp in zip(todo, fingerprint_seeds(cfg, todo, probes, init=init, run=run)):
        name = seed_entry_name(prefix, seed)
        registry.add(fp, name=name, tags=wanted[seed])
        added.append(name)
        if on_seed is not None:
            on_seed(seed, True)
    return RegisterReport(registry=str(registry.path), config_sha256=sha, probe_hash=spec.hash, added=added, skipped=skipped)


def check_seed_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Extra tags for candidate seeds, checked as registry tags; ``seed``, ``init`` and ``config`` are set by
    :func:`register_seeds` itself (UsageError)."""

    extra = check_tags(tags)
    reserved = sorted({"seed", "init", "config"} & set(extra))
    if reserved:
        raise UsageError(f"tag(s) {', '.join(reserved)} are set by seeds register itself; use other tag names")
    return extra


def check_prefix(prefix: str, seeds: list[int], *, option: str | None = None) -> None:
    """Refuse a name prefix that makes bad entry names (see :func:`seedprints.registry.entries.check_name`) before any
    work; ``option`` names the CLI flag that gave it, for advice."""

    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    if seeds:
        check_name(seed_entry_name(prefix, max(seeds)), option=option)  # the longest name; the prefix is the rest
