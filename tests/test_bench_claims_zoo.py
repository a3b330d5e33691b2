"""bench/claims_zoo.py: the cards it writes for zoo models, how it scores rows against the zoo's truth, and its
reference subcommand rewriting the shipped zoo reference as it is."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from seedprints.zoo.manifest import ModelEntry

ROOT = Path(__file__).resolve().parent.parent
_SPEC = importlib.util.spec_from_file_location("claims_zoo", ROOT / "bench" / "claims_zoo.py")
claims_zoo = importlib.util.module_from_spec(_SPEC)
sys.modules["claims_zoo"] = claims_zoo  # its dataclasses look their module up there
_SPEC.loader.exec_module(claims_zoo)


def _zoo() -> dict[str, ModelEntry]:
    def entry(name, seed, stage, label, parents=(), lineages=None):
        return ModelEntry(name, "llama", seed, tuple(lineages or [f"llama-s{seed}"]), stage, label, tuple(parents))

    models = [entry("s1-init", 1, "init", "init"), entry("s1-pre", 1, "pretrained", "pretrained", ["s1-init"]),
              entry("s2-pre", 2, "pretrained", "pretrained"), entry("s1-ft", 1, "finetune", "finetune", ["s1-pre"]),
              entry("s1-q", 1, "edit", "int8", ["s1-pre"]),
              entry("blend", 1, "blend", "blend", ["s1-ft", "s2-pre"], ["llama-s1", "llama-s2"])]
    return {m.name: m for m in models}


def test_cards_claim_true_and_false_bases():
    plans = {p.name: p for p in claims_zoo.plan_cards(_zoo())}
    assert (plans["s1-ft"].bases, plans["s1-ft"].relation, plans["s1-ft"].truth) == (("s1-pre",), "finetune", "true claim")
    assert (plans["s1-ft--false"].bases, plans["s1-ft--false"].truth) == (("s2-pre",), "false claim")
    assert plans["s1-q"].relation == "quantized" and plans["blend"].bases == ("s1-pre", "s2-pre")
    assert "blend--false" not in plans  # no pretrained model of another lineage is left to claim falsely
    assert plans["s1-ft--no-card"].card() is None and plans["s1-ft--narrow"].bases == (claims_zoo.NARROW_BASE,)
    assert plans["s1-ft"].card() == "---\nbase_model:\n  - s1-pre\nbase_model_relation: finetune\n---\n# s1-ft\n"
    from seedprints.claims.cards import CardError, front_matter

    try:
        front_matter(plans["s1-ft--malformed"].card())
    except CardError:
        pass
    else:
        raise AssertionError("the malformed card parsed")


def test_rows_are_scored_against_the_truth():
    zoo = _zoo()
    plans = {p.name: p for p in claims_zoo.plan_cards(zoo)}
    rows = [
        {"model": "s1-ft", "claimed_base": "s1-pre", "outcome": "confirmed", "entry": "s1-pre"},
        {"model": "s1-ft--false", "claimed_base": "s2-pre", "outcome": "not-supported", "entry": "s2-pre"},
        {"model": "s1-ft--false", "claimed_base": None, "outcome": "unclaimed", "entry": "s1-pre"},
        {"model": "s1-q", "claimed_base": None, "outcome": "unclaimed", "entry": "s2-pre"},
        {"model": "s1-ft--no-card", "claimed_base": None, "outcome": "cannot-tell", "entry": None},
        {"model": "s1-ft--narrow", "claimed_base": claims_zoo.NARROW_BASE, "outcome": "cannot-tell", "entry": None},
    ]
    truths = [claims_zoo.truth_of(row, plans, zoo) for row in rows]
    assert truths == ["true claim", "false claim", "same init", "other lineage", "no readable card", "untestable claim"]
    assert claims_zoo.confusion(rows, truths) == {
        "true claim": {"confirmed": 1, "not-supported": 0, "cannot-tell": 0},
        "false claim": {"confirmed": 0, "not-supported": 1, "cannot-tell": 0},
        "untestable claim": {"confirmed": 0, "not-supported": 0, "cannot-tell": 1},
        "no readable card": {"confirmed": 0, "not-supported": 0, "cannot-tell": 1}}


def test_detected_kinds_are_the_categories_detected_every_time():
    def pair(category, verdict):
        return {"truth": "same-lineage", "category": category, "results": {"lineage": {"verdict": verdict}}}

    results = {"pairs": [pair("int8", "same-lineage"), pair("int8", "same-lineage"), pair("blend", "same-lineage"),
                         pair("blend", "independent"), pair("init\u2192int8", "same-lineage"),
                         pair("related (siblings)", "same-lineage")]}
    assert claims_zoo.detected_kinds(results) == {"int8"}


def test_the_reference_command_rewrites_the_shipped_module(monkeypatch, tmp_path):
    shipped = claims_zoo.REFERENCE_MODULE.read_text()
    monkeypatch.setattr(claims_zoo, "REFERENCE_MODULE", tmp_path / "zoo_reference.py")
    assert claims_zoo.main(["reference", "docs/zoo-cpu-unseen-tail/results.json"]) == 0
    assert (tmp_path / "zoo_reference.py").read_text() == shipped
