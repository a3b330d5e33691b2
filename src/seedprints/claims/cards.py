"""What a model says it is built on: the claimed bases in its model card, adapter config or GGUF metadata.

A Hugging Face model card states its bases in the YAML front-matter of ``README.md``::

    ---
    base_model: org/name            # or a list: [org/a, org/b]
    base_model_relation: finetune   # finetune | adapter | quantized | merge (optional)
    ---

A PEFT adapter names the base it was trained on in ``adapter_config.json`` (``base_model_name_or_path``), and a
GGUF file may name bases in its metadata (``general.base_model.N.repo_url``, ``.organization``, ``.name``). Every
source found is read and the claims merged, the card's relation winning. A card that cannot be read (missing,
not UTF-8, a front-matter that is not YAML or names bases in the wrong shape) is a *problem*, one line saying
what is wrong, never an exception: the run reports it and goes on with the other models.

Example:
    >>> card = read_claims("./my-finetune")                             # doctest: +SKIP
    >>> [(c.base, c.relation) for c in card.claims], card.problem       # doctest: +SKIP
    ([('meta-llama/Llama-2-7b-hf', 'finetune')], None)
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from seedprints.errors import SeedprintsError, compact_message
from seedprints.model.sources import adapter_config

CARD_NAME = "README.md"
RELATIONS = ("finetune", "adapter", "quantized", "merge")
MAX_CARD_BYTES = 1 << 20  # a model card's front-matter is at its top; a larger file is read no further
SOURCES = ("model card", "adapter config", "GGUF metadata")
_HUB_URL = re.compile(r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<repo>[^/?#\s]+/[^/?#\s]+)")
_MAX_GGUF_BASES = 64


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claimed base: the model id as the source names it, the stated relation (None: not stated), and where it
    was read (one of :data:`SOURCES`)."""

    base: str
    relation: str | None
    source: str


@dataclasses.dataclass(frozen=True)
class Card:
    """The claims read for one model.

    Attributes
    ----------
    claims : tuple of Claim
        Every claimed base, once each, in the order the sources name them.
    problem : str or None
        One line saying why the model card could not be read (then its claims are unknown); None when it was read,
        or when it is absent but an adapter config or GGUF metadata names the base.
    read : tuple of str
        The sources that were read (e.g. ``("model card",)``); empty when none exists.
    """

    claims: tuple[Claim, ...] = ()
    problem: str | None = None
    read: tuple[str, ...] = ()

    def describe(self) -> str:
        """What was read, in a few words: ``model card: 2 claimed bases``, ``no model card``, or the problem."""
        if self.problem:
            return self.problem
        if not self.read:
            return "no model card, adapter config or GGUF metadata names a base"
        count = len(self.claims)
        return f"{' and '.join(self.read)}: " + (f"{count} claimed base{'s' if count != 1 else ''}" if count else "claims no base")


class CardError(SeedprintsError, ValueError):
    """A model card's front-matter that cannot be read as claims (its message is the one-line problem)."""


def read_claims(model: str | Path, *, card: str | Path | None = None, label: str | None = None) -> Card:
    """The claimed bases of a model directory, GGUF file or PEFT adapter, from every source it has.

    Parameters
    ----------
    model : str or Path
        The model as given to seedprints (a folder, a GGUF file, or a folder holding an adapter or a GGUF).
    card : str or Path, optional
        The model card to read instead of ``README.md`` beside the model (e.g. one downloaded from the Hub);
        a path that does not exist means the model has no card.
    label : str, optional
        How messages name the model (default: ``model``; e.g. a Hub id rather than its cache folder).

    Returns
    -------
    Card
        The claims and, when the card could not be read, the problem. A missing card is a problem only when
        no other source names a base (the claims of such a model cannot be known).
    """
    path = Path(model)
    folder = path if path.is_dir() else path.parent
    card_path = Path(card) if card is not None else folder / CARD_NAME
    label = label or str(model)
    claims: list[Claim] = []
    read: list[str] = []
    problem = None
    if card_path.is_file():
        try:
            claims += card_claims(card_path, label)
            read.append("model card")
        except CardError as exc:
            problem = str(exc)
    for source, found in (("adapter config", _adapter_claims(folder)), ("GGUF metadata", _gguf_claims(path))):
        if found is not None:
            read.append(source)
            claims += found
    if problem is None and not card_path.is_file() and not claims:
        problem = f"no model card: {label} has no {card_path.name}, so what it claims cannot be read"
    return Card(_merged(claims), problem, tuple(read))


