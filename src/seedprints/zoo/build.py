"""``seedprints zoo build``: train and derive a zoo of models of known lineage, resumably.

A zoo config (JSON, read by :mod:`seedprints.zoo.zoo_config`) names the architectures and init seeds, the training
stages and the weight edits. The build plans every model first (name, parents, manifest), then makes the missing ones
in dependency order; a model whose directory already holds the same manifest is skipped, so an
interrupted build resumes where it stopped. Each model is a normal Hugging Face directory.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

from seedprints.errors import OutputPathError
from seedprints.inputs import load_json
from seedprints.output_paths import write_atomic
from seedprints.zoo import derive, train
from seedprints.zoo.collapse import LONG_RUN
from seedprints.zoo.corpora import load_documents
from seedprints.zoo.manifest import MANIFEST_NAME, ModelEntry, lineage_id, write_manifest
from seedprints.zoo.saved_models import load_saved, save_model
from seedprints.zoo.zoo_config import COLLAPSED, ZooConfig, load_zoo_config, parse_config

__all__ = ["BuildReport", "PlannedModel", "build_zoo", "is_built", "load_zoo_config", "parse_config", "plan",
           "regime_pretrain"]

SHARED_TOKENIZER_FRACTION = 0.6  # each shared-tokenizer lineage trains on its own 60% of the documents


def regime_pretrain(spec: Any, regime: str, seed: int) -> Any:
    """The pretraining of one lineage of a family in ``regime``.

    ``unseen-tail``: the config's pretraining, the same data in the same order for every lineage;
    many tokens of the tokenizer (fitted on every domain) never occur in it. ``seen-tail``: the
    same, plus every token of the tokenizer written into the batches 1 to 20 times, so that no
    token is untrained. ``shared-tokenizer``: each lineage draws its own 60% of the documents and
    its own batch order (``corpus_seed`` and ``data_seed`` = the init seed), so lineages share a
    tokenizer and overlapping, not identical, data. ``tied-collapsed``: the data of ``unseen-tail``
    for a tied family, after which the rows no batch used collapse as in a long run
    (:mod:`seedprints.zoo.collapse`), and every trained model is stored in bf16.
    """

    if regime == "seen-tail":
        return dataclasses.replace(spec, seen_tail=True)
    if regime == "shared-tokenizer":
        available = sum(len(doc) for doc in load_documents(spec.domain))
        limit = int(SHARED_TOKENIZER_FRACTION * min(available, spec.max_chars or available))
        return dataclasses.replace(spec, corpus_seed=seed, data_seed=seed, max_chars=limit)
    return spec


@dataclasses.dataclass
class PlannedModel:
    """A model to make: its manifest entry and how to make it from its parents' models."""

    entry: ModelEntry
    make: Callable[[dict[str, Any]], Any] | None  # None: made by its group's training run
    group: str = ""  # the pretraining run that makes this model and its early checkpoints
    pretrain: Any = None  # that run's TrainSpec
    collapse: Any = None  # the CollapseSpec applied to the pretrained model of a tied-collapsed run


