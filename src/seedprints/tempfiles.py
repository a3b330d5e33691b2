"""Hidden temporaries beside an output, named so that the leftovers of killed runs can be removed.

Every output is written to a hidden temporary beside its target and renamed into place, so the
final name never holds half a file. A run killed with SIGKILL cannot remove its temporary; its
name records the host and process id of the writer, and the next write of the same target removes
those whose writer, on this host, is no longer running. Temporaries of live writers, and of writers
on other hosts sharing the folder, are never touched.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from seedprints.errors import OutputPathError, SeedprintsError

SUFFIX = ".tmp"


@contextlib.contextmanager
def replacing(path: Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary handle on a temp file beside ``path`` that replaces ``path`` only if the block completes.

    The bytes are fsynced before the rename and the file gets ``mode``, by default the usual one
    (0666 less the umask); on any error or interrupt the temp file is removed. OS errors become
    OutputPathError.
    """
    try:
        fd, tmp = temp_file(path)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror}; choose a writable location") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~umask() if mode is None else mode)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, SeedprintsError):
            raise OutputPathError(f"cannot write {path}: {exc.strerror}; choose a writable location") from exc
        raise


def temp_file(target: Path) -> tuple[int, str]:
    """An open descriptor and path of a new hidden temporary file beside ``target`` (stale ones removed first)."""
    remove_stale(target)
    return tempfile.mkstemp(prefix=_prefix(target) + f"{os.getpid()}.", suffix=SUFFIX, dir=_folder(target))


def temp_dir(target: Path) -> Path:
    """A new hidden temporary folder beside ``target`` (stale ones removed first)."""
    remove_stale(target)
    return Path(tempfile.mkdtemp(prefix=_prefix(target) + f"{os.getpid()}.", suffix=SUFFIX, dir=_folder(target)))


def remove_stale(target: Path) -> list[Path]:
    """Remove the temporaries of ``target`` left by dead writers on this host; return what was removed."""
    prefix = _prefix(target)
    removed = []
    for path in Path(_folder(target)).glob(glob.escape(prefix) + "*" + SUFFIX):
        pid = path.name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or _running(int(pid)):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue  # another writer removed it first
        except OSError:
            continue  # not ours to remove (permissions): leave it, as before this sweep existed
        removed.append(path)
    return removed


def umask() -> int:
    """The process's file-mode creation mask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _prefix(target: Path) -> str:
    return f".{target.name}.{_host()}-"


def _folder(target: Path) -> str:
    return str(target.parent) if str(target.parent) else "."


def _host() -> str:
    """This machine's name, reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "host"


def _running(pid: int) -> bool:
    """Whether a process with this id runs on this host (our own counts; another user's too)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True