def card_claims(path: Path, label: str | None = None) -> list[Claim]:
    """The claims of a model card's YAML front-matter (none when it has no front-matter or names no base); messages
    name the card as ``label``'s (default: its path).

    Raises CardError with one line for a card that is unreadable, not UTF-8, or whose front-matter is not
    closed, not YAML, not a mapping, or gives ``base_model`` / ``base_model_relation`` in the wrong shape.
    """
    where = f"the model card of {label}" if label else f"model card {path}"
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CARD_BYTES)
    except OSError as exc:
        raise CardError(f"{where} cannot be read ({exc.strerror}); check its permissions") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if len(data) == MAX_CARD_BYTES:  # cut inside a character: keep what decodes
            text = data[: exc.start].decode("utf-8-sig")
        else:
            raise CardError(f"{where} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    meta = front_matter(text, where)
    bases = meta.get("base_model")
    relation = meta.get("base_model_relation")
    if bases is None:
        return []
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) and b.strip() for b in bases):
        raise CardError(f"{where}: base_model must be a model id or a list of model ids, not "
                        f"{_shown(meta['base_model'])}; fix the card's front-matter")
    if relation is not None and not (isinstance(relation, str) and relation.strip()):
        raise CardError(f"{where}: base_model_relation must be one of {', '.join(RELATIONS)}, not "
                        f"{_shown(relation)}; fix the card's front-matter")
    relation = relation.strip().lower() if relation is not None else None
    return [Claim(base.strip(), relation, "model card") for base in bases]


def front_matter(text: str, where: str = f"model card {CARD_NAME}") -> dict[str, Any]:
    """The YAML front-matter of a model card as a mapping ({} when the card has none); messages name the card ``where``.

    The front-matter is the block between a first line ``---`` and the next line ``---`` (or ``...``).
    """
    import yaml

    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
    if end is None:
        raise CardError(f"{where}: its front-matter opens with --- on line 1 but is never closed; "
                        "end it with a line ---")
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 2}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or compact_message(exc, 120)
        raise CardError(f"{where}: its front-matter is not valid YAML ({what}{at}); fix the card") from exc
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise CardError(f"{where}: its front-matter is {type(meta).__name__} YAML, not a mapping of keys "
                        "such as base_model; fix the card")
    return meta


def _adapter_claims(folder: Path) -> list[Claim] | None:
    """The base a PEFT adapter names (relation ``adapter``), or None when ``folder`` holds no adapter config."""
    config = folder / "adapter_config.json"
    if not config.is_file():
        return None

    try:
        named = adapter_config(folder).get("base_model_name_or_path")
    except SeedprintsError:
        return []  # the adapter's own loading says what is wrong with it
    return [Claim(named.strip(), "adapter", "adapter config")] if isinstance(named, str) and named.strip() else []


def _gguf_claims(path: Path) -> list[Claim] | None:
    """The bases a GGUF file's metadata names (``general.base_model.*``), or None when ``path`` is no GGUF."""
    files = [path] if path.is_file() else sorted(path.glob("*.gguf")) if path.is_dir() else []
    if len(files) != 1 or files[0].suffix.lower() != ".gguf" or (path.is_dir() and (path / "config.json").is_file()):
        return None
    from seedprints.model.sources import gguf_reader

    try:
        fields = gguf_reader(files[0]).fields
    except SeedprintsError:
        return []  # the model's own loading says what is wrong with the file
    count = _gguf_value(fields, "general.base_model.count")
    claims = []
    for i in range(min(count, _MAX_GGUF_BASES) if isinstance(count, int) else 0):
        url, org, name = (_gguf_value(fields, f"general.base_model.{i}.{key}") for key in ("repo_url", "organization", "name"))
        match = _HUB_URL.match(url) if isinstance(url, str) else None
        base = match["repo"] if match else f"{org}/{name}" if org and name else name or url
        if isinstance(base, str) and base.strip():
            claims.append(Claim(base.strip(), None, "GGUF metadata"))
    return claims


def _gguf_value(fields: dict[str, Any], key: str) -> Any:
    """A scalar GGUF metadata value: a str or an int (None when absent or of another type)."""
    field = fields.get(key)
    if field is None or not field.data:
        return None
    from gguf import GGUFValueType

    part = field.parts[field.data[0]]
    try:
        if field.types[:1] == [GGUFValueType.STRING]:
            return bytes(part).decode("utf-8")
        return int(part[0]) if field.types[:1] != [GGUFValueType.ARRAY] else None
    except (UnicodeDecodeError, TypeError, ValueError, IndexError):
        return None


def _merged(claims: list[Claim]) -> tuple[Claim, ...]:
    """Each base once, in first-named order, with the first stated relation any source gives it."""
    out: dict[str, Claim] = {}
    for claim in claims:
        if claim.base not in out:
            out[claim.base] = claim
        elif out[claim.base].relation is None and claim.relation is not None:
            out[claim.base] = dataclasses.replace(out[claim.base], relation=claim.relation)
    return tuple(out.values())


def _shown(value: Any) -> str:
    """A YAML value as a message shows it: its type and a short repr."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"
