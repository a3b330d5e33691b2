"""Claimed bases on the model zoo: model cards written for zoo models (true claims, false ones, and the cases the test
cannot answer), checked with ``seedprints claims``, and the outcomes set against the zoo's ground truth.

``run ZOO_DIR --work DIR``: every derived zoo model (fine-tunes, quantised and permuted copies, merges, blends,
distilled students, ...) gets two staged copies (folders of links to its files plus a ``README.md``): one whose card
claims the pretrained model(s) it really descends from, with the relation its kind would state, and one whose card
claims the pretrained model of another seed. The first fine-tune also gets a copy without a card, one with a
malformed card, one claiming a base of another width and one claiming a base nobody registered. The zoo's
pretrained models (and a random model of another width) are registered, ``seedprints claims`` runs on the manifest
of the staged copies, and each row is compared with the truth (:func:`seedprints.zoo.manifest.same_lineage`). The
page section says which claims of kinds the default test detects were confirmed (those kinds are read from a
``zoo eval`` results file: categories whose same-lineage pairs it detected every time) and how many false claims
were confirmed, with the confusion table. ``--write-doc`` puts it between the markers of ``docs/claims.md``;
``--report`` keeps the run's HTML page.

``reference RESULTS_JSON``: write :mod:`seedprints.claims.zoo_reference` (the z each kind of derivative reaches on
the zoo, quoted by not-supported outcomes) from a ``seedprints zoo eval`` results file.

``--hub`` runs the same claims again through the test suite's local Hub stand-in (models and bases as repositories
asked at a tag while their main branch holds other weights), ``--fleet`` as Ray tasks on a local cluster; the page
says in how many rows each differs from the local run.

Run: ``python bench/claims_zoo.py run /tmp/zoo-ci --work /tmp/claims-work --report docs/claims-zoo --hub --fleet
--write-doc docs/claims.md`` (after ``seedprints zoo build --config ci --out /tmp/zoo-ci``);
``python bench/claims_zoo.py reference docs/zoo-cpu-unseen-tail/results.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from seedprints.errors import SeedprintsError

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_MODULE = ROOT / "src" / "seedprints" / "claims" / "zoo_reference.py"
BEGIN, END = "<!-- claims_zoo:begin -->", "<!-- claims_zoo:end -->"
CLAIMANT_STAGES = ("finetune", "continual", "lora", "edit", "merge", "blend", "distill")
RELATION = {"finetune": "finetune", "continual": "finetune", "lora-merged": "finetune", "int8": "quantized",
            "int4": "quantized", "merge": "merge", "blend": "merge"}  # other kinds state no relation
NARROW_BASE = "narrow-base"  # a registered base of another width
UNREGISTERED = "zoo-org/never-registered"
TRUTHS = ("true claim", "false claim", "untestable claim", "no readable card")
SAME_INIT, OTHER_LINEAGE = "same init", "other lineage"  # the truth of an unclaimed identification
_AGAIN = {"fleet": "The same run with `--fleet`, as Ray tasks on a local cluster on this machine's cores",
          "hub": "The same claims through a local Hub-compatible server (the test suite's stand-in; every staged model and "
                 "base a repository whose tag v1 holds it while main holds other weights, the bases registered from their "
                 "Hub ids at v1, the models checked as Hub ids at v1)"}


@dataclasses.dataclass(frozen=True)
class CardPlan:
    """One staged model: its name, the zoo model whose files it links, the bases its card claims (None: no card;
    ``malformed``: a card that is not YAML), the relation stated, and the truth of its claims."""

    name: str
    model: str
    bases: tuple[str, ...] | None
    relation: str | None
    truth: str
    malformed: bool = False

    def card(self) -> str | None:
        if self.malformed:
            return "---\nbase_model: [" + (self.bases or ("x",))[0] + "\nlicense: mit\n---\n"
        if self.bases is None:
            return None
        lines = ["---", "base_model:", *(f"  - {b}" for b in self.bases)]
        lines += [f"base_model_relation: {self.relation}"] if self.relation else []
        return "\n".join([*lines, "---", f"# {self.name}", ""])


def pretrained_of(name: str, entries: dict[str, Any]) -> list[str]:
    """The pretrained models a zoo model descends from (walking up its parents; both of a blend's)."""
    entry = entries[name]
    if entry.stage == "pretrained":
        return [name]
    return list(dict.fromkeys(b for parent in entry.parents if parent in entries for b in pretrained_of(parent, entries)))


def plan_cards(entries: dict[str, Any]) -> list[CardPlan]:
    """A true and a false card per derived model, and the untestable cases on the first fine-tune (see the module)."""
    from seedprints.zoo.manifest import same_lineage

    pretrained = sorted(n for n, e in entries.items() if e.stage == "pretrained")
    plans: list[CardPlan] = []
    claimants = sorted(n for n, e in entries.items() if e.stage in CLAIMANT_STAGES)
    for i, name in enumerate(claimants):
        entry = entries[name]
        relation = RELATION.get(entry.label)
        bases = tuple(pretrained_of(name, entries))
        if bases:
            truth = "true claim" if all(same_lineage(entry, entries[b]) for b in bases) else "false claim"
            plans.append(CardPlan(name, name, bases, relation, truth))
        others = [p for p in pretrained if not same_lineage(entry, entries[p])]
        if others:
            plans.append(CardPlan(f"{name}--false", name, (others[i % len(others)],), relation, "false claim"))
    first = next((n for n in claimants if entries[n].label == "finetune"), None)
    if first is not None:
        base = pretrained_of(first, entries)[0]
        plans += [CardPlan(f"{first}--no-card", first, None, None, "no readable card"),
                  CardPlan(f"{first}--malformed", first, (base,), None, "no readable card", malformed=True),
                  CardPlan(f"{first}--narrow", first, (NARROW_BASE,), "finetune", "untestable claim"),
                  CardPlan(f"{first}--unregistered", first, (UNREGISTERED,), "finetune", "untestable claim")]
    return plans


def stage(plans: list[CardPlan], zoo: dict[str, Path], folder: Path) -> Path:
    """Each plan as a folder of links to its zoo model's files plus its card; returns the manifest of them."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for plan in plans:
        target = folder / plan.name
        target.mkdir()
        for file in zoo[plan.model].iterdir():
            if file.is_file() and file.name != "README.md":
                (target / file.name).symlink_to(file.resolve())
        card = plan.card()
        if card is not None:
            (target / "README.md").write_text(card)
    manifest = folder / "models.jsonl"
    manifest.write_text("".join(json.dumps({"name": p.name, "model": p.name}) + "\n" for p in plans))
    return manifest


def narrow_base(like: Path, target: Path) -> Path:
    """A random Llama of half the zoo's width with the zoo's tokenizer: a registered base no zoo model can test."""
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(like)
    config.hidden_size //= 2
    config.intermediate_size //= 2
    torch.manual_seed(7)
    shutil.rmtree(target, ignore_errors=True)
    transformers.LlamaForCausalLM(config).save_pretrained(target)
    for file in like.iterdir():
        if file.name.startswith("tokenizer") or file.name == "special_tokens_map.json":
            shutil.copy(file, target / file.name)
    return target


def cli(argv: list[object]) -> dict[str, Any]:
    """Run ``seedprints ARGV --json`` in this process; its JSON, or SeedprintsError with its error line."""
    from seedprints.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main([str(a) for a in argv])
    if code != 0:
        raise SeedprintsError(f"seedprints {argv[0]} failed: {stderr.getvalue().strip()[-500:]}")
    return json.loads(stdout.getvalue())


def detected_kinds(results: dict[str, Any]) -> set[str]:
    """The zoo eval categories (not init->, not siblings) whose every same-lineage pair the default test detected."""
    seen: dict[str, list[bool]] = {}
    for pair in results["pairs"]:
        result = pair.get("results", {}).get("lineage")
        if pair["truth"] == "same-lineage" and result and "\u2192" not in pair["category"]:
            seen.setdefault(pair["category"], []).append(result["verdict"] == "same-lineage")
    return {category for category, hits in seen.items() if all(hits) and category != "related (siblings)"}


def truth_of(row: dict[str, Any], plans: dict[str, CardPlan], entries: dict[str, Any]) -> str:
    """The truth of one claims row: a claim's (per base, for a card listing several), or for an unclaimed row whether
    the model really shares the entry's init (``same init``) or not (``other lineage``)."""
    from seedprints.zoo.manifest import same_lineage

    plan = plans[row["model"]]
    if row["outcome"] == "unclaimed":
        return SAME_INIT if row["entry"] in entries and same_lineage(entries[plan.model], entries[row["entry"]]) else OTHER_LINEAGE
    if row["claimed_base"] in entries:
        return "true claim" if same_lineage(entries[plan.model], entries[row["claimed_base"]]) else "false claim"
    return plan.truth if row["claimed_base"] else "no readable card"


def confusion(rows: list[dict[str, Any]], truths: list[str]) -> dict[str, dict[str, int]]:
    """Truth -> outcome -> count, over the claim rows (unclaimed rows apart)."""
    from seedprints.claims.outcomes import OUTCOMES

    table = {t: dict.fromkeys(OUTCOMES[:3], 0) for t in TRUTHS}
    for row, truth in zip(rows, truths):
        if row["outcome"] != "unclaimed":
            table[truth][row["outcome"]] += 1
    return {t: counts for t, counts in table.items() if sum(counts.values())}


def run(zoo_dir: Path, work: Path, *, n: int, length: int, alpha: float, report: Path | None,
        detected_from: Path, hub: bool = False, fleet: bool = False) -> dict[str, Any]:
    """Stage the cards, register the bases, run ``seedprints claims`` and score every row (see the module); with
    ``hub`` and ``fleet``, run the same claims through a local Hub stand-in and as Ray tasks, and compare."""
    from seedprints.zoo.manifest import scan_zoo

    found, failed = scan_zoo(zoo_dir)
    if failed:
        raise SeedprintsError(f"{len(failed)} zoo models have no usable manifest ({failed[0][1]}); rebuild the zoo")
    zoo = {entry.name: path for path, entry in found}
    entries = {entry.name: entry for _, entry in found}
    plans = plan_cards(entries)
    manifest = stage(plans, zoo, work / "models")
    registry = work / "refs.db"
    registry.unlink(missing_ok=True)
    probes = ("--n", n, "--length", length, "--device", "cpu")
    bases = {name: zoo[name] for name, e in entries.items() if e.stage == "pretrained"}
    bases[NARROW_BASE] = narrow_base(next(iter(bases.values())), work / NARROW_BASE)
    for name, path in sorted(bases.items()):
        cli(["registry", "add", path, "--name", name, *probes, "--registry", registry, "--json"])
    argv = ["claims", manifest, "--registry", registry, *probes, "--alpha", alpha, "--cache", work / "cache"]
    if report is not None:
        argv += ["--report", report, "--force"]
    payload = cli([*argv, "--json"])
    again = {}
    if fleet:
        fleet_argv = ["claims", manifest, "--registry", registry, *probes, "--alpha", alpha, "--cache", work / "cache-fleet"]
        shutil.rmtree(work / "cache-fleet", ignore_errors=True)
        again["fleet"] = _same_rows(payload, cli([*fleet_argv, "--fleet", "--json"]))
    if hub:
        again["hub"] = _same_rows(payload, through_hub(plans, bases, work, probes, alpha))
    by_name = {p.name: p for p in plans}
    truths = [truth_of(row, by_name, entries) for row in payload["claims"]]
    kinds = detected_kinds(json.loads(detected_from.read_text()))
    label = {p.name: entries[p.model].label for p in plans}
    must = [r for r, t in zip(payload["claims"], truths)
            if t == "true claim" and r["outcome"] != "unclaimed" and label[r["model"]] in kinds]
    false = [r for r, t in zip(payload["claims"], truths) if t == "false claim" and r["outcome"] != "unclaimed"]
    return {"payload": payload, "truths": truths, "labels": label, "kinds": sorted(kinds),
            "confusion": confusion(payload["claims"], truths),
            "checks": {"detected_kinds_true_claims": len(must),
                       "confirmed": sum(r["outcome"] == "confirmed" for r in must),
                       "false_claims": len(false), "false_confirmed": sum(r["outcome"] == "confirmed" for r in false),
                       "false_blind": sum(r["outcome"] == "cannot-tell" and "vocab part did not run" in r["reason"]
                                          for r in false),
                       "unclaimed": sum(r["outcome"] == "unclaimed" for r in payload["claims"]),
                       "unclaimed_wrong": sum(r["outcome"] == "unclaimed" and t == OTHER_LINEAGE
                                              for r, t in zip(payload["claims"], truths))},
            "claims_command": "seedprints " + shlex.join(str(a) for a in argv), "zoo": str(zoo_dir),
            "models": len(plans), "detected_from": _shown(detected_from), "again": again}


def _rows(payload: dict[str, Any]) -> list[tuple]:
    """What two runs of the same claims must share, row by row: base, entry, outcome, z (to 9 digits: another
    process may sum in another order)."""
    return [(r["claimed_base"], r["entry"], r["outcome"], None if r["z"] is None else round(r["z"], 9))
            for r in payload["claims"]]


def _same_rows(first: dict[str, Any], second: dict[str, Any]) -> dict[str, int]:
    """How many rows two runs have, and in how many they differ."""
    a, b = _rows(first), _rows(second)
    return {"rows": len(b), "differ": sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))}


