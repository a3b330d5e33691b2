"""RegistryLocation: the one place where a registry's kind (SQLite file or PostgreSQL server) is decided."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedprints.registry import Registry, RegistryLocation

URL = "postgresql://alice:secret@db.example.org:5432/refs?sslmode=require"


class TestParse:
    @pytest.mark.parametrize("url", [URL, "postgres://alice@db/refs"])
    def test_server_urls(self, url):
        location = RegistryLocation.parse(url)
        assert location.is_postgres and location.url == url and location.files() == ()
        with pytest.raises(ValueError, match="not a file"):
            location.path

    def test_a_url_prints_without_its_password(self):
        location = RegistryLocation.parse(URL)
        assert str(location) == "postgresql://alice:***@db.example.org:5432/refs?sslmode=require"
        assert "secret" not in repr(location)

    @pytest.mark.parametrize("given", ["refs.db", Path("refs.db")])
    def test_files_from_str_or_path(self, given):
        location = RegistryLocation.parse(given)
        assert not location.is_postgres and location.path == Path("refs.db") and str(location) == "refs.db"
        assert [p.name for p in location.files()] == ["refs.db", "refs.db-wal", "refs.db-shm", "refs.db-journal"]
        with pytest.raises(ValueError, match="not a server"):
            location.url

    def test_home_is_expanded(self):
        assert RegistryLocation.parse("~/refs.db").path == Path.home() / "refs.db"

    def test_parse_is_idempotent_and_equal_for_equal_places(self):
        location = RegistryLocation.parse("refs.db")
        assert RegistryLocation.parse(location) is location
        assert RegistryLocation.parse(Path("refs.db")) == location

    def test_other_types_are_refused(self):
        with pytest.raises(TypeError, match="file path or a postgresql:// URL, got int"):
            RegistryLocation.parse(3)


def test_registry_open_takes_str_path_or_location(tmp_path):
    db = tmp_path / "r.db"
    for given in (str(db), db, RegistryLocation.parse(db)):
        with Registry.open(given) as reg:
            assert reg.path == RegistryLocation.parse(db)
