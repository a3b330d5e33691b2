"""Offline HTML reports: content, escaping, no external assets, and a real render in headless Chromium.

The Chromium tests skip when no ``chromium`` is on PATH, except under ``SEEDPRINTS_REQUIRE_CHROMIUM=1``
(set by .ci/run, which installs Debian's chromium), where a missing browser fails them.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from seedprints.cli import main
from seedprints.errors import OutputPathError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.search.matrix import run_matrix
from seedprints.probes import ProbeSpec
from seedprints.reports.html import write_report

EVIL = '<img src=x onerror="document.title=\'pwned\'">$\\alpha$'
SPEC = ProbeSpec(kind="token", n=120, length=8, seed=1, vocab_bound=100,
                 input_tokens=tuple(range(10)), output_tokens=tuple(range(50, 60)), untrained_from=50)


def matrix_payload(names: list[str]) -> dict:
    """A matrix over a base, a noisy copy of it and an unrelated model, under the given names."""
    rng = np.random.default_rng(3)
    h, lg = rng.standard_normal((SPEC.n, 16)), rng.standard_normal((SPEC.n, 10))
    arrays = [(h, lg), (h + 0.4 * rng.standard_normal(h.shape), lg + 0.4 * rng.standard_normal(lg.shape)),
              (rng.standard_normal(h.shape), rng.standard_normal(lg.shape))]
    fps = [Fingerprint(hidden=a.astype(np.float32), spec=SPEC, model_id=f"m{i}", logits=b.astype(np.float32))
           for i, (a, b) in enumerate(arrays)]
    return {**run_matrix(fps, names=names).to_dict(), "command": "seedprints matrix ..."}


def identify_payload() -> dict:
    def candidate(name: str, log10_p: float, log10_holm: float, verdict: str) -> dict:
        return {"name": name, "p_value": 10**log10_p, "log10_p": log10_p, "p_holm": 10**log10_holm,
                "log10_p_holm": log10_holm, "p_bh": 10**log10_holm, "log10_p_bh": log10_holm, "z": -log10_p,
                "verdict": verdict}

    return {"suspect": "suspect.fp.safetensors", "alpha": 0.01, "tested": 40, "skipped": 2,
            "candidates": [candidate("seed-7", -0.2, 0.0, "independent"), candidate(EVIL, -400.0, -398.4, "same-lineage"),
                           candidate("seed-3", -1.5, 0.0, "independent")]}


@pytest.fixture()
def matrix_report(tmp_path) -> Path:
    return write_report(tmp_path / "report", "matrix", matrix_payload(["runs/base", "runs/derived", EVIL]))


class _References(HTMLParser):
    """Collects what a page would load: link-like attributes, url() in attributes and in <style> text."""

    LINKS = {"src", "href", "xlink:href", "srcset", "action", "poster", "data", "background"}

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_style = tag == "style"
        for name, value in attrs:
            if name in self.LINKS and value is not None:
                self.targets.append(value.strip())
            self.targets += re.findall(r"url\(([^)]*)\)", value or "")

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.targets += re.findall(r"url\(([^)]*)\)", data) + re.findall(r"@import\s+(\S+)", data)


def external_references(page: str) -> list[str]:
    """Every target the page would load that is not inline data or a same-page anchor."""
    parser = _References()
    parser.feed(page)
    return [t for t in parser.targets if not (t.strip("'\"").startswith(("data:", "#")))]


def provenance(index: Path) -> dict[str, str]:
    """The rows of a report's "How this report was made" section, unescaped."""
    section = re.search(r'<section id="provenance">.*?</section>', index.read_text(), re.S)
    assert section, "no provenance section"
    return {html.unescape(k): html.unescape(v) for k, v in re.findall(r"<dt>(.*?)</dt><dd><code>(.*?)</code></dd>", section.group())}


