"""Claims of Hub models at their revisions, against the local Hub stand-in, and the same run as Ray tasks on a local
cluster (``--fleet``): the same outcomes and numbers as the run on local folders, and a fleet run that resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.claims.conftest import FAST
from tests.conftest import run
from tests.hub_server import Repo, folder_files
from tests.test_fleet import cluster  # noqa: F401 - the local Ray cluster, its workers pointed at the Hub stand-in

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")]
CARD = b"---\nbase_model: claims-org/base\nbase_model_relation: finetune\n---\n# a model card\n"
CARDS = {"listed": b"---\nbase_model: [claims-org/base, claims-org/other]\nbase_model_relation: merge\n---\n",
         "malformed": b"---\nbase_model: [claims-org/base\n---\n", "claims-wide": b"---\nbase_model: claims-org/wide\n---\n"}
LOCAL_TOO = ("claims-org/derived", "claims-org/derived@v2", "claims-org/nocard")  # also checked as local folders
MODELS = (*LOCAL_TOO, "claims-org/listed", "claims-org/malformed", "claims-org/claims-wide", "claims-org/adapter")


@pytest.fixture(scope="module")
def hub_world(cluster, claims_world, tmp_path_factory):  # noqa: F811
    """On the stand-in: the bases claims-org/base, other and wide (tag v1); claims-org/derived (main: a fine-tune of
    base whose card claims it; v2: a model of another seed with the same card), claims-org/nocard (the fine-tune
    without a card), claims-org/listed (claiming base and other), claims-org/malformed, claims-org/claims-wide
    (claiming the 48-wide base) and claims-org/adapter (a LoRA whose config names claims-org/base); and a registry
    holding the three bases from their Hub ids at v1 (entries ``base``, ``other``, ``wide``)."""
    from seedprints.cli import main
    from tests.claims.conftest import save_adapter

    models = claims_world / "models"
    root = tmp_path_factory.mktemp("claims-hub")
    without_card = {k: v for k, v in folder_files(models / "derived").items() if k != "README.md"}
    repos = {name: Repo() for name in ("base", "other", "wide", "derived", "nocard", "listed", "malformed",
                                       "claims-wide", "adapter")}
    for name in ("base", "other", "wide"):
        repos[name].commit(folder_files(models / name), "v1", "main")
    repos["derived"].commit({**without_card, "README.md": CARD}, "main")
    repos["derived"].commit({**{k: v for k, v in folder_files(models / "stranger").items() if k != "README.md"},
                             "README.md": CARD}, "v2")
    repos["nocard"].commit(without_card, "main")
    for name, card in CARDS.items():
        repos[name].commit({**without_card, "README.md": card}, "main")
    repos["adapter"].commit(folder_files(save_adapter(models / "base", root / "adapter", "claims-org/base")), "main")
    cluster.repos.update({f"claims-org/{name}": repo for name, repo in repos.items()})
    db = root / "refs.db"
    for name in ("base", "other", "wide"):
        assert main(["registry", "add", f"claims-org/{name}@v1", *FAST, "--device", "cpu", "--registry", str(db),
                     "--json"]) == 0
    return root


def _claims(capsys, db: Path, cache: Path, *extra: object) -> dict:
    code, stdout, err = run(capsys, "claims", *extra, "--registry", db, *FAST, "--device", "cpu", "--cache", cache,
                            "--json")
    assert code == 0, err
    return json.loads(stdout)


def _outcomes(payload: dict) -> list[tuple]:
    """Each row's claimed base, outcome, entry and z (to 9 digits: BLAS may sum in another order on a worker)."""
    return [(r["claimed_base"], r["outcome"], r["entry"], None if r["z"] is None else round(r["z"], 9))
            for r in payload["claims"]]


