"""``seedprints fleet`` on a real local Ray cluster (two CPUs): a manifest of tiny local and Hub models into a SQLite
or PostgreSQL registry, resumed runs, failures by name, and a worker killed mid-run; manifest errors need no Ray."""

from __future__ import annotations

import json
import os
import signal
import shutil
import sys
import threading
import warnings
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, run
from tests.hub_server import TINY_REPO, tiny_hub

FAST = ("--n", "30", "--length", "8")
# Ray's own deprecations are not ours to fix; the filter is scoped to warnings raised inside ray's modules
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")


@pytest.fixture(scope="module")
def cluster(tiny_llama_dir, tiny_llama_derived_dir, tmp_path_factory):
    """One local Ray cluster (2 CPUs) for the module, its workers pointed at a Hub stand-in and a private HF_HOME."""
    with tiny_hub(tiny_llama_dir, tiny_llama_derived_dir) as hub, pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_ENDPOINT", hub.endpoint)
        patch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf-home")))
        patch.delenv("HF_HUB_OFFLINE", raising=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            yield hub
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def models(tiny_llama_dir, tiny_llama_derived_dir, tiny_llama_other_dir, tmp_path_factory) -> Path:
    """A folder of three tiny local models, a broken one (config, no weights), and a manifest naming them and a Hub id."""
    root = tmp_path_factory.mktemp("fleet-models")
    for name, source in (("base", tiny_llama_dir), ("derived", tiny_llama_derived_dir), ("other", tiny_llama_other_dir)):
        shutil.copytree(source, root / name)
    (root / "broken").mkdir()
    shutil.copy(tiny_llama_dir / "config.json", root / "broken" / "config.json")
    rows = [
        {"name": "base", "model": "base", "tags": {"family": "tiny"}},
        {"name": "derived", "model": "derived", "tags": {"family": "tiny"}},
        {"name": "other", "model": str(root / "other")},
        {"name": "hub-v1", "model": TINY_REPO, "revision": "v1"},
    ]
    (root / "models.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "with-broken.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows[:2]) + json.dumps({"name": "broken", "model": "broken"}) + "\n")
    return root


def _entries(db: Path | str) -> dict[str, dict]:
    from seedprints.registry import Registry

    with Registry.open(db, create=False) as reg:
        return {e.name: e.to_dict() for e in reg.entries()}