class TestMatrixPage:
    def test_sections(self, matrix_report):
        page = matrix_report.read_text()
        for anchor in ('id="summary"', 'id="heatmap-image"', "<svg", 'id="pairs"', 'id="probes"', 'id="provenance"'):
            assert anchor in page
        assert "3 models, 6 ordered pairs" in page and SPEC.hash in page and "seedprints matrix ..." in page
        assert page.count('<tr class="same-lineage">') == 2 and page.count('<tr class="independent">') == 4

    def test_model_names_are_escaped_everywhere(self, matrix_report):
        page = matrix_report.read_text()
        svg = (matrix_report.parent / "lineage-graph.svg").read_text()
        assert "<img src=x" not in page and "<img src=x" not in svg
        assert html.escape(EVIL, quote=True) in page and html.escape(EVIL, quote=True) in svg
        assert "onerror=" not in page.replace("onerror=&quot;", "")

    def test_no_external_assets(self, matrix_report):
        page = matrix_report.read_text()
        assert external_references(page) == []
        assert set(re.findall(r"https?://[^\s\"'<>]*", page)) <= {"http://www.w3.org/2000/svg"}  # a namespace, never loaded
        policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
        assert "default-src 'none'" in policy and "img-src data:" in policy

    def test_the_csp_allows_exactly_the_page_script(self, matrix_report):
        page = matrix_report.read_text()
        scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
        assert len(scripts) == 1
        digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
        assert f"script-src 'sha256-{digest}'" in page

    def test_external_reference_detector_finds_one(self):
        page = ('<img src="https://cdn.example/x.png"><link href=//a/b.css><p>&lt;img src=x&gt;</p>'
                '<style>p { background: url(http://a/b.png) }</style><line marker-end="url(#arrow)"/>')
        assert external_references(page) == ["https://cdn.example/x.png", "//a/b.css", "http://a/b.png"]

    def test_graph_has_one_node_per_model_and_one_edge_per_linked_pair(self, matrix_report):
        svg = (matrix_report.parent / "lineage-graph.svg").read_text()
        assert svg.count("<circle") == 3 and svg.count("<line") == 1 and "both ways" in svg


class TestOtherPages:
    def test_compare_page(self, tmp_path):
        payload = {**matrix_payload(["a", "b", "c"])["pairs"][0], "command": "seedprints compare a b --report r",
                   "probe_description": SPEC.describe(), "probe_spec": json.loads(SPEC.to_json())}
        index = write_report(tmp_path / "r", "compare", payload)
        page = index.read_text()
        assert "same-lineage: <b>b</b> shares <b>a</b>" in page and "untrained-token logit part z" in page
        assert "<img" not in page and "heatmap" not in page and external_references(page) == []
        assert sorted(p.name for p in index.parent.iterdir()) == ["index.html", "results.json"]

    def test_identify_page_ranks_candidates_and_escapes_names(self, tmp_path):
        index = write_report(tmp_path / "r", "identify", identify_payload())
        page = index.read_text()
        ranked = re.findall(r'<tr class="[^"]*"><td>(\d)</td><td class="name">([^<]*)</td>', page)
        assert ranked == [("1", html.escape(EVIL)), ("2", "seed-3"), ("3", "seed-7")]
        assert "40 registered fingerprints (2 skipped" in page and "<img src=x" not in page
        assert (index.parent / "candidates.png").read_bytes().startswith(b"\x89PNG")
        assert external_references(page) == []

    def test_identify_counts_skipped_entries_by_reason(self, tmp_path):
        payload = {**identify_payload(), "skipped": {"probe_spec": 2, "hidden_size": 1}}
        page = write_report(tmp_path / "r", "identify", payload).read_text()
        assert "(3 skipped: 2 made with other probes; 1 of another hidden size)" in page and "probe_spec" not in page

    def test_compare_page_names_the_reference_first_and_shows_settings_in_words(self, tmp_path):
        payload = {**matrix_payload(["ref", "sus", "c"])["pairs"][0], "settings": {"buffer_k": 4, "use_agg": False,
                                                                                    "identity_mode": None}}
        page = write_report(tmp_path / "r", "compare", {**payload, "reference": "x/ref", "suspect": "y/sus"}).read_text()
        assert "<title>seedprints compare: reference ref, suspect sus</title>" in page
        assert "buffer_k = 4, identity_mode = default, use_agg = no" in page and "{&quot;" not in page

    def test_identify_page_names_the_probes_it_used(self, tmp_path):
        page = write_report(tmp_path / "r", "identify", {**identify_payload(), "probe_hashes": ["b1ea42ba16e808d9"]}).read_text()
        assert '<section id="probes">' in page and "<code>b1ea42ba16e808d9</code>" in page

    def test_matrix_page_says_what_it_did_about_direction(self, matrix_report):
        page = matrix_report.read_text()
        assert "not symmetric" not in page and "tested in both directions on the same probes" in page
        assert "The two directions agree for every pair." in page and "a model chose" not in page  # untrained tokens

    def test_graph_legend_is_readable(self, matrix_report):
        svg = (matrix_report.parent / "lineage-graph.svg").read_text()
        assert 'font-size="14" fill="#444">colour = lineage' in svg

    def test_unknown_kind(self, tmp_path):
        with pytest.raises(UsageError, match="unknown report kind"):
            write_report(tmp_path / "r", "scan", {})
        assert not (tmp_path / "r").exists()

    def test_existing_report_needs_force(self, tmp_path, matrix_report):
        with pytest.raises(OutputPathError, match="not empty"):
            write_report(matrix_report.parent, "identify", identify_payload())
        write_report(matrix_report.parent, "identify", identify_payload(), force=True)
        assert json.loads((matrix_report.parent / "results.json").read_text())["kind"] == "identify"
        assert not (matrix_report.parent / "heatmap.png").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


    def test_a_failed_replacement_keeps_the_previous_report(self, tmp_path, matrix_report, monkeypatch):
        real_replace = os.replace

        def refuse_new_folder(src, dst):
            if str(src).endswith(".tmp"):
                raise PermissionError(errno.EACCES, "Permission denied")
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", refuse_new_folder)
        with pytest.raises(OutputPathError, match="Permission denied"):
            write_report(matrix_report.parent, "identify", identify_payload(), force=True)
        assert json.loads((matrix_report.parent / "results.json").read_text())["kind"] == "matrix"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


