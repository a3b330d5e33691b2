"""Reading claimed bases: model card front-matter (one base, a list, a relation), adapter configs, GGUF metadata, and
one line for every card that cannot be read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedprints.claims.cards import Card, Claim, read_claims
from tests.claims.conftest import gguf_with_bases


def _model(tmp_path: Path, card: str | bytes | None, name: str = "m") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    if card is not None:
        (folder / "README.md").write_bytes(card.encode() if isinstance(card, str) else card)
    return folder


class TestModelCard:
    def test_one_base_and_relation(self, tmp_path):
        card = read_claims(_model(tmp_path, "---\nbase_model: org/base\nbase_model_relation: Finetune\n---\n# text\n"))
        assert card == Card((Claim("org/base", "finetune", "model card"),), None, ("model card",))
        assert card.describe() == "model card: 1 claimed base"

    def test_a_list_of_bases(self, tmp_path):
        card = read_claims(_model(tmp_path, "---\nlicense: mit\nbase_model:\n- org/a\n- org/b\n- org/a\n"
                                            "base_model_relation: merge\n---\n"))
        assert [(c.base, c.relation) for c in card.claims] == [("org/a", "merge"), ("org/b", "merge")]
        assert card.problem is None

    @pytest.mark.parametrize("text", ["# just a card\n", "---\nlicense: mit\n---\n", "---\n---\n", "---\nbase_model: []\n---\n"])
    def test_a_card_that_names_no_base_claims_nothing(self, tmp_path, text):
        card = read_claims(_model(tmp_path, text))
        assert card.claims == () and card.problem is None and card.describe() == "model card: claims no base"

    @pytest.mark.parametrize("text, fragment", [
        ("---\nbase_model: [org/a\n---\n", "front-matter is not valid YAML"),
        ("---\nbase_model: org/a\n", "never closed"),
        ("---\n- org/a\n---\n", "front-matter is list YAML, not a mapping"),
        ("---\nbase_model: {org: a}\n---\n", "base_model must be a model id or a list of model ids, not dict"),
        ("---\nbase_model: [org/a, 3]\n---\n", "base_model must be a model id or a list"),
        ("---\nbase_model: org/a\nbase_model_relation: [finetune]\n---\n", "base_model_relation must be one of"),
        (b"---\nbase_model: org/\xff\n---\n", "is not UTF-8 text"),
    ])
    def test_an_unreadable_card_is_one_line(self, tmp_path, text, fragment):
        card = read_claims(_model(tmp_path, text), label="my-model")
        assert card.claims == () and fragment in card.problem and "\n" not in card.problem
        assert card.problem.startswith("the model card of my-model")
        assert card.describe() == card.problem

    def test_the_yaml_error_names_its_line(self, tmp_path):
        card = read_claims(_model(tmp_path, "---\nlicense: mit\nbase_model: [org/a\n---\n"))
        assert "at line 3, column 19" in card.problem  # the file's line, where the open list ends

    def test_a_missing_card_is_a_problem(self, tmp_path):
        card = read_claims(_model(tmp_path, None), label="org/m")
        assert card.claims == () and card.problem == "no model card: org/m has no README.md, so what it claims cannot be read"

    def test_a_card_given_apart_from_the_model(self, tmp_path):
        other = tmp_path / "card.md"
        other.write_text("---\nbase_model: org/base\n---\n")
        assert read_claims(_model(tmp_path, None), card=other).claims == (Claim("org/base", None, "model card"),)


class TestAdapterAndGguf:
    def test_an_adapter_names_its_base_without_a_card(self, tmp_path):
        folder = _model(tmp_path, None)
        (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": "org/b"}))
        card = read_claims(folder)
        assert card.claims == (Claim("org/b", "adapter", "adapter config"),) and card.problem is None
        assert card.describe() == "adapter config: 1 claimed base"

    def test_the_card_relation_wins_and_bases_merge(self, tmp_path):
        folder = _model(tmp_path, "---\nbase_model: [org/b, org/c]\nbase_model_relation: finetune\n---\n")
        (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "org/b"}))
        card = read_claims(folder)
        assert [(c.base, c.relation, c.source) for c in card.claims] == [
            ("org/b", "finetune", "model card"), ("org/c", "finetune", "model card")]
        assert card.read == ("model card", "adapter config")

    def test_gguf_metadata_names_bases(self, tmp_path, tiny_llama_dir):
        import gguf

        from tests.gguf_files import write_gguf

        path = tmp_path / "m.gguf"
        write_gguf(tiny_llama_dir, path)  # a plain GGUF first: it names no base
        assert read_claims(path).claims == () and read_claims(path).problem.startswith("no model card")
        reader_fields = gguf.GGUFReader(str(path)).fields
        assert "general.base_model.count" not in reader_fields
        named = tmp_path / "named.gguf"
        gguf_with_bases(tiny_llama_dir, named, [
            {"repo_url": "https://huggingface.co/org/from-url", "name": "ignored"},
            {"organization": "org", "name": "from-org"},
            {"name": "just-a-name"},
        ])
        card = read_claims(named)
        assert [c.base for c in card.claims] == ["org/from-url", "org/from-org", "just-a-name"]
        assert {c.source for c in card.claims} == {"GGUF metadata"} and card.problem is None
