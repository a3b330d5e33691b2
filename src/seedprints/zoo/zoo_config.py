"""A zoo config: what it holds (:class:`ZooConfig`, :class:`FamilyConfig`, the training regimes), every value checked
from JSON (:func:`parse_config`), and reading one by name or from a file (:func:`load_zoo_config`)."""

from __future__ import annotations

import dataclasses
import json
import math
import reprlib
from pathlib import Path
from typing import Any, Callable

from seedprints.errors import ZooConfigError
from seedprints.inputs import load_json, special_file
from seedprints.zoo.configs import BUILTIN_CONFIGS
from seedprints.zoo.specs import ArchSpec, TrainSpec
from seedprints.zoo.tokenizer import MIN_VOCAB

__all__ = ["COLLAPSED", "REGIMES", "FamilyConfig", "ZooConfig", "load_zoo_config", "parse_config"]

_TOP_KEYS = {"name", "tokenizer_vocab", "families", "pretrain", "checkpoints", "continual", "finetune", "lora",
             "edits", "merge", "blend", "distill"}
_FAMILY_KEYS = {"arch", "seeds", "derive", "regime"}
_DERIVE_LEVELS = ("full", "basic")
COLLAPSED = "tied-collapsed"
REGIMES = ("unseen-tail", "seen-tail", "shared-tokenizer", COLLAPSED)
"""How a family's lineages are pretrained (see :func:`seedprints.zoo.build.regime_pretrain`)."""


@dataclasses.dataclass(frozen=True)
class FamilyConfig:
    """One architecture and the init seeds trained with it; ``derive="full"`` also makes every derivative."""

    arch: Any
    seeds: tuple[int, ...]
    derive: str = "full"
    regime: str = "unseen-tail"


@dataclasses.dataclass(frozen=True)
class ZooConfig:
    """A parsed, checked zoo config (see :func:`parse_config` for the JSON keys)."""

    name: str
    tokenizer_vocab: int
    families: tuple[FamilyConfig, ...]
    pretrain: Any
    checkpoints: tuple[int, ...] = ()
    continual: Any = None
    finetune: Any = None
    lora: dict[str, Any] | None = None
    edits: tuple[dict[str, Any], ...] = ()
    merge: bool = False
    blend: tuple[float, ...] = ()
    distill: dict[str, Any] | None = None


def _fail(key: str, expected: str, value: Any) -> ZooConfigError:
    """The one-line error for a config value of the wrong type or range: the key, what it must be, what it is."""
    shown = json.dumps(value) if value is None or isinstance(value, bool) else reprlib.repr(value)  # JSON's true, null
    return ZooConfigError(f"zoo config: {key} must be {expected}, got {shown}; fix that value")


