"""The zoo manifest: what each model is and where it came from, the ground truth of every pair.

Every zoo model directory holds ``zoo_manifest.json`` beside its weights. Two models are of the
same lineage when they share an initialisation (their ``lineages`` intersect: one descends from
the other's init, or both from a common one); they are independent when their lineages are
disjoint (different init seeds, a student distilled from a teacher, another family).
"""

from __future__ import annotations

import dataclasses
import json
import reprlib
from pathlib import Path
from typing import Any, Callable

from seedprints.errors import ZooConfigError
from seedprints.output_paths import write_atomic
from seedprints.inputs import load_json, special_file

MANIFEST_NAME = "zoo_manifest.json"
MANIFEST_VERSION = 1
STAGES = ("init", "checkpoint", "pretrained", "continual", "finetune", "lora", "edit", "merge", "blend", "distill")


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One zoo model and its provenance.

    Attributes
    ----------
    name : str
        Directory name, unique in the zoo (e.g. ``"llama-s1-pretrained"``).
    family : str
        Architecture family (``"llama"``, ``"qwen2"``, ...).
    init_seed : int
        Seed of the initialisation the weights started from (for a merge: the first parent's).
    lineages : tuple of str
        Lineage ids (``"<family>-s<seed>"``) the model descends from; two for a cross-lineage blend.
    stage : str
        How the model was made (one of :data:`STAGES`).
    label : str
        Short name of the transformation, used to group results (``"int8"``, ``"finetune"``, ...).
    parents : tuple of str
        Names of the models it was made from (empty for an init).
    params : dict
        Parameters of the transformation (training spec, blend weight, ...).
    steps : int
        Training steps since initialisation (all stages added up along the first parent).
    regime : str
        How its lineage was pretrained (``"unseen-tail"``, ``"seen-tail"``, ``"shared-tokenizer"``;
        see :func:`seedprints.zoo.build.regime_pretrain`): pairs are scored per regime.
    """

    name: str
    family: str
    init_seed: int
    lineages: tuple[str, ...]
    stage: str
    label: str
    parents: tuple[str, ...] = ()
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    steps: int = 0
    regime: str = "unseen-tail"

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ZooConfigError(f"model {self.name!r}: unknown stage {self.stage!r}; known: {', '.join(STAGES)}")
        if not self.lineages:
            raise ZooConfigError(f"model {self.name!r} has no lineage")

    def to_dict(self) -> dict[str, Any]:
        return {"manifest_version": MANIFEST_VERSION, **dataclasses.asdict(self),
                "lineages": list(self.lineages), "parents": list(self.parents)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "manifest") -> "ModelEntry":
        fields = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict):
            raise ZooConfigError(f"{where}: expected a JSON object")
        version = data.get("manifest_version", MANIFEST_VERSION)
        if isinstance(version, bool) or version != MANIFEST_VERSION:
            raise ZooConfigError(f"{where}: manifest version {_shown(version)} is not {MANIFEST_VERSION}; rebuild the zoo")
        unknown = sorted(set(data) - fields - {"manifest_version"})
        missing = sorted({"name", "family", "init_seed", "lineages", "stage", "label"} - set(data))
        if unknown or missing:
            raise ZooConfigError(f"{where}: unknown keys {unknown} / missing keys {missing}")
        values = {k: v for k, v in data.items() if k in fields}
        for key, (ok, expected) in _FIELD_CHECKS.items():
            if key in values and not ok(values[key]):
                raise ZooConfigError(f"{where}: {key} must be {expected}, got {_shown(values[key])}; "
                                     "rebuild that model with `seedprints zoo build`")
        values["lineages"] = tuple(values["lineages"])
        values["parents"] = tuple(values.get("parents", ()))
        return cls(**values)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_FIELD_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (lambda v: isinstance(v, str), "a string"),
    "family": (lambda v: isinstance(v, str), "a string"),
    "init_seed": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0"),
    "lineages": (_strings, "a list of strings"),
    "stage": (lambda v: isinstance(v, str), "a string"),
    "label": (lambda v: isinstance(v, str), "a string"),
    "parents": (_strings, "a list of strings"),
    "params": (lambda v: isinstance(v, dict), "an object"),
    "steps": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0"),
    "regime": (lambda v: isinstance(v, str), "a string"),
}
"""The type each manifest field read from JSON must have, and how the error names it."""


def _shown(value: Any) -> str:
    """A JSON value as a short message fragment (JSON spelling for true, false and null)."""
    return json.dumps(value) if value is None or isinstance(value, bool) else reprlib.repr(value)


def lineage_id(family: str, seed: int) -> str:
    """Id of the lineage started by initialising ``family`` with ``seed``."""
    return f"{family}-s{seed}"


def same_lineage(a: ModelEntry, b: ModelEntry) -> bool:
    """Ground truth: True when the two models share an initialisation."""
    return bool(set(a.lineages) & set(b.lineages))


def write_manifest(model_dir: Path, entry: ModelEntry) -> Path:
    """Write ``zoo_manifest.json`` into a model directory, atomically."""
    text = json.dumps(entry.to_dict(), indent=2, sort_keys=True) + "\n"
    return write_atomic(Path(model_dir) / MANIFEST_NAME, text.encode())


def read_manifest(model_dir: Path) -> ModelEntry:
    """Read a model directory's manifest; ZooConfigError naming the directory when missing or bad."""
    path = Path(model_dir) / MANIFEST_NAME
    if special_file(path):
        raise ZooConfigError(f"{path} is not a regular file (a pipe or device); rebuild that model")
    try:
        data = load_json(path.read_bytes())
    except FileNotFoundError as exc:
        raise ZooConfigError(f"{model_dir} has no {MANIFEST_NAME}; it is not a zoo model (rebuild it with `seedprints zoo build`)") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ZooConfigError(f"{path} is unreadable or not JSON; rebuild that model") from exc
    return ModelEntry.from_dict(data, where=str(path))


def no_models_error(zoo_dir: Path, failed: list[tuple[Path, str]]) -> ZooConfigError:
    """The error for a zoo none of whose model directories has a usable manifest (``failed``: those that have a bad one)."""
    if failed:
        return ZooConfigError(f"no model of {zoo_dir} has a usable manifest ({len(failed)} bad; first: {failed[0][1]})")
    return ZooConfigError(f"{zoo_dir} holds no model directories; build a zoo with `seedprints zoo build`")


def check_zoo_dir(zoo_dir: Path) -> None:
    """Refuse a zoo path that is not a folder, saying whether it is missing or is a file."""
    if zoo_dir.is_dir():
        return
    if zoo_dir.exists():
        raise ZooConfigError(f"{zoo_dir} is a file, not a zoo directory; pass the folder that `seedprints zoo build "
                             "--out` wrote")
    raise ZooConfigError(f"zoo directory {zoo_dir} does not exist; build one with `seedprints zoo build`")


def scan_zoo(zoo_dir: Path) -> tuple[list[tuple[Path, ModelEntry]], list[tuple[Path, str]]]:
    """All model directories under ``zoo_dir`` with their manifests, and the ones whose manifest failed."""
    zoo_dir = Path(zoo_dir)
    check_zoo_dir(zoo_dir)
    found: list[tuple[Path, ModelEntry]] = []
    failed: list[tuple[Path, str]] = []
    for child in sorted(p for p in zoo_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (child / "config.json").is_file():
            continue
        try:
            found.append((child, read_manifest(child)))
        except ZooConfigError as exc:
            failed.append((child, str(exc)))
    return found, failed
