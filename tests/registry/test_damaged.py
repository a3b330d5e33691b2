"""A registry file with damaged pages: every write refuses it with one line and leaves it byte for byte as it was; list
and show still read it with one warning line; export still salvages its entries."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from seedprints.errors import RegistryError
from seedprints import Registry  # as users open one: with the search index

from ..conftest import assert_one_line_error, run
from .conftest import tiny_fingerprint

NAMES = ("m0", "m1", "m2")


def _damage(path) -> None:
    """Overwrite 4 KB in the middle of the file with fixed random bytes (SQLite: 'invalid page number')."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


@pytest.fixture
def damaged(tmp_path):
    """A registry of three entries, then damaged; also a good archive of another entry and a new fingerprint file."""
    path = tmp_path / "registry.db"
    with Registry.open(path) as reg:
        for i, name in enumerate(NAMES):
            reg.add(tiny_fingerprint(i, n=200, d=16, model_id=f"models/{name}"), name=name, tags={"seed": str(i)})
    with Registry.open(tmp_path / "other.db") as other:
        other.add(tiny_fingerprint(7, n=200, d=16), name="other")
        other.export(tmp_path / "other.tar")
    tiny_fingerprint(9, n=200, d=16, model_id="models/model-c").save(tmp_path / "c.fp.safetensors")
    _damage(path)
    assert sqlite3.connect(path).execute("PRAGMA quick_check").fetchone()[0] != "ok"
    return path


def _writes(tmp_path) -> dict[str, list]:
    return {
        "add": ["registry", "add", tmp_path / "c.fp.safetensors"],
        "import": ["registry", "import", tmp_path / "other.tar"],
        "remove": ["registry", "remove", "m0"],
        "identify": ["identify", tmp_path / "c.fp.safetensors"],  # it writes a scan log, so it refuses up front
    }


@pytest.mark.parametrize("verb", ["add", "import", "remove", "identify"])
def test_every_write_refuses_it_with_one_line_and_changes_nothing(capsys, damaged, tmp_path, verb):
    before = damaged.read_bytes()
    code, out, err = run(capsys, *_writes(tmp_path)[verb], "--registry", damaged)
    assert_one_line_error(code, err, f"registry {damaged} is damaged (", "restore it from a backup or an export")
    assert out == "" and damaged.read_bytes() == before
    assert sorted(p.name for p in tmp_path.glob("registry.db*")) == ["registry.db"]


def test_writes_and_identify_give_the_same_line(capsys, damaged, tmp_path):
    lines = {run(capsys, *argv, "--registry", damaged)[2] for argv in _writes(tmp_path).values()}
    assert len(lines) == 1


@pytest.mark.parametrize("argv", [["list"], ["show", "m1"], ["list", "--json"]])
def test_list_and_show_read_it_with_one_warning(capsys, damaged, argv):
    before = damaged.read_bytes()
    code, out, err = run(capsys, "registry", *argv, "--registry", damaged)
    assert code == 0 and "m1" in out, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"Warning: registry {damaged} is damaged ("), err
    assert "`seedprints registry export FILE.tar`" in lines[0]
    assert damaged.read_bytes() == before


def test_export_salvages_the_entries(capsys, damaged, tmp_path):
    code, out, err = run(capsys, "registry", "export", tmp_path / "salvage.tar", "--registry", damaged, "--json")
    assert code == 0 and err == "", err
    assert json.loads(out)["entries"] == list(NAMES)
    new = tmp_path / "new.db"
    assert run(capsys, "registry", "import", tmp_path / "salvage.tar", "--registry", new)[0] == 0
    with Registry.open(new) as reg:
        assert [e.name for e in reg.entries()] == list(NAMES) and reg.damage() is None
        assert reg.get("m2").tags == {"seed": "2"}


def test_the_api_refuses_writes_and_reports_the_damage(damaged):
    with Registry.open(damaged) as reg:
        assert "invalid page number" in reg.damage()
        for write in (lambda: reg.add(tiny_fingerprint(9, n=200, d=16), name="x"), lambda: reg.remove("m0"),
                      lambda: reg.record_scan("s", {}, []), reg.check_intact):
            with pytest.raises(RegistryError, match="is damaged"):
                write()
        assert [e.name for e in reg.entries()] == list(NAMES)


def test_an_intact_registry_passes(tmp_path):
    with Registry.open(tmp_path / "r.db") as reg:
        reg.add(tiny_fingerprint(0), name="a")
        assert reg.damage() is None
        reg.check_intact()