def through_hub(plans: list[CardPlan], bases: dict[str, Path], work: Path, probes: tuple, alpha: float) -> dict[str, Any]:
    """The same claims with every staged model and base served by a local Hub stand-in (the test suite's): each a
    repository whose tag v1 holds it while main holds other weights, the bases registered from their Hub ids, the
    models checked as Hub ids at v1."""
    import os

    sys.path.insert(0, str(ROOT))
    from tests.hub_server import HubServer, Repo, folder_files

    server = HubServer()
    repos = {f"zoo-org/m{i:02d}": work / "models" / plan.name for i, plan in enumerate(plans)}
    repos.update({f"zoo-org/{name}": path for name, path in bases.items()})
    decoy = folder_files(bases[NARROW_BASE])
    for repo_id, folder in repos.items():
        repo = Repo()
        repo.commit(folder_files(folder), "v1")
        repo.commit(decoy, "main")
        server.repos[repo_id] = repo
    registry = work / "hub-refs.db"
    registry.unlink(missing_ok=True)
    saved = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HF_HOME", "HF_HUB_OFFLINE")}
    with server:
        os.environ.update(HF_ENDPOINT=server.endpoint, HF_HOME=str(work / "hf-home"))
        os.environ.pop("HF_HUB_OFFLINE", None)
        try:
            for name in sorted(bases):
                cli(["registry", "add", f"zoo-org/{name}@v1", "--name", name, *probes, "--registry", registry, "--json"])
            ids = [f"zoo-org/m{i:02d}@v1" for i in range(len(plans))]
            shutil.rmtree(work / "cache-hub", ignore_errors=True)
            return cli(["claims", *ids, "--registry", registry, *probes, "--alpha", alpha, "--cache", work / "cache-hub",
                        "--json"])
        finally:
            for key, value in saved.items():
                os.environ.pop(key, None) if value is None else os.environ.update({key: value})