def plan(config: ZooConfig, tokenizer: Any, progress: bool = False) -> list[PlannedModel]:
    """Every model of the zoo, parents before children."""
    planned: list[PlannedModel] = []
    spec_dict = dataclasses.asdict
    first_row = config.tokenizer_vocab if tokenizer is None else len(tokenizer)

    def add(entry: ModelEntry, make: Callable[[dict[str, Any]], Any] | None, group: str = "", pretrain: Any = None,
            collapse: Any = None) -> None:
        planned.append(PlannedModel(entry, make, group, pretrain, collapse))

    def trained(parent: str, spec: Any) -> Callable[[dict[str, Any]], Any]:
        return lambda models: train.train(copy.deepcopy(models[parent]), tokenizer, spec, progress=progress)

    finetunes: dict[int, str] = {}
    for fam in config.families:
        family = fam.arch.family
        for seed in fam.seeds:
            lineage = (lineage_id(family, seed),)
            prefix = f"{family}-s{seed}"
            base = dict(family=family, init_seed=seed, lineages=lineage, regime=fam.regime)
            init_name, pre_name = f"{prefix}-init", f"{prefix}-pretrained"
            add(ModelEntry(name=init_name, stage="init", label="init", **base), lambda m, a=fam.arch, s=seed: train.init_model(a, s))
            pretrain = regime_pretrain(config.pretrain, fam.regime, seed)
            pretrain_params = {"train": spec_dict(pretrain), "pretrain_data_seed": pretrain.data_seed}
            for step in config.checkpoints:
                add(ModelEntry(name=f"{prefix}-step{step}", stage="checkpoint", label="checkpoint", parents=(init_name,),
                               params=pretrain_params, steps=step, **base), None, group=pre_name, pretrain=pretrain)
            collapse = LONG_RUN if fam.regime == COLLAPSED else None
            collapse_params = {} if collapse is None else {"collapse": spec_dict(collapse)}
            add(ModelEntry(name=pre_name, stage="pretrained", label="pretrained", parents=(init_name,),
                           params={**pretrain_params, **collapse_params}, steps=pretrain.steps, **base), None,
                group=pre_name, pretrain=pretrain, collapse=collapse)
            p_steps = pretrain.steps
            shared = {"pretrain_data_seed": pretrain.data_seed}
            if config.finetune is not None:
                finetunes[seed] = f"{prefix}-finetune"
                add(ModelEntry(name=finetunes[seed], stage="finetune", label="finetune", parents=(pre_name,),
                               params={"train": spec_dict(config.finetune), **shared},
                               steps=p_steps + config.finetune.steps, **base), trained(pre_name, config.finetune))
            if fam.derive != "full":
                continue
            if config.continual is not None:
                add(ModelEntry(name=f"{prefix}-continual", stage="continual", label="continual", parents=(pre_name,),
                               params={"train": spec_dict(config.continual), **shared},
                               steps=p_steps + config.continual.steps, **base), trained(pre_name, config.continual))
            if config.lora is not None:
                lora_spec, rank = config.lora["train"], config.lora["rank"]
                add(ModelEntry(name=f"{prefix}-lora", stage="lora", label="lora-merged", parents=(pre_name,),
                               params={"train": spec_dict(lora_spec), "rank": rank, **shared},
                               steps=p_steps + lora_spec.steps, **base),
                    lambda m, p=pre_name, sp=lora_spec, r=rank, s=seed: train.train_lora(
                        copy.deepcopy(m[p]), tokenizer, sp, rank=r, seed=s, progress=progress))
            if config.merge:
                parents = (finetunes[seed], f"{prefix}-lora")
                add(ModelEntry(name=f"{prefix}-merge", stage="merge", label="merge (finetune+lora)", parents=parents,
                               params={"weights": [0.5, 0.5], **shared},
                               steps=p_steps + max(config.finetune.steps, config.lora["train"].steps), **base),
                    lambda m, ps=parents: derive.average_models([m[ps[0]], m[ps[1]]], [0.5, 0.5]))
            for j, edit in enumerate(config.edits):
                name = edit["transform"]
                params = derive.with_first_row(name, {k: v for k, v in edit.items() if k != "transform"}, first_row)
                add(ModelEntry(name=f"{prefix}-{name}" + (f"-{j}" if _repeats(config.edits, name) else ""), stage="edit",
                               label=name, parents=(pre_name,), params={**derive.describe(name, params, seed=seed), **shared},
                               steps=p_steps, **base),
                    lambda m, n=name, p=pre_name, kw=params, s=seed: derive.get_transform(n)(m[p], seed=s, **kw))
    first = config.families[0]
    if config.blend:
        a, b = first.seeds[0], first.seeds[1]
        for weight in config.blend:
            parents = (finetunes[a], finetunes[b])
            add(ModelEntry(name=f"{first.arch.family}-blend-s{a}-s{b}-w{weight:g}", family=first.arch.family, init_seed=a,
                           lineages=(lineage_id(first.arch.family, a), lineage_id(first.arch.family, b)), stage="blend",
                           label="blend", parents=parents, regime=first.regime,
                           params={"weight": weight, "weights": {parents[0]: weight, parents[1]: 1 - weight},
                                   "pretrain_data_seed": config.pretrain.data_seed},
                           steps=config.pretrain.steps + config.finetune.steps),
                lambda m, ps=parents, w=weight: derive.average_models([m[ps[0]], m[ps[1]]], [w, 1 - w]))
    if config.distill is not None:
        family = first.arch.family
        teacher = f"{family}-s{config.distill['teacher_seed']}-pretrained"
        spec = config.distill["train"]
        for student_seed in config.distill["student_seeds"]:
            add(ModelEntry(name=f"{family}-s{student_seed}-distilled", family=family, init_seed=student_seed,
                           lineages=(lineage_id(family, student_seed),), stage="distill", label="distilled student",
                           regime=first.regime,
                           parents=(teacher,), params={"teacher": teacher, "train": spec_dict(spec),
                                                       "temperature": config.distill["temperature"]},
                           steps=spec.steps),
                lambda m, s=student_seed, t=teacher: train.distill(
                    train.init_model(first.arch, s).to(m[t].device), m[t], tokenizer, spec,
                    temperature=config.distill["temperature"], progress=progress))
    return planned


