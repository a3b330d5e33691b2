"""Hugging Face Hub ids as model arguments: tell ``org/name[@REV]`` from a local path, download only safe files,
and turn every Hub failure into one line that says what to do.

Only arguments that are Hub ids touch the network; a local path always wins, and loading a downloaded
snapshot runs offline like any local directory. The commit a download resolved to is recorded in the
fingerprint's metadata (:func:`snapshot_metadata`), read back from the Hub cache's folder names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from pathlib import Path
from typing import Iterator

from seedprints.errors import HubError, HubUnreachableError, compact_message

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
HUB_ID = re.compile(rf"{_NAME}/{_NAME}")
_REVISION = re.compile(r"[^\s@]{1,256}")
_SNAPSHOT = re.compile(r"models--(?P<org>[^/]+?)--(?P<name>[^/]+)/snapshots/(?P<commit>[0-9a-f]{40})")
WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json")
CONFIG_PATTERNS = ("config.json", "generation_config.json", "adapter_config.json")
TOKENIZER_PATTERNS = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "tokenizer.model",
    "spiece.model", "vocab.json", "vocab.txt", "merges.txt", "*.tiktoken", "chat_template.jinja",
)
CODE_PATTERNS = ("*.py",)
LOGIN_ADVICE = "log in with a token (`hf auth login`, or set HF_TOKEN)"


@dataclasses.dataclass(frozen=True)
class HubRef:
    """A model on the Hub: its repository id and the revision asked for (None: the default branch)."""

    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return self.repo_id if self.revision is None else f"{self.repo_id}@{self.revision}"


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A downloaded revision of a Hub model: what was asked, the commit it resolved to, and its local folder."""

    ref: HubRef
    commit: str
    path: Path


def parse_hub_id(argument: str | os.PathLike[str], revision: str | None = None) -> HubRef | None:
    """The Hub model ``argument`` names (``org/name`` or ``org/name@REV``), or None when it is a local path or no Hub id.

    An existing path always wins. ``revision`` (``--revision``) applies to an id without ``@REV``; an id that
    has both is refused, since the two could disagree.
    """
    text = os.fspath(argument)
    if os.path.lexists(text):
        return None
    repo_id, at, inline = text.partition("@")
    if not HUB_ID.fullmatch(repo_id) or "--" in repo_id or ".." in repo_id or repo_id.endswith(".git"):
        return None
    if at and not _REVISION.fullmatch(inline):
        return None
    if at and revision is not None and inline != revision:
        raise HubError(f"{text} names revision {inline!r} but --revision says {revision!r}; give the revision once")
    return HubRef(repo_id, inline if at else revision)


def allow_patterns(trust_remote_code: bool = False) -> list[str]:
    """The files a download fetches: safetensors weights, configs and tokenizer files; Python files only with remote code."""
    return [*WEIGHT_PATTERNS, *CONFIG_PATTERNS, *TOKENIZER_PATTERNS, *(CODE_PATTERNS if trust_remote_code else ())]


def download(ref: HubRef, *, trust_remote_code: bool = False, progress: bool = False) -> Snapshot:
    """Resolve ``ref`` to a commit and download its safe files into the Hugging Face cache (reused when present).

    Raises HubError for a gated or private repository, an unknown revision, a repository without
    safetensors weights, or a Hub that cannot be reached (with ``HF_HUB_OFFLINE`` set: a model not in the cache).
    """
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub import errors as hf

    where = dict(endpoint=_endpoint(), cache_dir=_cache_dir(), allow_patterns=allow_patterns(trust_remote_code))
    try:
        with _progress_bars(progress):
            try:
                info = HfApi(endpoint=where["endpoint"]).model_info(ref.repo_id, revision=ref.revision)
            except hf.OfflineModeIsEnabled:
                path = snapshot_download(ref.repo_id, revision=ref.revision, local_files_only=True, **where)
            else:
                files = [sibling.rfilename for sibling in info.siblings or []]
                if not any(name.endswith(".safetensors") for name in files):
                    raise HubError(f"{ref} has no safetensors weights on the Hub (files: {_some(files)}); seedprints "
                                   "downloads safetensors only, never pickles: convert the model or pick a revision "
                                   "that has them")
                # by name, not by info.sha: the cache then maps the branch or tag to its commit for offline runs
                path = snapshot_download(ref.repo_id, revision=ref.revision, **where)
    except HubError:
        raise
    except Exception as exc:  # noqa: BLE001 - every Hub or network failure becomes one line
        raise hub_error(exc, ref) from exc
    return Snapshot(ref, Path(path).name, Path(path))


def model_card(snapshot: Snapshot) -> Path | None:
    """The model card (``README.md``) of a downloaded revision, fetched at its commit into the same cache; None when
    the repository has none. Any other failure is a HubError, as for :func:`download`."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub import errors as hf

    try:
        path = hf_hub_download(snapshot.ref.repo_id, "README.md", revision=snapshot.commit, endpoint=_endpoint(),
                               cache_dir=_cache_dir())
    except hf.RemoteEntryNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - every Hub or network failure becomes one line
        raise hub_error(exc, snapshot.ref) from exc
    return Path(path)


def hub_error(exc: BaseException, ref: HubRef) -> HubError:
    """One line for a failed Hub request: what went wrong with ``ref`` and what to do."""
    from huggingface_hub import errors as hf

    if isinstance(exc, hf.GatedRepoError):
        return HubError(f"{ref.repo_id} is a gated repository on the Hub; accept its conditions on its page, then "
                        f"{LOGIN_ADVICE}")
    if isinstance(exc, hf.RevisionNotFoundError):
        return HubError(f"{ref.repo_id} has no revision {ref.revision!r} on the Hub; give an existing branch, tag or "
                        "commit with --revision or org/name@REV")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return HubError(f"{ref.repo_id} is neither a local path nor a Hub model you can see; check the name, or if the "
                        f"repository is private or gated, {LOGIN_ADVICE}")
    if isinstance(exc, hf.LocalEntryNotFoundError) and os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true"):
        return HubError(f"{ref} is not in the Hugging Face cache and HF_HUB_OFFLINE is set; unset it to download the "
                        "model, or give a local model directory")
    return HubUnreachableError(f"{ref.repo_id} is not a local path, and as a Hub id it cannot be downloaded from "
                               f"{_endpoint() or 'https://huggingface.co'} ({compact_message(exc, 160, with_class=True)}); "
                               "check the path, or the network and HF_ENDPOINT")


def snapshot_metadata(model_dir: str | os.PathLike[str]) -> dict[str, str]:
    """``hub_repo`` and ``hub_commit`` of a folder in the Hugging Face cache (``models--ORG--NAME/snapshots/SHA``), else {}."""
    match = _SNAPSHOT.search(Path(model_dir).as_posix())
    if match is None:
        return {}
    return {"hub_repo": f"{match['org']}/{match['name']}", "hub_commit": match["commit"]}


def _endpoint() -> str | None:
    """``HF_ENDPOINT`` as it is now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or None


def _cache_dir() -> str | None:
    """The Hub cache named by ``HF_HUB_CACHE`` or ``HF_HOME`` now, else huggingface_hub's own default."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    return str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None


def _some(files: list[str], count: int = 4) -> str:
    shown = ", ".join(files[:count]) or "none"
    return shown + (f" and {len(files) - count} more" if len(files) > count else "")


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """huggingface_hub's download bars on stderr only when progress is wanted (never under --json or --quiet)."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    if not enabled:
        disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()