def _shown(path: Path) -> str:
    """A path as a page shows it: relative to the repository when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def markdown(found: dict[str, Any], command: str) -> str:
    """The page section: how it was made, the checks, the confusion table and every row."""
    from seedprints.claims.outcomes import OUTCOMES
    from seedprints.reports.terminal import format_p

    payload, checks = found["payload"], found["checks"]
    lines = [
        BEGIN, "", f"Generated by `{command}`, which ran `{found['claims_command']}` on {found['models']} staged models "
        f"of the zoo `{found['zoo']}` (alpha = {payload['alpha']:g}, Holm over the {payload['tested']} tested claims).",
        "",
        f"- True claims of kinds the default test detects ({', '.join(found['kinds'])}: every same-lineage pair of "
        f"that category detected in `{found['detected_from']}`): **{checks['confirmed']} of "
        f"{checks['detected_kinds_true_claims']} confirmed**.",
        f"- False claims (a pretrained model of another seed, or a distilled student's teacher): **{checks['false_confirmed']}"
        f" of {checks['false_claims']} confirmed**; {checks['false_blind']} of them cannot-tell because the vocab part "
        "of the test did not run (collapsed rows past the tokenizer in the model or the base).",
        f"- Unclaimed identifications: {checks['unclaimed']}, of a registry entry of another lineage: "
        f"**{checks['unclaimed_wrong']}**.",
        *(f"- {_AGAIN[how]}: **{same['differ']} of {same['rows']} rows differ** (base, entry, outcome and z to 9 digits)."
          for how, same in found["again"].items()),
        "",
        "Confusion table (claims; unclaimed identifications apart):",
        "",
        "| truth | " + " | ".join(OUTCOMES[:3]) + " |",
        "|---|" + "---|" * 3,
    ]
    for truth, counts in found["confusion"].items():
        lines.append(f"| {truth} | " + " | ".join(str(counts[o]) for o in OUTCOMES[:3]) + " |")
    lines += ["", "Every row (reasons of the cannot-tell and unclaimed rows below the table):", "",
              "| # | model (zoo kind) | claimed base | relation | truth | outcome | z | adjusted p |",
              "|---|---|---|---|---|---|---|---|"]
    notes = []
    for i, (row, truth) in enumerate(zip(payload["claims"], found["truths"]), 1):
        adjusted = "-" if row["log10_p_adjusted"] is None else format_p(row["p_adjusted"], row["log10_p_adjusted"])
        base = row["claimed_base"] or (f"({row['entry']})" if row["entry"] else "-")
        z = "-" if row["z"] is None else f"{row['z']:.1f}"
        lines.append(f"| {i} | {row['model']} ({found['labels'][row['model']]}) | {base} | {row['relation'] or '-'} | "
                     f"{truth} | {row['outcome']} | {z} | {adjusted} |")
        if row["outcome"] in ("cannot-tell", "unclaimed"):
            notes.append(f"- {i}: {row['reason']}")
    lines += ["", *notes, "", "A not-supported row's reason, in full (the first such row):", ""]
    first = next((r for r in payload["claims"] if r["outcome"] == "not-supported"), None)
    lines += [f"> {first['reason']}" if first else "> (none)", "", END]
    return "\n".join(lines)


def write_doc(page: Path, section: str) -> None:
    """Put ``section`` in place of the page's marked block (markers included)."""
    block = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = page.read_text()
    if not block.search(text):
        raise SeedprintsError(f"{page} has no {BEGIN} ... {END} block; add the two markers where the results go")
    page.write_text(block.sub(lambda _: section, text, count=1))


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run a subcommand; errors are one ``Error:`` line and exit 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    runs = sub.add_parser("run", help="write cards for a zoo's models, check them, score the outcomes")
    runs.add_argument("zoo", type=Path, help="a zoo built by `seedprints zoo build`")
    runs.add_argument("--work", type=Path, required=True, help="folder for the staged models, registry and cache")
    runs.add_argument("--n", type=int, default=1000, help="probes (default 1000, as zoo eval)")
    runs.add_argument("--length", type=int, default=64, help="probe length (default 64, as zoo eval)")
    runs.add_argument("--alpha", type=float, default=0.01)
    runs.add_argument("--report", type=Path, default=None, help="keep the claims run's HTML report in this folder")
    runs.add_argument("--detected-from", type=Path, default=ROOT / "docs" / "zoo-cpu-unseen-tail" / "results.json",
                      help="zoo eval results whose fully detected categories are the kinds that must be confirmed")
    runs.add_argument("--write-doc", type=Path, default=None, help="write the section into this page's markers")
    runs.add_argument("--hub", action="store_true", help="also run the claims through a local Hub stand-in, and compare")
    runs.add_argument("--fleet", action="store_true", help="also run the claims with --fleet on local Ray, and compare")
    ref = sub.add_parser("reference", help="write seedprints/claims/zoo_reference.py from zoo eval results")
    ref.add_argument("results", type=Path, help="a results.json of `seedprints zoo eval`")
    args = parser.parse_args(argv)
    words = argv if argv is not None else sys.argv[1:]
    command = "python bench/claims_zoo.py " + shlex.join(words)
    try:
        if args.what == "reference":
            print(f"wrote {write_reference(args.results, command)}")
            return 0
        found = run(args.zoo, args.work, n=args.n, length=args.length, alpha=args.alpha, report=args.report,
                    detected_from=args.detected_from, hub=args.hub, fleet=args.fleet)
        section = markdown(found, command)
        if args.write_doc is not None:
            write_doc(args.write_doc, section)
    except (SeedprintsError, OSError, KeyError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(section)
    return 0


def write_reference(results: Path, command: str) -> Path:
    """Write :mod:`seedprints.claims.zoo_reference` from a zoo eval results file (named as the command gave it)."""
    from seedprints.claims.power import reference_from_zoo_eval, reference_module
    from seedprints.output_paths import write_atomic

    table = reference_from_zoo_eval(json.loads(results.read_text()), source=results.as_posix())
    return write_atomic(REFERENCE_MODULE, reference_module(table, command).encode())


if __name__ == "__main__":
    sys.exit(main())