def _repeats(edits: tuple[dict[str, Any], ...], name: str) -> bool:
    return sum(e["transform"] == name for e in edits) > 1


def is_built(model_dir: Path, entry: ModelEntry) -> bool:
    """A model counts as built when its directory holds weights and exactly this manifest."""
    manifest = model_dir / MANIFEST_NAME
    if not (model_dir / "config.json").is_file() or not manifest.is_file():  # is_file: never opens a FIFO
        return False
    try:
        return load_json(manifest.read_bytes()) == json.loads(json.dumps(entry.to_dict()))
    except (OSError, json.JSONDecodeError):
        return False


@dataclasses.dataclass
class BuildReport:
    """What a build made and what it found already made."""

    built: list[str]
    skipped: list[str]
    out_dir: Path

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "built": self.built, "skipped": self.skipped}


def build_zoo(config: ZooConfig, out_dir: str | Path, *, device: str = "cpu", progress: bool = False,
              say: Callable[[str], None] = lambda s: None) -> BuildReport:
    """Make every model of ``config`` under ``out_dir`` that is not already there."""
    import torch

    from seedprints.zoo.tokenizer import build_tokenizer

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name included
        raise OutputPathError(f"cannot create zoo folder {out}: {exc.strerror}; choose another --out") from exc
    say(f"building the zoo tokenizer (vocab {config.tokenizer_vocab}) ...")
    tokenizer = build_tokenizer(config.tokenizer_vocab)
    planned = plan(config, tokenizer, progress=progress)
    by_name = {p.entry.name: p for p in planned}
    todo = [p for p in planned if not is_built(out / p.entry.name, p.entry)]
    needed = _needed_parents(todo, by_name)
    models: dict[str, Any] = {}
    report = BuildReport(built=[], skipped=[p.entry.name for p in planned if p not in todo], out_dir=out)

    def load(name: str) -> Any:
        if name not in models:
            models[name] = load_saved(out / name, device=device)
        return models[name]

    def save(entry: ModelEntry, model: Any) -> None:
        if _stored_in_bf16(entry):
            model = model.to(torch.bfloat16)
        save_model(model, tokenizer, out / entry.name)
        write_manifest(out / entry.name, entry)
        report.built.append(entry.name)
        if entry.name in needed:
            models[entry.name] = model.float()  # children train and edit in float32, from the values as stored

    for i, item in enumerate(planned):
        entry = item.entry
        if item not in todo:
            continue
        say(f"[{i + 1}/{len(planned)}] {entry.name} ({entry.stage}) ...")
        parents = {name: load(name) for name in entry.parents}
        if item.group:
            _run_group(item, by_name, parents, tokenizer, out, save, progress)
            todo = [p for p in todo if p.group != item.group]
            continue
        assert item.make is not None
        save(entry, item.make(parents).to(device))
    listing = {"name": config.name, "models": [p.entry.to_dict() for p in planned]}
    write_atomic(out / "zoo.json", (json.dumps(listing, indent=2) + "\n").encode())
    return report


def _stored_in_bf16(entry: ModelEntry) -> bool:
    """Whether a model is saved in bf16: every trained model of a tied-collapsed lineage, as released models are."""
    return entry.regime == COLLAPSED and entry.stage != "init"


def _needed_parents(todo: list[PlannedModel], by_name: dict[str, PlannedModel]) -> set[str]:
    """Names of models that some model still to make is built from (kept in memory once made)."""
    return {parent for p in todo for parent in p.entry.parents if parent in by_name}


def _run_group(item: PlannedModel, by_name: dict[str, PlannedModel], parents: dict[str, Any], tokenizer: Any,
               out: Path, save: Callable[[ModelEntry, Any], None], progress: bool) -> None:
    """One pretraining run that saves its early checkpoints on the way and the pretrained model at the end."""
    from seedprints.zoo.collapse import collapse_unused_rows

    members = [p.entry for p in by_name.values() if p.group == item.group]
    final = next(e for e in members if e.stage == "pretrained")
    init = parents[final.parents[0]]
    checkpoints = {e.steps: (lambda model, step, e=e: save(e, copy.deepcopy(model).eval())) for e in members if e.stage == "checkpoint"}
    model = train.train(copy.deepcopy(init), tokenizer, item.pretrain, progress=progress, checkpoints=checkpoints)
    collapse = by_name[final.name].collapse
    if collapse is not None:
        collapse_unused_rows(model, tokenizer, item.pretrain, collapse)
    save(final, model)
