"""Offline HTML reports of ``matrix``, ``compare``, ``identify`` and ``claims``: one folder, written all at once.

A report folder holds ``results.json`` (the payload), the figures as files, and ``index.html``,
which needs nothing outside itself: CSS is inline, images are ``data:`` URIs or inline SVG, the one
script (table sorting) is inline, and a Content-Security-Policy forbids every external load. Every
name that comes from the user (model paths) is HTML-escaped. The folder is built in a temporary
folder beside the target and renamed into place, so a failure leaves nothing half-written.

This module writes the folder; :mod:`~seedprints.reports.figures` draws the figures and
:mod:`~seedprints.reports.pages` (with :mod:`~seedprints.reports.claims_page`) renders ``index.html``.

Example:
    >>> from seedprints.search.matrix import run_matrix                                        # doctest: +SKIP
    >>> write_report("report", "matrix", run_matrix(["a.fp", "b.fp"]).to_dict())       # doctest: +SKIP
    PosixPath('report/index.html')
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from seedprints import __version__
from seedprints import tempfiles
from seedprints.errors import OutputPathError, UsageError
from seedprints.probes import ProbeSpec
from seedprints.reports import claims_page, figures, pages
from seedprints.reports.pages import RESULTS_FILE

REPORT_KINDS = ("matrix", "compare", "identify", "claims")
REPORT_FILES = frozenset({RESULTS_FILE, figures.HEATMAP_FILE, figures.GRAPH_FILE, figures.CANDIDATES_FILE,
                          claims_page.GRAPH_FILE, "index.html"})


def check_report_dir(path: str | Path, *, force: bool = False) -> Path:
    """Fail fast, before any expensive work, if a report cannot be written to ``path``.

    ``path`` must not exist, be an empty folder, or (with ``force``) hold a previous report (a
    folder with ``results.json`` and only the files a report has: ``force`` never deletes anything else).

    Raises
    ------
    OutputPathError
        ``path`` is a file, a non-empty folder (without ``force``), a folder that is not a report,
        or its parent folder is missing or not writable.
    """
    path = Path(path)
    parent = path.parent
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"report folder {path} is a file; give the name of a new folder")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise OutputPathError(f"report folder {path} is not empty; choose a new folder, or pass --force to replace it")
        foreign = sorted(p.name for p in path.iterdir() if p.name not in REPORT_FILES or p.is_symlink() or not p.is_file())
        if foreign or not (path / RESULTS_FILE).is_file():
            held = f"it holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}" if foreign else f"no {RESULTS_FILE}"
            raise OutputPathError(
                f"report folder {path} holds something other than a seedprints report ({held}); "
                "--force only replaces a previous report, so choose a new folder"
            )
    if not parent.is_dir():
        raise OutputPathError(f"cannot write report {path}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write report {path}: folder {parent} is not writable; choose another location")
    return path


def write_report(out_dir: str | Path, kind: str, payload: dict[str, Any], *, force: bool = False) -> Path:
    """Write a report folder for a ``matrix``, ``compare``, ``identify`` or ``claims`` result; return its ``index.html``.

    Parameters
    ----------
    out_dir : str or Path
        The folder to create (see :func:`check_report_dir`).
    kind : {"matrix", "compare", "identify", "claims"}
        What ``payload`` holds: :meth:`seedprints.search.matrix.MatrixResult.to_dict`; a
        :class:`~seedprints.stats.result.LineageResult` dict plus ``reference`` and ``suspect``;
        identify's JSON (``suspect``, ``alpha``, ``tested``, ``skipped``, ``candidates``); or
        :meth:`seedprints.claims.results.ClaimsResult.to_dict` (page: :mod:`seedprints.reports.claims_page`).
        Optional keys shown when present: ``command``, ``probe_spec``, ``probe_description``.
    payload : dict
        Plain JSON types; written as ``results.json`` with ``kind``, ``schema_version``,
        ``seedprints_version`` and ``created_at`` added when absent.
    force : bool
        Replace a previous report in ``out_dir``.

    Returns
    -------
    Path
        ``out_dir / "index.html"``.
    """
    if kind not in REPORT_KINDS:
        raise UsageError(f"unknown report kind {kind!r}; choose one of {', '.join(REPORT_KINDS)}")
    out_dir = check_report_dir(out_dir, force=force)
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    payload = {"schema_version": 1, "kind": kind, "seedprints_version": __version__, "created_at": created, **payload}
    files: dict[str, bytes] = {RESULTS_FILE: (json.dumps(payload, indent=2, allow_nan=False) + "\n").encode()}
    if kind == "matrix":
        files[figures.HEATMAP_FILE] = figures.heatmap_png(payload)
        files[figures.GRAPH_FILE] = figures.lineage_graph_svg(payload).encode()
    elif kind == "identify":
        files[figures.CANDIDATES_FILE] = figures.candidates_png(payload)
    elif kind == "claims":
        files[claims_page.GRAPH_FILE] = claims_page.graph_svg(payload).encode()
    files["index.html"] = pages.render_html(kind, payload, files).encode()
    write_folder(out_dir, files)
    return out_dir / "index.html"


def write_folder(out_dir: Path, files: dict[str, bytes]) -> None:
    """Build the folder of ``files`` (name -> bytes) beside ``out_dir`` and rename it into place (a previous folder
    there is removed only after), so a failure leaves nothing half-written."""
    try:
        tmp = tempfiles.temp_dir(out_dir)
    except OSError as exc:
        raise OutputPathError(f"cannot write report {out_dir}: {exc.strerror}; choose a writable location") from exc
    old: Path | None = None
    try:
        for name, data in files.items():
            with open(tmp / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o777 & ~tempfiles.umask())  # mkdtemp makes 0700; give the folder the usual mode
        if out_dir.is_dir() and any(out_dir.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)  # replaces an empty folder, or none
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and out_dir.exists():
            old.rmdir()  # the previous report never moved: drop its empty placeholder
        elif old is not None:
            os.replace(old, out_dir)  # put the previous report back
        if isinstance(exc, OSError):
            raise OutputPathError(f"cannot write report {out_dir}: {exc.strerror}; choose a writable location") from exc
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def spec_fields(spec: ProbeSpec) -> dict[str, Any]:
    """The probe spec as a report shows it: ``probe_spec`` (JSON fields), ``probe_description``, ``probe_hash``."""
    return {"probe_spec": json.loads(spec.to_json()), "probe_description": spec.describe(), "probe_hash": spec.hash}
