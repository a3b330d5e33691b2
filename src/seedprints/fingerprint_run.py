"""One run of ``seedprints fingerprint``: a model's fingerprint file made (with its own or a reference's probes),
grown (``extend``) or stopped once decided against a reference (``early_stop``), resumable after an interruption.

The run keeps its finished rows in a hidden partial file beside the output (:mod:`seedprints.resume`) and removes it
once the output is written, so the same call after a crash or Ctrl-C goes on where it stopped.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from seedprints import fingerprint as _fpfile
from seedprints import pipeline
from seedprints.errors import OutputPathError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.naming import setting
from seedprints.options import ProbeOptions, RunOptions
from seedprints.output_paths import check_output_path
from seedprints.probes import Probes, ProbeSpec
from seedprints.resume import kept_rows, partial_path
from seedprints.stats.result import LineageResult


@dataclasses.dataclass(frozen=True)
class Written:
    """The fingerprint file a run wrote, and, when it stopped early, its decision against the reference."""

    path: Path
    fingerprint: Fingerprint
    decision: LineageResult | None = None


def check_output(output: Path, model: Path, *, like: Path | None = None, extend: Path | None = None) -> None:
    """Refuse, before any work, an ``extend`` that is no file, an output that is an input, and anything but a regular
    file in the way of the run's resume file."""
    if extend is not None and not extend.is_file():
        raise OutputPathError(f"{setting('extend', str(extend))} is not an existing fingerprint file; give the file "
                              "to grow (make one first with -o)")
    check_output_path(output, [model, *([like] if like is not None else [])])
    partial = partial_path(output)
    if partial.exists() and (partial.is_symlink() or not partial.is_file()):
        raise OutputPathError(f"{partial} is in the way of this run's resume file (it is not a regular file); "
                              "remove it")


def fingerprint_file(
    model: Any,
    output: Path,
    *,
    like: Path | None = None,
    extend: Path | None = None,
    budget: int | None = None,
    early_stop: bool = False,
    alpha: float = 0.01,
    options: ProbeOptions | None = None,
    run: RunOptions | None = None,
    on_resumable: Callable[[Callable[[], str | None]], None] | None = None,
) -> Written:
    """Fingerprint ``model`` into ``output``: grown from ``extend``, stopped early against ``like``, or on ``like``'s
    probes (else ``options``'), at most ``budget`` of them; ``on_resumable`` gets what an interruption would keep."""
    options, run = options or ProbeOptions(), run or RunOptions()
    if early_stop and like is None:
        raise UsageError(f"{setting('early_stop', True)} needs a reference to decide against: add {setting('like')}")
    if extend is not None and (like is not None or early_stop):
        raise UsageError(f"{setting('extend')} takes its probes from the file it grows; drop {setting('like')} and "
                         f"{setting('early_stop', True)}")
    partial, decision = partial_path(output), None
    if extend is not None:
        fp = pipeline.extend_fingerprint(model, _fpfile.load(extend), budget or options.n, source=str(extend), run=run)
    elif early_stop:
        reference = _fpfile.load(like)
        fp, decision = pipeline.fingerprint_until_decided(model, reference, alpha=alpha, budget=budget, run=run)
    else:
        options = dataclasses.replace(options, n=budget or options.n)
        probes, origin = like_probes(model, like, options, budget=budget, trust_remote_code=run.trust_remote_code)
        if on_resumable is not None:
            on_resumable(lambda: resume_note(output))
        fp = pipeline.fingerprint_model(model, probes, options=options, run=run, partial=partial, probe_origin=origin)
    fp.save(output)
    partial.unlink(missing_ok=True)
    return Written(output, fp, decision)


def like_probes(model: Any, like: Path | None, options: ProbeOptions | None = None, *, budget: int | None = None,
                trust_remote_code: bool = False) -> tuple[ProbeSpec | Probes | None, str | None]:
    """``like``'s probes (at most ``budget`` of them) and where they come from, ``model`` checked by config to take
    them; ``(None, None)`` without ``like``, for the model's own probes from ``options``."""
    if like is None:
        return None, None
    _fpfile.read_header(like)  # a folder (a model, say) is refused as no fingerprint, never taken as a side to run
    resolved = pipeline.resolve_probes([like], options, models=[model], trust_remote_code=trust_remote_code)
    probes = resolved.probes
    if budget is not None and isinstance(probes, ProbeSpec):
        probes = probes.with_n(budget)
    return probes, resolved.origin


def resume_note(output: Path) -> str | None:
    """What an interrupted run kept (the rows in its partial file) and that the same call resumes from them."""
    partial = partial_path(output)
    kept = kept_rows(partial)
    if kept is None or kept[0] == 0:
        return None
    return (f"interrupted; {kept[0]} of {kept[1]} probe rows are kept in {partial}; run the same command again to "
            f"resume (nothing was written under {output})")
