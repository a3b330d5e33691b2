"""A local model's revision, read from files only: the commit of its git checkout or Hub cache snapshot, else a
digest of its config."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

__all__ = ["git_commit", "model_revision"]


def git_commit(path: Path) -> str | None:
    """The commit of a git checkout at ``path`` or of a Hugging Face cache snapshot, read from files only."""
    resolved = path.resolve()
    if resolved.parent.name == "snapshots" and re.fullmatch(r"[0-9a-f]{40}", resolved.name):
        return resolved.name
    git_dir = path / ".git"
    try:
        if git_dir.is_file():  # worktree / submodule: "gitdir: <path>"
            target = git_dir.read_text().strip().removeprefix("gitdir:").strip()
            git_dir = (path / target).resolve()
        head = (git_dir / "HEAD").read_text().strip()
        if re.fullmatch(r"[0-9a-f]{40,64}", head):
            return head
        if not head.startswith("ref:"):
            return None
        ref = head.removeprefix("ref:").strip()
        ref_file = git_dir / ref
        if ref_file.is_file():
            return ref_file.read_text().strip()
        packed = git_dir / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    except OSError:
        return None
    return None


def model_revision(path: Path, config_bytes: bytes) -> str:
    """The git commit of ``path`` (a checkout or a Hub cache snapshot), else the first 12 hex digits of the SHA-256 of
    its config file: what a fingerprint records as ``model_revision``."""
    return git_commit(path) or hashlib.sha256(config_bytes).hexdigest()[:12]