class TestCompareReportOption:
    def test_compare_writes_a_report(self, capsys, tmp_path):
        rng = np.random.default_rng(5)
        h = rng.standard_normal((SPEC.n, 16))
        paths = []
        for name, hidden in (("ref", h), ("sus", h + 0.3 * rng.standard_normal(h.shape))):
            fp = Fingerprint(hidden=hidden.astype(np.float32), spec=SPEC, model_id=name,
                             logits=rng.standard_normal((SPEC.n, 10)).astype(np.float32))
            paths.append(str(fp.save(tmp_path / f"{name}.fp.safetensors")))
        code = main(["compare", *paths, "--report", str(tmp_path / "r"), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out)["report"] == str(tmp_path / "r" / "index.html")
        saved = json.loads((tmp_path / "r" / "results.json").read_text())
        assert saved["kind"] == "compare" and saved["probe_hash"] == SPEC.hash and "--report" in saved["command"]

    def test_the_report_records_the_settings_used_not_the_defaults(self, capsys, tmp_path):
        spec = ProbeSpec(kind="token", n=300, length=64, seed=7, vocab_bound=100)
        rng = np.random.default_rng(6)
        h = rng.standard_normal((spec.n, 16))
        paths = [str(Fingerprint(hidden=hidden.astype(np.float32), spec=spec, model_id=name).save(tmp_path / f"{name}.fp"))
                 for name, hidden in (("ref", h), ("sus", h + rng.standard_normal(h.shape)))]
        assert main(["compare", *paths, "--budget", "200", "--alpha", "0.001", "--report", str(tmp_path / "r")]) == 0
        assert main(["matrix", *paths, "--out", str(tmp_path / "m")]) == 0
        capsys.readouterr()
        for folder, tested in (("r", "200"), ("m", None)):
            made = provenance(tmp_path / folder / "index.html")
            assert made["probes used"].startswith("token n=300 L=64 seed=7") and made["method"] == "lineage"
            assert made.get("probes tested") == tested and made["alpha"] == ("0.001" if folder == "r" else "0.01")
            assert "--n" not in made["command"].split() and "--length" not in made["command"].split()

    def test_a_model_fingerprinted_with_a_files_probes_records_them(self, capsys, tmp_path, tiny_llama_dir, tiny_llama_derived_dir):
        ref = tmp_path / "ref.fp"
        assert main(["fingerprint", str(tiny_llama_dir), "-o", str(ref), "--n", "30", "--length", "8"]) == 0
        assert main(["compare", str(ref), str(tiny_llama_derived_dir), "--report", str(tmp_path / "r")]) == 0
        capsys.readouterr()
        made = provenance(tmp_path / "r" / "index.html")
        assert " n=30 L=8 " in made["probes used"] and made["probes tested"] == "30"
        assert not {"--n", "--length"} & set(made["command"].split())

    def test_compare_refuses_a_non_empty_report_folder_before_any_work(self, capsys, tmp_path):
        (tmp_path / "r").mkdir()
        (tmp_path / "r" / "x").write_text("x")
        code = main(["compare", str(tmp_path / "missing-a"), str(tmp_path / "missing-b"), "--report", str(tmp_path / "r")])
        _, err = capsys.readouterr()
        assert code == 1 and err.count("\n") == 1 and "is not empty" in err


# ----------------------------------------------------------------------------------------------------------------------
# Headless Chromium

CHECK_SCRIPT = """
(function () {
  var problems = [];
  window.addEventListener("error", function (e) {
    problems.push("error: " + (e.message || (e.target && e.target.outerHTML)));
  }, true);
  document.addEventListener("securitypolicyviolation", function (e) {
    problems.push("csp: " + e.violatedDirective + " " + e.blockedURI);
  });
  var original = console.error;
  console.error = function () { problems.push("console: " + Array.prototype.join.call(arguments, " ")); original.apply(console, arguments); };
  window.addEventListener("load", function () {
    var out = document.createElement("pre");
    out.id = "render-check";
    out.textContent = JSON.stringify({
      problems: problems, title: document.title,
      images: Array.prototype.map.call(document.images, function (i) { return {id: i.id, width: i.naturalWidth}; }),
      nodes: document.querySelectorAll("#graph svg circle").length,
      rows: document.querySelectorAll("#pairs tbody tr").length,
      injected: document.querySelectorAll("[onerror]").length
    });
    document.body.appendChild(out);
  });
})();
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("SEEDPRINTS_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium is not installed but SEEDPRINTS_REQUIRE_CHROMIUM=1 (install Debian's chromium package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def run_chromium(binary: str, page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", *extra, page.as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def with_check_script(index: Path, extra_html: str = "") -> Path:
    """A copy of the page with the check script first in <head>, its hash added to the page's CSP."""
    page = index.read_text()
    digest = base64.b64encode(hashlib.sha256(CHECK_SCRIPT.encode()).digest()).decode()
    page = page.replace("script-src ", f"script-src 'sha256-{digest}' ", 1)
    page = page.replace("<head>", f"<head><script>{CHECK_SCRIPT}</script>", 1)
    page = page.replace("</main>", f"{extra_html}</main>", 1)
    checked = index.parent / "checked.html"
    checked.write_text(page)
    return checked


def rendered_check(binary: str, page: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    """What the check script saw after load, and Chromium's console lines from stderr."""
    done = run_chromium(binary, page, tmp_path, "--enable-logging=stderr", "--v=1", "--virtual-time-budget=5000", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="render-check">(.*?)</pre>', done.stdout, flags=re.S)
    assert found, f"the check script did not run: {done.stdout[:500]}"
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return json.loads(html.unescape(found.group(1))), console


class TestChromium:
    def test_matrix_page_renders_with_heatmap_and_no_console_errors(self, chromium, matrix_report, tmp_path):
        seen, console = rendered_check(chromium, with_check_script(matrix_report), tmp_path)
        assert seen["problems"] == [] and console == []
        assert seen["images"] == [{"id": "heatmap-image", "width": seen["images"][0]["width"]}]
        assert seen["images"][0]["width"] > 300
        assert seen["nodes"] == 3 and seen["rows"] == 6
        assert seen["injected"] == 0 and seen["title"] == "seedprints matrix: 3 models"

    def test_an_external_asset_would_be_blocked_and_reported(self, chromium, matrix_report, tmp_path):
        """The checks above can fail: a CDN image is refused by the page's policy and shows up as an error."""
        page = with_check_script(matrix_report, '<img id="cdn" src="https://cdn.example.invalid/x.png">')
        seen, console = rendered_check(chromium, page, tmp_path)
        assert any(p.startswith("csp: img-src https://cdn.example.invalid") for p in seen["problems"])
        assert any("cdn.example.invalid" in line for line in console)
        assert {"id": "cdn", "width": 0} in seen["images"]

    def test_identify_page_renders(self, chromium, tmp_path):
        index = write_report(tmp_path / "r", "identify", identify_payload())
        seen, console = rendered_check(chromium, with_check_script(index), tmp_path)
        assert seen["problems"] == [] and console == [] and seen["injected"] == 0
        assert seen["images"][0]["id"] == "candidates-image" and seen["images"][0]["width"] > 300

    def test_screenshot_is_not_blank(self, chromium, matrix_report, tmp_path):
        from matplotlib.image import imread

        shot = tmp_path / "shot.png"
        done = run_chromium(chromium, matrix_report, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600")
        assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
        pixels = (imread(shot)[..., :3] * 255).astype(np.int64)
        colours = np.unique(pixels[..., 0] << 16 | pixels[..., 1] << 8 | pixels[..., 2])
        assert pixels.std() > 10 and len(colours) > 50