def _int(value: Any, key: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(key, f"an integer >= {minimum}", value)
    return value


def _ints(value: Any, key: str, minimum: int = 0) -> tuple[int, ...]:
    """A list of distinct integers >= ``minimum`` (JSON ``5`` where ``[5]`` belongs is refused by name)."""
    if not isinstance(value, list):
        raise _fail(key, f"a list of integers >= {minimum} such as [1, 2]", value)
    ints = tuple(_int(v, f"{key}[{i}]", minimum) for i, v in enumerate(value))
    if len(set(ints)) < len(ints):
        raise _fail(key, "a list without repeats", value)
    return ints


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(key, "a finite number", value)
    return float(value)


def _checked(make: Callable[[dict[str, Any]], Any], data: Any, key: str, what: str) -> Any:
    """Build ``make(data)`` from a JSON object, prefixing its ZooConfigError with the key it came from."""
    if not isinstance(data, dict):
        raise _fail(key, f"an object of {what}", data)
    try:
        return make(data)
    except ZooConfigError as exc:
        raise ZooConfigError(f"zoo config: {key}: {exc}") from exc


def _train_spec(data: Any, where: str) -> Any:
    return _checked(TrainSpec.from_dict, data, where, "training settings")


def _optional_spec(raw: dict[str, Any], key: str) -> Any:
    return None if raw.get(key) is None else _train_spec(raw[key], key)


def _families(value: Any) -> tuple[FamilyConfig, ...]:
    if not isinstance(value, list) or not value:
        raise _fail("families", "a non-empty list of {\"arch\": {...}, \"seeds\": [...]} objects", value)
    families = []
    seeds_seen: set[tuple[str, int]] = set()
    for i, fam in enumerate(value):
        if not isinstance(fam, dict) or set(fam) - _FAMILY_KEYS or "arch" not in fam or "seeds" not in fam:
            raise ZooConfigError(f"zoo config: families[{i}] needs 'arch' and 'seeds' (and optional 'derive', "
                                 "'regime') only")
        arch = _checked(ArchSpec.from_dict, fam["arch"], f"families[{i}].arch", "architecture settings")
        seeds = _ints(fam["seeds"], f"families[{i}].seeds")
        if not seeds:
            raise _fail(f"families[{i}].seeds", "a non-empty list of non-negative integers", fam["seeds"])
        for seed in seeds:
            if (arch.family, seed) in seeds_seen:
                raise ZooConfigError(f"zoo config: seed {seed} of family {arch.family} appears twice; give each once")
            seeds_seen.add((arch.family, seed))
        level = fam.get("derive", "full")
        if level not in _DERIVE_LEVELS:
            raise _fail(f"families[{i}].derive", f"one of {_DERIVE_LEVELS}", level)
        regime = fam.get("regime", "unseen-tail")
        if regime not in REGIMES:
            raise _fail(f"families[{i}].regime", f"one of {REGIMES}", regime)
        if regime == COLLAPSED and not arch.tie_embeddings:
            raise ZooConfigError(f"zoo config: families[{i}]: regime {COLLAPSED} needs a tied arch; set "
                                 "arch.tie_embeddings to true")
        families.append(FamilyConfig(arch=arch, seeds=seeds, derive=level, regime=regime))
    return tuple(families)


def _edits(value: Any) -> tuple[dict[str, Any], ...]:
    from seedprints.zoo import derive

    if not isinstance(value, list):
        raise _fail("edits", "a list of {\"transform\": name, ...} objects", value)
    for j, edit in enumerate(value):
        if not isinstance(edit, dict) or not isinstance(edit.get("transform"), str):
            raise _fail(f"edits[{j}]", "an object with a 'transform' name", edit)
        params = {k: v for k, v in edit.items() if k != "transform"}
        try:
            derive.describe(edit["transform"], params)  # names the transform and the bad value
        except ZooConfigError as exc:
            raise ZooConfigError(f"zoo config: edits[{j}]: {exc}") from exc
    return tuple(value)


def _blend(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise _fail("blend", "a list of weights strictly between 0 and 1 such as [0.5]", value)
    weights = tuple(_number(w, f"blend[{i}]") for i, w in enumerate(value))
    if not all(0 < w < 1 for w in weights):
        raise _fail("blend", "weights strictly between 0 and 1", value)
    if len({f"{w:g}" for w in weights}) < len(weights):  # the weight names the blend's directory
        raise _fail("blend", "a list without repeats", value)
    return weights


def _lora(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - {"train", "rank"} or "train" not in value:
        raise ZooConfigError("zoo config: lora must be {\"train\": {...}, \"rank\": r}")
    return {"train": _train_spec(value["train"], "lora.train"), "rank": _int(value.get("rank", 8), "lora.rank", 1)}


def _distill(value: Any, families: tuple[FamilyConfig, ...]) -> dict[str, Any]:
    first = families[0]
    if not isinstance(value, dict) or set(value) - {"teacher_seed", "student_seeds", "train", "temperature"}:
        raise ZooConfigError("zoo config: distill takes teacher_seed, student_seeds, train, temperature")
    teacher = value.get("teacher_seed")
    if isinstance(teacher, bool) or not isinstance(teacher, int) or teacher not in first.seeds:
        raise _fail("distill.teacher_seed", f"one of the first family's seeds {list(first.seeds)}", teacher)
    students = _ints(value.get("student_seeds", []), "distill.student_seeds")
    used = {seed for fam in families if fam.arch.family == first.arch.family for seed in fam.seeds}
    if not students or used & set(students):
        raise ZooConfigError("zoo config: distill.student_seeds must be new seeds, not used by any lineage")
    temperature = _number(value.get("temperature", 2.0), "distill.temperature")
    if temperature <= 0:
        raise _fail("distill.temperature", "a positive number", value["temperature"])
    return {"teacher_seed": teacher, "student_seeds": students,
            "train": _train_spec(value.get("train", {}), "distill.train"), "temperature": temperature}


def parse_config(raw: dict[str, Any]) -> ZooConfig:
    """Check a zoo config dict and build a :class:`ZooConfig`; ZooConfigError names the bad key or value.

    Keys: ``name``; ``tokenizer_vocab``; ``families`` (list of ``{"arch": {...ArchSpec}, "seeds":
    [...], "derive": "full"|"basic", "regime": one of REGIMES}``); ``pretrain``, ``continual``, ``finetune`` (TrainSpec
    objects; the last two optional); ``checkpoints`` (pretraining steps to keep); ``lora``
    (``{"train": {...}, "rank": r}``); ``edits`` (list of ``{"transform": name, ...params}``);
    ``merge`` (average the fine-tune and the LoRA model); ``blend`` (weights of blends of the first
    family's first two lineages' fine-tunes); ``distill`` (``{"teacher_seed", "student_seeds",
    "train", "temperature"}``). Every value is checked for its type and range before anything is built.
    """

    if not isinstance(raw, dict):
        raise ZooConfigError("zoo config must be a JSON object")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ZooConfigError(f"zoo config: unknown keys {unknown}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("name", "families", "pretrain"):
        if key not in raw:
            raise ZooConfigError(f"zoo config: missing key {key!r}")
    if not isinstance(raw["name"], str) or not raw["name"]:
        raise _fail("name", "a non-empty string", raw["name"])
    families = _families(raw["families"])
    pretrain = _train_spec(raw["pretrain"], "pretrain")
    checkpoints = _ints(raw.get("checkpoints", []), "checkpoints", minimum=1)
    if any(c >= pretrain.steps for c in checkpoints):
        raise ZooConfigError(f"zoo config: checkpoints must be steps between 1 and pretrain.steps - 1 ({pretrain.steps - 1})")
    edits = _edits(raw.get("edits", []))
    blend = _blend([] if raw.get("blend") is None else raw["blend"])
    lora = None if raw.get("lora") is None else _lora(raw["lora"])
    distill = None if raw.get("distill") is None else _distill(raw["distill"], families)
    merge = raw.get("merge", False)
    if not isinstance(merge, bool):
        raise _fail("merge", "true or false", merge)
    if blend and (len(families[0].seeds) < 2 or raw.get("finetune") is None):
        raise ZooConfigError("zoo config: blend needs two seeds in the first family and a finetune stage")
    if merge and (raw.get("finetune") is None or lora is None):
        raise ZooConfigError("zoo config: merge needs both a finetune and a lora stage")
    smallest = min(f.arch.vocab_size for f in families)
    vocab = raw.get("tokenizer_vocab", families[0].arch.vocab_size)
    if isinstance(vocab, bool) or not isinstance(vocab, int) or not MIN_VOCAB <= vocab <= smallest:
        raise ZooConfigError(
            f"zoo config: tokenizer_vocab must be an int from {MIN_VOCAB} (the byte tokens) to every arch's vocab_size "
            f"(smallest: {smallest}), got {reprlib.repr(vocab)}; set tokenizer_vocab, or raise vocab_size"
        )
    return ZooConfig(
        name=raw["name"], tokenizer_vocab=vocab, families=families, pretrain=pretrain,
        checkpoints=checkpoints, continual=_optional_spec(raw, "continual"), finetune=_optional_spec(raw, "finetune"),
        lora=lora, edits=edits, merge=merge, blend=blend, distill=distill,
    )


def load_zoo_config(source: str | Path) -> ZooConfig:
    """A built-in config by name (``cpu``, ``ci``, ``gpu``) or a JSON file."""

    if str(source) in BUILTIN_CONFIGS:
        return parse_config(BUILTIN_CONFIGS[str(source)])
    path = Path(source)
    builtins = ", ".join(sorted(BUILTIN_CONFIGS))
    if special_file(path) or path.is_dir():
        raise ZooConfigError(f"zoo config {path} is not a regular file (a folder, pipe or device); "
                             f"give a JSON file or one of {builtins}")
    try:
        raw = load_json(path.read_bytes())
    except FileNotFoundError as exc:
        raise ZooConfigError(f"zoo config {path} does not exist; use a JSON file or one of {builtins}") from exc
    except OSError as exc:
        raise ZooConfigError(f"cannot read zoo config {path}: {exc.strerror}; check the path and its permissions") from exc
    except json.JSONDecodeError as exc:
        raise ZooConfigError(f"zoo config {path} is not valid JSON ({exc}); fix the file") from exc
    return parse_config(raw)
