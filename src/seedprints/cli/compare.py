"""``seedprints compare``: test whether SUSPECT descends from REF's initialisation."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._output import Output

EXAMPLES = """Examples:

\b
  seedprints compare base.fp.safetensors suspect.fp.safetensors
  seedprints compare base.fp.safetensors ./suspect-model --json
  seedprints compare ./model-a ./model-b --n 500 --length 64 --alpha 0.001
"""


class IdentityModeChoice(str, Enum):
    coset = "coset"
    base = "base"


def compare(
    ref: Annotated[Path, typer.Argument(help="Reference: a fingerprint file or a model directory.")],
    suspect: Annotated[Path, typer.Argument(help="Suspect: a fingerprint file or a model directory.")],
    method: Annotated[
        o.MethodChoice,
        typer.Option("--method", help="lineage = calibrated permutation-null test; paper = the published SeedPrints statistic."),
    ] = o.DEFAULT_METHOD_CHOICE,
    alpha: o.AlphaOpt = 0.01,
    buffer_k: Annotated[
        Optional[int], typer.Option("--buffer-k", help="Paper mode: identity dimensions per model (default 10% of d).", callback=o.positive_int)
    ] = None,
    identity_mode: Annotated[
        Optional[IdentityModeChoice],
        typer.Option("--identity-mode", help="Paper mode: coset (default) = intersection of both sets; base = reference's set."),
    ] = None,
    use_agg: Annotated[bool, typer.Option("--use-agg", help="Paper mode: add the aggregate signal (Bonferroni-corrected).")] = False,
    probe: o.ProbeKindOpt = None,
    n: o.NOpt = o.DEFAULTS["n"],
    length: o.LengthOpt = o.DEFAULTS["length"],
    probe_seed: o.ProbeSeedOpt = o.DEFAULTS["probe_seed"],
    vocab_bound: o.VocabBoundOpt = None,
    probe_file: o.ProbeFileOpt = None,
    rare_tokens: o.RareTokensOpt = None,
    device: o.DeviceOpt = "cpu",
    dtype: o.DtypeOpt = o.DtypeChoice.auto,
    batch_size: o.BatchSizeOpt = 32,
    trust_remote_code: o.TrustRemoteCodeOpt = False,
    json_output: o.JsonOpt = False,
) -> None:
    """Compare REF and SUSPECT: same-lineage (p < alpha) or independent. Exit 0 either way."""
    from seedprints import api, report

    out = Output(json_output)
    options = o.probe_options(probe, n, length, probe_seed, vocab_bound, probe_file, rare_tokens, method.value)
    fingerprint_kwargs = dict(
        device=device, dtype=dtype.value, batch_size=batch_size, trust_remote_code=trust_remote_code, progress=out.progress
    )
    paper_flags = {"--buffer-k": buffer_k is not None, "--identity-mode": identity_mode is not None, "--use-agg": use_agg}
    settings: dict = {}
    if method.value == "paper":
        settings = dict(buffer_k=buffer_k, identity_mode=(identity_mode or IdentityModeChoice.coset).value, use_agg=use_agg)
    elif any(paper_flags.values()):
        given = ", ".join(flag for flag, on in paper_flags.items() if on)
        raise typer.BadParameter(f"{given} only apply to --method paper")
    result = api.compare(
        ref, suspect, method=method.value, alpha=alpha, options=options, fingerprint_kwargs=fingerprint_kwargs, **settings
    )
    payload = {**result.to_dict(), "reference": str(ref), "suspect": str(suspect)}

    def human(console) -> None:
        console.print(report.verdict_line(result, str(ref), str(suspect)))
        console.print(report.result_table(result))

    out.result(payload, human)
