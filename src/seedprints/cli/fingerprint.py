"""``seedprints fingerprint``: run a model on probes and save its fingerprint file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._output import Output

EXAMPLES = """Examples:

\b
  seedprints fingerprint ./llama-2-7b -o llama2.fp.safetensors --device cuda
  seedprints fingerprint ./suspect -o suspect.fp.safetensors --like llama2.fp.safetensors
  seedprints fingerprint ./tiny-model -o tiny.fp.safetensors --n 500 --length 64
  seedprints fingerprint ./model -o fp.safetensors --probe-file my_probes.json
"""


def fingerprint(
    model_dir: Annotated[Path, typer.Argument(help="Local Hugging Face model directory.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Fingerprint file to write (.safetensors).")],
    like: Annotated[
        Optional[Path],
        typer.Option("--like", help="Use the probes of this fingerprint file (to compare against it later)."),
    ] = None,
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
    """Fingerprint MODEL_DIR: final hidden states of the model on deterministic random probes."""
    from seedprints import api, report
    from seedprints.fingerprint import check_output_path

    out = Output(json_output)
    check_output_path(output)
    options = o.probe_options(probe, n, length, probe_seed, vocab_bound, probe_file, rare_tokens)
    spec = api.probes_like(like, options) if like is not None else None
    fp = api.fingerprint_model(
        model_dir, spec, options=options, device=device, dtype=dtype.value, batch_size=batch_size,
        trust_remote_code=trust_remote_code, progress=out.progress,
    )
    fp.save(output)
    payload = {
        "path": str(output), "model_id": fp.model_id, "n": fp.n, "hidden_size": fp.hidden_size,
        "probe_hash": fp.probe_hash, "probe_spec": fp.spec.describe(), "dtype": fp.metadata.get("dtype"),
    }
    out.result(payload, lambda console: console.print(report.fingerprint_table(fp, str(output))))
