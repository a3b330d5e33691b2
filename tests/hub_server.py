"""A Hugging Face Hub stand-in on 127.0.0.1 for tests: the few endpoints ``snapshot_download`` calls.

It answers model info (``/api/models/ORG/NAME[/revision/REV]``), the file tree (``.../tree/REV``) and file
downloads (``/ORG/NAME/resolve/REV/FILE``, HEAD and GET, with the ``X-Repo-Commit``, ``ETag`` and
``Content-Length`` headers the client reads), and fails the way the Hub does: ``X-Error-Code`` RepoNotFound,
RevisionNotFound, GatedRepo or EntryNotFound. Every request path is logged, so tests can tell what was fetched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclasses.dataclass
class Repo:
    """A model repository: its commits (sha -> file name -> bytes), branch and tag names, and whether it is gated."""

    commits: dict[str, dict[str, bytes]] = dataclasses.field(default_factory=dict)
    refs: dict[str, str] = dataclasses.field(default_factory=dict)
    gated: bool = False

    def commit(self, files: dict[str, bytes], *refs: str) -> str:
        """Add a commit of ``files`` (its sha made from their bytes) and point ``refs`` at it; returns the sha."""
        digest = hashlib.sha1(b"".join(name.encode() + hashlib.sha256(data).digest() for name, data in sorted(files.items())))
        sha = digest.hexdigest()
        self.commits[sha] = files
        self.refs.update(dict.fromkeys(refs, sha))
        return sha

    def resolve(self, revision: str) -> str | None:
        return revision if revision in self.commits else self.refs.get(revision)


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative POSIX path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class HubServer:
    """The stand-in, serving in a thread; ``endpoint`` is its base URL and ``requests`` the paths asked so far."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "HubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


_API = re.compile(r"/api/models/(?P<repo>[^/]+/[^/]+)(?:/(?P<what>revision|tree)/(?P<rev>[^/]+)(?P<rest>/.*)?)?")
_RESOLVE = re.compile(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)")


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's name
            self._answer(body=False)

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append(f"{self.command} {path}")
            api, resolve = _API.fullmatch(path), _RESOLVE.fullmatch(path)
            match = api or resolve
            repo = hub.repos.get(match["repo"]) if match else None
            if repo is None:
                return self._fail(401, "RepoNotFound", body)
            sha = repo.resolve(match["rev"] or "main")
            if sha is None:
                return self._fail(404, "RevisionNotFound", body)
            files = repo.commits[sha]
            if api and api["what"] == "tree":
                tree = [{"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                        for name, data in sorted(files.items())]
                return self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, body)
            if api:
                info = {"id": match["repo"], "modelId": match["repo"], "sha": sha, "private": False,
                        "gated": "manual" if repo.gated else False, "siblings": [{"rfilename": name} for name in sorted(files)]}
                return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, body)
            if repo.gated:
                return self._fail(401, "GatedRepo", body)
            data = files.get(resolve["file"])
            if data is None:
                return self._fail(404, "EntryNotFound", body)
            headers = {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                       "Content-Type": "application/octet-stream"}
            self._send(200, data, headers, body)

        def _fail(self, status: int, code: str, body: bool) -> None:
            self._send(status, json.dumps({"error": code}).encode(),
                       {"X-Error-Code": code, "Content-Type": "application/json"}, body)

        def _send(self, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(data))}.items():
                self.send_header(key, value)
            self.end_headers()
            if body:
                self.wfile.write(data)

    return Handler


TINY_REPO = "tiny-org/tiny-llama"


def tiny_hub(base: Path, derived: Path) -> HubServer:
    """A stand-in (not yet started) with TINY_REPO (tag v1: ``base`` plus a pickle, a card and remote code; main:
    ``derived``), the gated ``tiny-org/gated`` and ``tiny-org/pickles``, which has no safetensors."""
    stand_in = HubServer()
    extras = {"pytorch_model.bin": b"pickle", "README.md": b"# card", "modeling_tiny.py": b"# remote code"}
    model = Repo()
    model.commit({**folder_files(base), **extras}, "v1")
    model.commit(folder_files(derived), "main")
    gated = Repo(gated=True)
    gated.commit(folder_files(base), "main")
    pickles = Repo()
    pickles.commit({"config.json": (base / "config.json").read_bytes(), "pytorch_model.bin": b"x"}, "main")
    stand_in.repos.update({TINY_REPO: model, "tiny-org/gated": gated, "tiny-org/pickles": pickles})
    return stand_in
