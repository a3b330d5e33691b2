"""Deterministic text corpora built from the Python installation itself (no downloads).

The zoo trains its small language models on text that ships with CPython, so that every machine
with the same Python version rebuilds exactly the same corpora offline. Three domains:

``"prose"``
    English prose: every docstring (module, class, function) of the standard library, collected
    by parsing the sources with :mod:`ast` (nothing is imported), cleaned with
    :func:`inspect.cleandoc`. About 1.4 MB on CPython 3.11.
``"code"``
    Python source: each standard-library ``.py`` file with its docstrings **removed** (comments
    kept), so that ``"code"`` and ``"prose"`` share no text; a body left empty gets ``pass``, so
    every document still parses. About 6.4 MB on CPython 3.11.
``"topics"``
    The pydoc help topics (``pydoc_data.topics.topics``): reference-manual prose about the
    language, with grammar snippets and examples. About 0.46 MB.

Files are read in sorted relative-path order; parts of the tree that Linux distributions ship
separately or that depend on the machine (``test``, ``idlelib``, ``tkinter``, ``turtledemo``,
``lib2to3``, ``distutils``, ``ensurepip``, ``site-packages``, ``_sysconfigdata*``) are skipped,
as are ``pydoc_data`` (the ``"topics"`` domain) and the ~100 generated character-map codecs under
``encodings/`` (tables, not code).
Documents are then shuffled with :class:`random.Random` seeded by ``seed`` and joined with a
blank line. Nothing is cached on disk; parsed documents are kept in memory for the process.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import random
import sysconfig
from pathlib import Path

from seedprints.errors import ZooConfigError

__all__ = ["DOMAINS", "DOC_SEPARATOR", "load_corpus", "load_documents"]

DOMAINS: tuple[str, ...] = ("prose", "code", "topics")
"""Known corpus domains, in a fixed order."""

DOC_SEPARATOR = "\n\n"
"""String placed between two documents by :func:`load_corpus`."""

_SKIP_DIRS = frozenset(
    {
        "__pycache__",
        "test",
        "tests",
        "idlelib",
        "tkinter",
        "turtledemo",
        "lib2to3",
        "distutils",
        "ensurepip",
        "site-packages",
        "dist-packages",
        "lib-dynload",
        "pydoc_data",  # the "topics" domain; keeps it out of "code"
    }
)
_STATEMENT_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")
_GENERATED_MARKER = "gencodec.py"  # ~100 generated character-map tables under encodings/
_MIN_DOCSTRING_CHARS = 20
_DOCSTRING_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise ZooConfigError(
            f"unknown corpus domain {domain!r}; known domains: {', '.join(DOMAINS)}"
        )


def _stdlib_files() -> list[tuple[str, Path]]:
    """Standard-library ``.py`` files as (posix relative path, path), sorted by relative path."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("config-")]
        for name in filenames:
            if name.endswith(".py") and not name.startswith("_sysconfigdata"):
                path = Path(dirpath, name)
                found.append((path.relative_to(root).as_posix(), path))
    found.sort(key=lambda item: item[0])
    return found


