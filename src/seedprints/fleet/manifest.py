"""The fleet manifest: one model per JSON Lines object or CSV row, with its name, where it is, and its tags."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

from seedprints import hub
from seedprints.errors import HubError, UsageError
from seedprints.inputs import special_file
from seedprints.registry.entries import check_name, check_tags

FIELDS = ("name", "model", "revision", "tags")
REQUIRED = ("name", "model")


@dataclasses.dataclass(frozen=True)
class ManifestItem:
    """One model: its registry entry name, a local path (made absolute) or Hub id, the Hub revision, and tags."""

    name: str
    model: str
    revision: str | None = None
    tags: dict[str, str] = dataclasses.field(default_factory=dict)


def read_manifest(path: Path, revision: str | None = None) -> list[ManifestItem]:
    """The models a manifest lists (``.jsonl``/``.ndjson``: JSON objects; ``.csv``: a header row, tags as ``k=v;k=v``);
    ``revision`` (``--revision``) is the Hub revision of the Hub ids that give none.

    Raises UsageError, naming the file and line, for an unreadable file, an unknown suffix or field, a missing
    name or model, bad tags, a revision on a local path, or a name given twice; and when ``revision`` is given
    but the manifest lists no Hub id.
    """
    if not path.is_file() or special_file(path):
        raise UsageError(f"manifest {path} is not a readable file; give a .jsonl or .csv list of models")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read manifest {path}: {exc}; save it as UTF-8 text") from exc
    if suffix in (".jsonl", ".ndjson"):
        rows = _json_rows(path, text)
    elif suffix == ".csv":
        rows = _csv_rows(path, text)
    else:
        raise UsageError(f"manifest {path} must be JSON Lines (.jsonl) or CSV (.csv), not {suffix or 'a file without suffix'}")
    items = [_item(path, line, row) for line, row in rows]
    if not items:
        raise UsageError(f"manifest {path} lists no models; add one line per model with its name and model")
    _refuse_repeated_names(path, items)
    hub_items = [item for item in items if not Path(item.model).is_absolute()]
    if revision is not None and not hub_items:
        raise UsageError(f"--revision applies to Hub ids, but manifest {path} lists only local paths; drop it")
    return [dataclasses.replace(item, revision=item.revision or revision) if item in hub_items else item for item in items]


def _json_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"manifest {path} line {number} is not JSON ({exc.msg}); write one object per line") from exc
        if not isinstance(row, dict):
            raise UsageError(f"manifest {path} line {number} is not a JSON object; write {{\"name\": ..., \"model\": ...}}")
        rows.append((number, row))
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    unknown = [field for field in reader.fieldnames or [] if field not in FIELDS]
    if unknown or not reader.fieldnames:
        raise UsageError(f"manifest {path} has columns {unknown or 'none'}; its header row names {', '.join(FIELDS)}")
    rows = []
    for row in reader:
        if None in row:
            raise UsageError(f"manifest {path} line {reader.line_num} has more cells than the header; quote commas")
        tags = row.pop("tags", None) or ""
        cells: dict[str, Any] = {k: v for k, v in row.items() if v not in ("", None)}
        if tags:
            cells["tags"] = dict(_tag(path, reader.line_num, pair) for pair in tags.split(";") if pair.strip())
        rows.append((reader.line_num, cells))
    return rows


def _tag(path: Path, line: int, pair: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep:
        raise UsageError(f"manifest {path} line {line}: tag {pair!r} is not KEY=VALUE; separate tags with ';'")
    return key.strip(), value.strip()


def _item(path: Path, line: int, row: dict[str, Any]) -> ManifestItem:
    """One checked item; a local path is made absolute (relative ones are read from the manifest's folder)."""

    where = f"manifest {path} line {line}"
    unknown = sorted(set(row) - set(FIELDS))
    missing = [field for field in REQUIRED if not isinstance(row.get(field), str) or not row[field].strip()]
    if unknown or missing:
        problem = f"unknown field {unknown[0]!r}" if unknown else f"no {missing[0]!r}"
        raise UsageError(f"{where}: {problem}; each model gives name and model, optionally revision and tags")
    revision, tags = row.get("revision"), row.get("tags", {})
    if revision is not None and not isinstance(revision, str):
        raise UsageError(f"{where}: revision must be a string (a branch, tag or commit)")
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise UsageError(f"{where}: tags must be an object of strings, e.g. {{\"family\": \"llama\"}}")
    try:
        check_name(row["name"])
        tags = check_tags(tags)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from exc
    model = row["model"]
    local = Path(model).expanduser()
    if not local.is_absolute() and (path.parent / local).exists():
        local = path.parent / local
    if local.exists():
        if revision is not None:
            raise UsageError(f"{where}: {model} is a local path, so revision {revision!r} means nothing; drop it")
        return ManifestItem(row["name"], str(local.resolve()), None, tags)
    try:
        ref = hub.parse_hub_id(model, revision)
    except HubError as exc:
        raise UsageError(f"{where}: {exc}") from exc
    if ref is None:
        raise UsageError(f"{where}: {model} is neither an existing local path nor a Hub id org/name[@REV]")
    return ManifestItem(row["name"], ref.repo_id, ref.revision, tags)


def _refuse_repeated_names(path: Path, items: list[ManifestItem]) -> None:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise UsageError(f"manifest {path} names {item.name!r} twice; give each model its own name")
        seen.add(item.name)