@pytest.mark.slow
class TestFleetOnRay:
    @pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
    def test_registers_every_model_then_resumes(self, backend, request, cluster, models, tmp_path, capsys):
        db = request.getfixturevalue("pg_url") if backend == "postgresql" else tmp_path / "refs.db"
        code, stdout, err = run(capsys, "fleet", models / "models.jsonl", "--registry", db, *FAST, "--json")
        assert code == 0, err
        report = json.loads(stdout)
        assert sorted(x["name"] for x in report["done"]) == ["base", "derived", "hub-v1", "other"]
        assert report["failed"] == [] and report["resources"] == {"num_cpus": 1}
        entries = _entries(db)
        assert sorted(entries) == ["base", "derived", "hub-v1", "other"]
        assert entries["base"]["tags"] == {"family": "tiny"}
        hub_commit = cluster.repos[TINY_REPO].resolve("v1")
        assert entries["hub-v1"]["metadata"]["hub_commit"] == hub_commit
        # same weights and spec: the Hub's v1 is the base model, so both share weights digest and probes
        assert entries["hub-v1"]["metadata"]["weights_digest"] == entries["base"]["metadata"]["weights_digest"]
        assert len({e["probe_hash"] for e in entries.values()}) == 1

        code, stdout, err = run(capsys, "fleet", models / "models.jsonl", "--registry", db, *FAST)
        assert code == 0, err
        assert "0 done, 4 skipped, 0 failed" in stdout and "[4/4] skipped" in err
        assert _entries(db) == entries

    def test_failure_is_reported_by_name_and_the_rest_goes_on(self, cluster, models, tmp_path, capsys):
        db = tmp_path / "refs.db"
        code, stdout, err = run(capsys, "fleet", models / "with-broken.jsonl", "--registry", db, *FAST, "--retries", "1")
        assert code == 1
        assert "2 done, 0 skipped, 1 failed" in stdout and "broken" in stdout
        error_lines = [line for line in err.splitlines() if line.startswith("Error:")]
        assert error_lines == [error_lines[0]] and "1 of 3 models failed (broken)" in error_lines[0]
        assert "Traceback" not in err
        assert sorted(_entries(db)) == ["base", "derived"]

    def test_registry_spec_for_the_vocabulary_wins(self, cluster, models, tmp_path, capsys):
        db = tmp_path / "refs.db"
        code, _, err = run(capsys, "registry", "add", models / "other", "--name", "seed", "--n", "40", "--length", "8",
                           "--registry", db)
        assert code == 0, err
        manifest = tmp_path / "one.csv"
        manifest.write_text(f"name,model,tags\nbase,{models / 'base'},family=tiny;size=xs\n")
        code, _, err = run(capsys, "fleet", manifest, "--registry", db, *FAST, "--quiet")
        assert code == 0, err
        entries = _entries(db)
        assert entries["base"]["n"] == 40 and entries["base"]["probe_hash"] == entries["seed"]["probe_hash"]
        assert entries["base"]["tags"] == {"family": "tiny", "size": "xs"}

    def test_worker_killed_mid_run_loses_and_duplicates_nothing(self, cluster, models, tmp_path, capsys):
        db = tmp_path / "refs.db"
        killed: list[int] = []
        stop = threading.Event()

        def kill_first_busy_worker() -> None:
            while not stop.is_set() and not killed:
                for pid in _fleet_task_pids():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    break
                stop.wait(0.02)

        killer = threading.Thread(target=kill_first_busy_worker, daemon=True)
        killer.start()
        try:
            code, stdout, err = run(capsys, "fleet", models / "models.jsonl", "--registry", db, *FAST, "--json")
        finally:
            stop.set()
            killer.join()
        assert killed, "no fleet task was seen running, so none was killed"
        assert code == 0, err
        report = json.loads(stdout)
        assert sorted(x["name"] for x in report["done"]) == ["base", "derived", "hub-v1", "other"]
        assert sorted(_entries(db)) == ["base", "derived", "hub-v1", "other"]