def _docstring_owners(node: ast.AST):
    """Yield the module, class and function nodes under ``node``, visiting statements only."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, _DOCSTRING_OWNERS):
            yield current
        for field in _STATEMENT_FIELDS:
            children = getattr(current, field, None)
            if children:
                stack.extend(reversed(children))


def _docstring_node(node: ast.AST) -> ast.Constant | None:
    body = getattr(node, "body", None)
    if body and isinstance(body[0], ast.Expr):
        value = body[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value
    return None


def _strip_docstrings(source: str, docstrings: list[tuple[ast.AST, ast.Constant]]) -> str:
    """Remove docstrings that sit on lines of their own; a body left empty gets ``pass``."""
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    replace: dict[int, str] = {}
    for owner, node in docstrings:
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        if first >= len(lines) or last >= len(lines) or node.end_col_offset is None:
            continue
        tail = lines[last][node.end_col_offset :].strip()
        if lines[first][: node.col_offset].strip() or (tail and not tail.startswith("#")):
            continue  # shares a line with other code (``def f(): "doc"``): keep it
        drop.update(range(first, last + 1))
        if len(getattr(owner, "body", ())) == 1 and not isinstance(owner, ast.Module):
            replace[first] = " " * node.col_offset + "pass\n"
    out = [replace.get(i, line) for i, line in enumerate(lines) if i not in drop or i in replace]
    return "".join(out)


@functools.lru_cache(maxsize=1)
def _stdlib_documents() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(docstrings, docstring-free sources) of the standard library, in sorted file order."""
    prose: list[str] = []
    code: list[str] = []
    for _rel, path in _stdlib_files():
        raw = path.read_bytes()
        try:
            tree = ast.parse(raw)
            source = raw.decode("utf-8")
        except (SyntaxError, ValueError, UnicodeDecodeError):
            continue  # a file this interpreter cannot parse (e.g. a template): skip it
        module_doc = ast.get_docstring(tree, clean=False) or ""
        if _GENERATED_MARKER in module_doc:
            continue
        owned: list[tuple[ast.AST, ast.Constant]] = []
        for node in _docstring_owners(tree):
            doc = _docstring_node(node)
            if doc is None:
                continue
            owned.append((node, doc))
            text = inspect.cleandoc(doc.value).strip()
            if len(text) >= _MIN_DOCSTRING_CHARS:
                prose.append(text)
        stripped = _strip_docstrings(source, owned).strip("\n")
        if stripped.strip():
            code.append(stripped + "\n")
    return tuple(prose), tuple(code)


def _topics_documents() -> tuple[str, ...]:
    from pydoc_data.topics import topics

    return tuple(topics[key].strip() for key in sorted(topics) if topics[key].strip())


def load_documents(domain: str, *, seed: int = 0) -> list[str]:
    """Return the documents of one domain, shuffled deterministically.

    Parameters
    ----------
    domain : str
        One of :data:`DOMAINS`.
    seed : int, optional
        Seed of the document shuffle (:class:`random.Random`). Default 0.

    Returns
    -------
    list of str
        The domain's documents (a docstring, a source file, or a pydoc topic each), in an order
        that depends only on ``seed`` and the Python version.

    Raises
    ------
    ZooConfigError
        If ``domain`` is not one of :data:`DOMAINS`.

    Examples
    --------
    >>> docs = load_documents("topics", seed=0)
    >>> len(docs) > 50
    True
    """
    _check_domain(domain)
    if domain == "topics":
        docs = list(_topics_documents())
    else:
        prose, code = _stdlib_documents()
        docs = list(prose if domain == "prose" else code)
    random.Random(seed).shuffle(docs)
    return docs


def load_corpus(domain: str, *, max_chars: int | None = None, seed: int = 0) -> str:
    """Return one domain's text as a single string, deterministically.

    Parameters
    ----------
    domain : str
        One of :data:`DOMAINS` (``"prose"``, ``"code"``, ``"topics"``).
    max_chars : int or None, optional
        Truncate the text to at most this many characters (a prefix of the full text for the
        same seed). ``None`` (default) returns the whole domain.
    seed : int, optional
        Seed of the document shuffle. Default 0.

    Returns
    -------
    str
        The shuffled documents joined with :data:`DOC_SEPARATOR`.

    Raises
    ------
    ZooConfigError
        If ``domain`` is unknown or ``max_chars`` is negative.

    Notes
    -----
    The first call in a process parses the standard library (about 2 s on a slow CPU); later
    calls reuse the parsed documents kept in memory.

    Examples
    --------
    >>> text = load_corpus("topics", max_chars=1000, seed=0)
    >>> len(text)
    1000
    >>> text == load_corpus("topics", max_chars=1000, seed=0)
    True
    """
    _check_domain(domain)
    if max_chars is not None and max_chars < 0:
        raise ZooConfigError(f"max_chars must be >= 0 or None, got {max_chars}")
    docs = load_documents(domain, seed=seed)
    if max_chars is None:
        return DOC_SEPARATOR.join(docs)
    parts: list[str] = []
    size = 0
    for doc in docs:
        if size >= max_chars:
            break
        parts.append(doc)
        size += len(doc) + len(DOC_SEPARATOR)
    return DOC_SEPARATOR.join(parts)[:max_chars]
