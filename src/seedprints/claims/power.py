"""What a non-rejection is worth: the z a claim needed, beside the z the zoo's derivatives of its kind reach.

A claim that is not confirmed means "no evidence of descent at this level", which is meaningful only if a true
claim of that kind would have been confirmed. Two numbers say so. The z that confirms any claim of the run,
whatever the others, is Bonferroni's bound on Holm: the z whose p-value (doubled when the test has two parts)
is alpha divided by the claims tested. And the z that true derivatives of the claimed kind reach: measured on the
model zoo (:mod:`seedprints.claims.zoo_reference`, written by :func:`reference_from_zoo_eval` from a
``seedprints zoo eval`` results file), at its N and L, and scaled to this run's N as z grows as the square root
of the probes (the statistic's null spread shrinks as 1/sqrt(N) while its mean stays). The zoo's models are
small (d = 256, trained for minutes); released models keep far more of their init, so the zoo's z is a floor.

Example:
    >>> round(needed_z(0.01, 10, parts=2), 2)
    3.29
"""

from __future__ import annotations

import math
import statistics
from typing import Any
from seedprints.claims.zoo_reference import ZOO_REFERENCE

# card relations -> the zoo eval categories of derivatives of that kind, each scored against its parent
RELATION_CATEGORIES: dict[str, tuple[str, ...]] = {
    "finetune": ("finetune", "continual", "lora-merged"),
    "adapter": ("lora-merged",),
    "quantized": ("int8", "int4"),
    "merge": ("merge (finetune+lora)", "blend"),
}
ANY = "any"  # a claim that states no relation (or one not listed): every derivative kind above and the edits
ANY_CATEGORIES = tuple(dict.fromkeys([c for cats in RELATION_CATEGORIES.values() for c in cats]
                                     + ["prune", "noise", "permute", "permute-mlp"]))
_PLURALS = {"finetune": "fine-tunes", "adapter": "merged LoRA adapters", "quantized": "quantised copies",
            "merge": "merges", ANY: "derivatives"}


def needed_z(alpha: float, tests: int, *, parts: int = 2) -> float:
    """The z that confirms a claim whatever the other claims: its p (``parts`` times the one-sided normal tail, the
    lineage test's Bonferroni over its hidden and vocab parts) below ``alpha / tests``, Bonferroni's bound on Holm."""
    return statistics.NormalDist().inv_cdf(1.0 - alpha / (parts * max(tests, 1)))


def relation_key(relation: str | None) -> str:
    """The reference row for a claim's relation: itself when the zoo measures it, else :data:`ANY`."""
    return relation if relation in RELATION_CATEGORIES else ANY


def reference_from_zoo_eval(results: dict[str, Any], *, source: str, method: str = "lineage") -> dict[str, Any]:
    """The zoo reference table from a ``seedprints zoo eval`` results.json: per relation, the z its derivatives reach
    against their parents (pairs of the categories in :data:`RELATION_CATEGORIES`), with the N, L and width measured."""
    settings = results["settings"]
    z_by_category: dict[str, list[float]] = {}
    widths = set()
    for pair in results["pairs"]:
        result = pair.get("results", {}).get(method)
        if pair["truth"] != "same-lineage" or result is None or result.get("z") is None:
            continue
        z_by_category.setdefault(pair["category"], []).append(float(result["z"]))
        widths.add(pair["hidden_size"])
    relations = {}
    for key, categories in (*RELATION_CATEGORIES.items(), (ANY, ANY_CATEGORIES)):
        zs = sorted(z for c in categories for z in z_by_category.get(c, []))
        if zs:
            relations[key] = {"categories": [c for c in categories if c in z_by_category], "pairs": len(zs),
                              "z_min": round(zs[0], 2), "z_median": round(statistics.median(zs), 2)}
    probe = settings["probe"]
    return {"source": source, "command": settings["command"], "n": probe["n"], "length": probe["length"],
            "hidden_sizes": sorted(widths), "method": method, "relations": relations}


def zoo_reference() -> dict[str, Any]:
    """The reference table this package ships (:mod:`seedprints.claims.zoo_reference`)."""

    return ZOO_REFERENCE


def expected_z(relation: str | None, n: int, reference: dict[str, Any] | None = None) -> float | None:
    """The smallest z the zoo's derivatives of ``relation`` reach, scaled to ``n`` probes (None: none measured)."""
    reference = reference or zoo_reference()
    row = reference["relations"].get(relation_key(relation))
    return None if row is None else row["z_min"] * math.sqrt(n / reference["n"])


def zoo_statement(relation: str | None, n: int, reference: dict[str, Any] | None = None) -> str:
    """A clause quoting what the zoo's derivatives of ``relation`` reach, at the zoo's N and L and at this run's N."""
    reference = reference or zoo_reference()
    key = relation_key(relation)
    row = reference["relations"].get(key)
    if row is None:
        return "the zoo measured no derivative of this kind"
    widths = "/".join(str(d) for d in reference["hidden_sizes"])
    said = (f"the zoo's {_PLURALS[key]} reach z {row['z_min']:.1f} (smallest; median {row['z_median']:.1f}, "
            f"{row['pairs']} pairs) at N = {reference['n']}, L = {reference['length']}, d = {widths}")
    if n != reference["n"]:
        said += f", so about {expected_z(relation, n, reference):.1f} at this run's N = {n} if z grows as sqrt(N)"
    return said


def reference_module(table: dict[str, Any], command: str) -> str:
    """The source of :mod:`seedprints.claims.zoo_reference` holding ``table``, naming the ``command`` that wrote it."""
    import pprint

    return (f'"""The zoo reference of :mod:`seedprints.claims.power`: the z derivatives of each kind reach on the zoo.\n\n'
            f"Written by ``{command}``; do not edit by hand (a test recomputes it from its source).\n\"\"\"\n\n"
            f"ZOO_REFERENCE = {pprint.pformat(table, width=110, sort_dicts=True)}\n")
