"""The zoo manifest: what each model is and where it came from, the ground truth of every pair.

Every zoo model directory holds ``zoo_manifest.json`` beside its weights. Two models are of the
same lineage when they share an initialisation (their ``lineages`` intersect: one descends from
the other's init, or both from a common one); they are independent when their lineages are
disjoint (different init seeds, a student distilled from a teacher, another family).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from seedprints.errors import ZooConfigError
from seedprints.fingerprint import write_atomic

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
        if version != MANIFEST_VERSION:
            raise ZooConfigError(f"{where}: manifest version {version} is not {MANIFEST_VERSION}; rebuild the zoo")
        unknown = sorted(set(data) - fields - {"manifest_version"})
        missing = sorted({"name", "family", "init_seed", "lineages", "stage", "label"} - set(data))
        if unknown or missing:
            raise ZooConfigError(f"{where}: unknown keys {unknown} / missing keys {missing}")
        values = {k: v for k, v in data.items() if k in fields}
        values["lineages"] = tuple(values["lineages"])
        values["parents"] = tuple(values.get("parents", ()))
        return cls(**values)


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
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ZooConfigError(f"{model_dir} has no {MANIFEST_NAME}; it is not a zoo model (rebuild it with `seedprints zoo build`)") from exc
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ZooConfigError(f"{path} is unreadable or not JSON; rebuild that model") from exc
    return ModelEntry.from_dict(data, where=str(path))


def scan_zoo(zoo_dir: Path) -> tuple[list[tuple[Path, ModelEntry]], list[tuple[Path, str]]]:
    """All model directories under ``zoo_dir`` with their manifests, and the ones whose manifest failed."""
    zoo_dir = Path(zoo_dir)
    if not zoo_dir.is_dir():
        raise ZooConfigError(f"zoo directory {zoo_dir} does not exist; build one with `seedprints zoo build`")
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