def _fleet_task_pids() -> list[int]:
    """Ray worker processes running a fleet task now (Ray titles a busy worker ``ray::<task name>``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"ray::seedprints-fleet:" in title:
                pids.append(int(entry.name))
    return pids


@pytest.fixture
def hub_env(tiny_llama_dir, tiny_llama_derived_dir, tmp_path, monkeypatch):
    """The Hub stand-in for one test, with a fresh HF_HOME."""
    with tiny_hub(tiny_llama_dir, tiny_llama_derived_dir) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield hub


class TestTaskWithoutRay:
    """What a worker does, called directly: which failures end a model and which Ray should retry."""

    def _job(self, **registry):
        from seedprints.options import ProbeOptions
        from seedprints.fleet.task import Job

        return Job(options=ProbeOptions(n=30, length=8), **registry)

    def test_done_then_skipped_on_its_weights_and_probes(self, hub_env):
        from seedprints.encoding import decode
        from seedprints.fleet.manifest import ManifestItem
        from seedprints.fleet.task import WEIGHTS_KEY, run_task

        item = ManifestItem("v1", TINY_REPO, "v1")
        done = run_task(item, self._job())
        assert done.status == "done"
        ranked = decode(done.encoding)
        assert ranked.metadata["hub_commit"] == hub_env.repos[TINY_REPO].resolve("v1")
        key = (ranked.metadata[WEIGHTS_KEY], ranked.spec.hash)
        again = run_task(ManifestItem("copy", TINY_REPO, "v1"), self._job(registered={key: "v1"}, taken={"v1": key}))
        assert again.status == "skipped" and again.detail == "already registered as v1" and again.encoding is None

    def test_a_name_taken_by_other_weights_fails(self, hub_env):
        from seedprints.fleet.manifest import ManifestItem
        from seedprints.fleet.task import run_task

        outcome = run_task(ManifestItem("v1", TINY_REPO, "main"), self._job(taken={"v1": ("other", "probes")}))
        assert outcome.status == "failed" and "already has an entry named 'v1'" in outcome.detail

    def test_gated_fails_at_once_but_an_unreachable_hub_is_left_to_ray(self, hub_env, monkeypatch):
        from seedprints.errors import HubUnreachableError
        from seedprints.fleet.manifest import ManifestItem
        from seedprints.fleet.task import run_task

        gated = run_task(ManifestItem("g", "tiny-org/gated"), self._job())
        assert gated.status == "failed" and "gated repository" in gated.detail
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
        with pytest.raises(HubUnreachableError):
            run_task(ManifestItem("m", TINY_REPO), self._job())


def _cluster_of(gpus: dict[str, float]) -> object:
    """A stand-in for the ray module that reports 8 CPUs and ``gpus``: the GPU branch, tested without a GPU."""

    class Cluster:
        @staticmethod
        def cluster_resources() -> dict[str, float]:
            return {"CPU": 8.0, **gpus}

    return Cluster


class TestWithoutRay:
    def test_missing_ray_is_one_line(self, models, tmp_path, capsys, monkeypatch):
        monkeypatch.setitem(sys.modules, "ray", None)
        code, _, err = run(capsys, "fleet", models / "models.jsonl", "--registry", tmp_path / "r.db")
        assert_one_line_error(code, err, 'pip install "seedprints[fleet]"')
        assert not (tmp_path / "r.db").exists()

    @pytest.mark.parametrize("text, suffix, fragments", [
        ('{"name": "a"}\n', ".jsonl", ("line 1", "no 'model'")),
        ('{"name": "a", "model": "org/x", "colour": "red"}\n', ".jsonl", ("unknown field 'colour'",)),
        ("not json\n", ".jsonl", ("line 1 is not JSON",)),
        ('{"name": "a", "model": "org/x"}\n{"name": "a", "model": "org/y"}\n', ".jsonl", ("names 'a' twice",)),
        ("name,model,colour\na,org/x,red\n", ".csv", ("has columns ['colour']",)),
        ("name,model,tags\na,org/x,family\n", ".csv", ("not KEY=VALUE",)),
        ("name,model\na,no/such/path\n", ".csv", ("neither an existing local path nor a Hub id",)),
        ("", ".jsonl", ("lists no models",)),
        ("name: a\n", ".yaml", ("JSON Lines (.jsonl) or CSV (.csv)",)),
    ])
    def test_bad_manifest_is_one_line(self, tmp_path, capsys, text, suffix, fragments):
        manifest = tmp_path / f"models{suffix}"
        manifest.write_text(text)
        code, _, err = run(capsys, "fleet", manifest, "--registry", tmp_path / "r.db")
        assert_one_line_error(code, err, *fragments)
        assert not (tmp_path / "r.db").exists()

    @pytest.mark.parametrize("cluster_gpus, share, asked", [
        ({}, 0.5, ({"num_cpus": 1}, "cpu")),
        ({"GPU": 2.0}, None, ({"num_cpus": 1, "num_gpus": 1.0}, "cuda")),
        ({"GPU": 1.0}, 0.25, ({"num_cpus": 1, "num_gpus": 0.25}, "cuda")),
    ])
    def test_tasks_ask_for_gpus_only_where_the_cluster_has_them(self, cluster_gpus, share, asked):
        from seedprints.fleet.driver import _resources

        assert _resources(_cluster_of(cluster_gpus), share) == asked

    def test_more_gpus_per_model_than_the_cluster_has_is_refused(self):
        from seedprints.errors import UsageError
        from seedprints.fleet.driver import _resources

        with pytest.raises(UsageError, match="more than the 1 GPUs"):
            _resources(_cluster_of({"GPU": 1.0}), 2.0)

    def test_revision_on_a_local_path_is_refused(self, models, tmp_path, capsys):
        manifest = tmp_path / "m.jsonl"
        manifest.write_text(json.dumps({"name": "a", "model": str(models / "base"), "revision": "v1"}) + "\n")
        code, _, err = run(capsys, "fleet", manifest, "--registry", tmp_path / "r.db")
        assert_one_line_error(code, err, "is a local path, so revision 'v1' means nothing")
