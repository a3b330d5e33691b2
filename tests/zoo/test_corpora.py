"""Tests for seedprints.zoo.corpora and seedprints.zoo.tokenizer (the zoo's offline text)."""

from __future__ import annotations

import ast
import hashlib
import sys
from collections import Counter

import pytest

from seedprints.errors import ZooConfigError
from seedprints.zoo.corpora import DOC_SEPARATOR, DOMAINS, load_corpus, load_documents
from seedprints.zoo.tokenizer import BOS_ID, EOS_ID, PAD_ID, build_tokenizer

# Golden values computed on CPython 3.11.7 (the project's venv) with tokenizers 0.23.3; the
# corpora are the interpreter's own files, so another Python version gives other text.
GOLDEN_PYTHON = (3, 11, 7)
GOLDEN_CORPUS_SHA256 = {  # sha256 of load_corpus(domain, max_chars=2000, seed=0)
    "prose": "3cba785843bdf53732238b35ea7c08bfaec9b774e6f93aab25df920baad11167",
    "code": "823a9da59c6dc87a8e92cf8969eca15388dcde41ead3d8e1b022df562896d613",
    "topics": "a9dcf4ecac70656dfb71e47acce6a96768529b8b530befe8d4c5f901d9f69e21",
}
GOLDEN_TOKENIZERS = "0.23.3"
GOLDEN_TOKENIZER_SHA256 = "9809d5074a29fff04943cb7cbf891ee4ce58c9a29ca55e9d86631a434d68a02b"
SMALL_TOKENIZER = {"vocab_size": 512, "chars_per_domain": 50_000}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture(scope="module")
def small_tokenizer():
    return build_tokenizer(**SMALL_TOKENIZER)


class TestLoadCorpus:
    def test_domains(self):
        assert DOMAINS == ("prose", "code", "topics")

    @pytest.mark.parametrize("domain", DOMAINS)
    def test_same_output_twice(self, domain):
        assert load_corpus(domain, seed=3) == load_corpus(domain, seed=3)

    @pytest.mark.parametrize("domain", DOMAINS)
    def test_seed_changes_order_not_content(self, domain):
        a, b = load_documents(domain, seed=0), load_documents(domain, seed=1)
        assert a != b
        assert sorted(a) == sorted(b)

    @pytest.mark.parametrize("domain", DOMAINS)
    def test_max_chars_is_a_prefix(self, domain):
        full = load_corpus(domain, seed=0)
        cut = load_corpus(domain, max_chars=5000, seed=0)
        assert len(cut) == 5000
        assert full.startswith(cut)
        assert load_corpus(domain, max_chars=0) == ""

    def test_sizes(self):
        sizes = {d: len(load_corpus(d)) for d in DOMAINS}
        assert sizes["prose"] > 1_000_000
        assert sizes["code"] > 4_000_000
        assert sizes["topics"] > 300_000

    @pytest.mark.parametrize("domain", DOMAINS)
    def test_golden_slice(self, domain):
        if sys.version_info[:3] != GOLDEN_PYTHON:
            pytest.skip(f"golden corpus hashes are for CPython {GOLDEN_PYTHON}")
        assert _sha256(load_corpus(domain, max_chars=2000, seed=0)) == GOLDEN_CORPUS_SHA256[domain]

    def test_documents_joined_by_separator(self):
        docs = load_documents("topics", seed=5)
        assert load_corpus("topics", seed=5) == DOC_SEPARATOR.join(docs)

    def test_domains_are_distinct(self):
        prose = set(load_documents("prose"))
        code = load_documents("code")
        topics = set(load_documents("topics"))
        assert not prose & topics
        # code has its docstrings stripped: no prose document survives inside it verbatim
        code_text = "\n".join(code)
        long_prose = [d for d in prose if len(d) > 200 and "\n" in d][:200]
        assert sum(d in code_text for d in long_prose) == 0
        # code is python, prose mostly is not
        assert all(ast.parse(doc) is not None for doc in code[:50])
        assert code_text.count("def ") / len(code_text) > 10 * "".join(prose).count("def ") / sum(
            map(len, prose)
        )

    def test_code_has_no_docstrings(self):
        for doc in load_documents("code")[:100]:
            tree = ast.parse(doc)
            assert ast.get_docstring(tree) is None

    def test_unknown_domain(self):
        with pytest.raises(ZooConfigError, match="prose, code, topics"):
            load_corpus("poetry")
        with pytest.raises(ZooConfigError, match="known domains"):
            load_documents("poetry")

    def test_negative_max_chars(self):
        with pytest.raises(ZooConfigError, match="max_chars"):
            load_corpus("prose", max_chars=-1)


class TestBuildTokenizer:
    def test_special_tokens_and_size(self, small_tokenizer):
        tok = small_tokenizer
        assert len(tok) == SMALL_TOKENIZER["vocab_size"]
        assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (PAD_ID, BOS_ID, EOS_ID)
        text = "def f(x):\n    return x + 1  # é ∑"
        ids = tok(text)["input_ids"]
        assert BOS_ID not in ids and EOS_ID not in ids  # no specials added
        assert tok.decode(ids) == text

    def test_deterministic(self, small_tokenizer):
        again = build_tokenizer(**SMALL_TOKENIZER)
        assert again.backend_tokenizer.to_str() == small_tokenizer.backend_tokenizer.to_str()

    def test_seed_changes_mixture(self, small_tokenizer):
        other = build_tokenizer(**SMALL_TOKENIZER, seed=1)
        assert other.get_vocab() != small_tokenizer.get_vocab()

    def test_golden_hash(self, small_tokenizer):
        import tokenizers

        if sys.version_info[:3] != GOLDEN_PYTHON or tokenizers.__version__ != GOLDEN_TOKENIZERS:
            pytest.skip(f"golden tokenizer hash is for CPython {GOLDEN_PYTHON}, tokenizers {GOLDEN_TOKENIZERS}")
        assert _sha256(small_tokenizer.backend_tokenizer.to_str()) == GOLDEN_TOKENIZER_SHA256

    def test_vocabulary_has_tokens_a_domain_never_uses(self, small_tokenizer):
        """Fitted on all domains, so each domain leaves tokens unseen (as real LLMs do)."""
        counts = {}
        for domain in ("prose", "topics"):
            text = load_corpus(domain, max_chars=200_000)
            counts[domain] = Counter(small_tokenizer(text)["input_ids"])
        vocab = range(len(small_tokenizer))
        for domain, counter in counts.items():
            unseen = [i for i in vocab if counter[i] == 0]
            assert len(unseen) > 50, domain
        # some tokens are frequent in one domain and absent from the other
        assert any(counts["topics"][i] > 20 and counts["prose"][i] == 0 for i in vocab) or any(
            counts["prose"][i] > 20 and counts["topics"][i] == 0 for i in vocab
        )

    def test_too_small_vocab(self):
        with pytest.raises(ZooConfigError, match="vocab_size"):
            build_tokenizer(100)
        with pytest.raises(ZooConfigError, match="chars_per_domain"):
            build_tokenizer(512, chars_per_domain=0)