class TestHubAndFleet:
    def test_hub_ids_at_their_revisions(self, hub_world, cluster, capsys):  # noqa: F811
        payload = _claims(capsys, hub_world / "refs.db", hub_world / "cache", *MODELS)
        rows = [(r["model"], r["claimed_base"], r["outcome"], r["entry"]) for r in payload["claims"]]
        assert rows == [("claims-org/derived", "claims-org/base", "confirmed", "base"),
                        ("claims-org/derived@v2", "claims-org/base", "not-supported", "base"),
                        ("claims-org/nocard", None, "cannot-tell", None),
                        ("claims-org/nocard", None, "unclaimed", "base"),
                        ("claims-org/listed", "claims-org/base", "confirmed", "base"),
                        ("claims-org/listed", "claims-org/other", "not-supported", "other"),
                        ("claims-org/malformed", None, "cannot-tell", None),
                        ("claims-org/malformed", None, "unclaimed", "base"),
                        ("claims-org/claims-wide", "claims-org/wide", "cannot-tell", "wide"),
                        ("claims-org/claims-wide", None, "unclaimed", "base"),
                        ("claims-org/adapter", "claims-org/base", "confirmed", "base")]
        reasons = [r["reason"] for r in payload["claims"]]
        assert reasons[2] == "no model card: claims-org/nocard has no README.md, so what it claims cannot be read"
        assert reasons[6].startswith("the model card of claims-org/malformed: its front-matter is not valid YAML")
        assert reasons[8].startswith("different widths: claims-org/wide (registry entry wide) has d = 48")
        assert payload["claims"][-1]["source"] == "adapter config"
        commits = {m["name"]: m["commit"] for m in payload["models"]}
        repo = cluster.repos["claims-org/derived"]
        assert commits["claims-org/derived"] == repo.resolve("main") and commits["claims-org/derived@v2"] == repo.resolve("v2")

    def test_a_hub_base_not_registered_is_fetched(self, hub_world, claims_world, capsys, tmp_path):
        db = tmp_path / "other.db"
        code, _, err = run(capsys, "registry", "add", claims_world / "models" / "other", *FAST, "--device", "cpu",
                           "--registry", db)
        assert code == 0, err
        payload = _claims(capsys, db, hub_world / "cache", "claims-org/derived", "--fetch-bases")
        row = payload["claims"][0]
        assert (row["claimed_base"], row["outcome"], row["entry"]) == ("claims-org/base", "confirmed",
                                                                        "claims-org/base (fetched)")

    def test_the_same_models_as_local_folders_give_the_same(self, hub_world, claims_world, capsys, tmp_path):
        hub = _claims(capsys, hub_world / "refs.db", hub_world / "cache", *LOCAL_TOO)
        local = tmp_path / "local"
        for name, source, card in (("derived", "derived", CARD), ("derived-v2", "stranger", CARD),
                                   ("nocard", "derived", None)):
            shutil.copytree(claims_world / "models" / source, local / name)
            (local / name / "README.md").unlink(missing_ok=True)
            if card:
                (local / name / "README.md").write_bytes(card)
        manifest = local / "models.jsonl"
        manifest.write_text("".join(json.dumps({"name": n, "model": n}) + "\n" for n in ("derived", "derived-v2", "nocard")))
        payload = _claims(capsys, hub_world / "refs.db", tmp_path / "cache", manifest)
        assert [r["model"] for r in payload["claims"]] == ["derived", "derived-v2", "nocard", "nocard"]
        assert _outcomes(payload) == _outcomes(hub)

    def test_fleet_gives_the_same_and_resumes(self, hub_world, capsys, tmp_path):
        local = _claims(capsys, hub_world / "refs.db", hub_world / "cache", *MODELS)
        fleet = _claims(capsys, hub_world / "refs.db", tmp_path / "fleet-cache", *MODELS, "--fleet")
        assert _outcomes(fleet) == _outcomes(local)
        assert {m["fingerprint"] for m in fleet["models"]} == {"computed"}
        again = _claims(capsys, hub_world / "refs.db", tmp_path / "fleet-cache", *MODELS, "--fleet")
        assert {m["fingerprint"] for m in again["models"]} == {"cached"} and _outcomes(again) == _outcomes(local)
