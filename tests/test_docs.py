"""The docs hold together: a short README whose table of pages points at real pages, and no link that leads nowhere."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_LINES = 150
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # [text](target) and ![alt](target)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...


def markdown_files() -> list[Path]:
    """The hand-written docs (README, CONTRIBUTING, docs/*.md) and the generated pages below docs/."""
    return [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]


def without_code(text: str) -> str:
    """``text`` with fenced code blocks and inline code removed: a link shown as code is not a link."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def relative_links(path: Path) -> list[str]:
    """Targets of the Markdown links in ``path`` that point into the repository (anchors dropped)."""
    targets = (m.group(1) for m in LINK.finditer(without_code(path.read_text(encoding="utf-8"))))
    return [t.split("#", 1)[0] for t in targets if not EXTERNAL.match(t) and not t.startswith("#")]


def test_the_readme_is_at_most_150_lines():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into a docs page"


def test_every_page_in_the_readme_table_exists():
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Documentation"):]
    rows = [line for line in table.splitlines() if line.startswith("| [")]
    pages = [m.group(1) for row in rows for m in [LINK.search(row)] if m]
    assert len(pages) >= 7, pages
    missing = [page for page in pages if not (ROOT / page).is_file()]
    assert not missing, f"the README's table links pages that do not exist: {missing}"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path):
    broken = [t for t in relative_links(path) if t and not (path.parent / t).exists()]
    assert not broken, f"{path.relative_to(ROOT)} links to missing files: {broken}"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_link_leaves_the_repository(path: Path):
    """A relative link must stay inside the repository (e.g. no ``../shared/...`` notes of a workspace)."""
    text = path.read_text(encoding="utf-8")
    assert "../shared" not in text
    outside = [t for t in relative_links(path) if t and not (path.parent / t).resolve().is_relative_to(ROOT)]
    assert not outside, f"{path.relative_to(ROOT)} links outside the repository: {outside}"


def readme_commands_and_json() -> tuple[list[list[str]], dict]:
    """The README's first bash block under "Command line" (as argument lists) and the JSON it shows, with its ``...``
    cuts removed."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Command line"):]
    bash = re.search(r"^```bash\n(.*?)^```", section, flags=re.S | re.M).group(1)
    commands = [line.split("#", 1)[0].split() for line in bash.splitlines()]
    shown = re.search(r"^```json\n(.*?)^```", section, flags=re.S | re.M).group(1)
    return commands, json.loads(re.sub(r",\s*\.\.\.", "", shown))


def same_values(shown: Any, got: Any, where: str = "") -> list[str]:
    """Where ``shown`` (the README's cut of a JSON object) differs from ``got``: floats to a relative 1e-3, since
    another BLAS may sum the forward pass in another order (and p, a power of ten, magnifies that); everything else
    exactly."""
    if isinstance(shown, dict):
        return [d for key, value in shown.items() for d in same_values(value, got.get(key), f"{where}.{key}")]
    if isinstance(shown, float):
        return [] if isinstance(got, float) and math.isclose(shown, got, rel_tol=1e-3) else [f"{where}: {shown} vs {got}"]
    return [] if shown == got else [f"{where}: {shown!r} vs {got!r}"]


@pytest.mark.slow
def test_the_readme_json_is_what_compare_prints(tmp_path, monkeypatch, capsys, tiny_llama_dir, tiny_llama_derived_dir):
    """The README's example output is real: its two commands on the suite's tiny models print that JSON."""
    from tests.conftest import run

    shutil.copytree(tiny_llama_dir, tmp_path / "base-model")
    shutil.copytree(tiny_llama_derived_dir, tmp_path / "suspect-model")
    monkeypatch.chdir(tmp_path)
    commands, shown = readme_commands_and_json()
    fingerprint, compare = commands[0], commands[1]
    assert fingerprint[:2] == ["seedprints", "fingerprint"] and compare[:2] == ["seedprints", "compare"]
    code, _, err = run(capsys, *fingerprint[1:], "--quiet")
    assert code == 0, err
    code, out, err = run(capsys, *compare[1:])
    assert code == 0, err
    differences = same_values(shown, json.loads(out))
    assert not differences, f"the README's JSON is not what `{' '.join(compare)}` prints: {differences}"
