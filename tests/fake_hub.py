"""A tiny in-memory fake of the Hugging Face Hub HTTP API, for offline ``push_to_hub`` tests.

``FakeHub`` serves the handful of endpoints ``huggingface_hub`` calls while pushing a transformers
model or tokenizer (create repo, model-card lookup, README metadata validation, preupload, commit)
on 127.0.0.1 with an ephemeral port, and keeps every committed file in memory::

    with FakeHub() as hub:
        run_push_in_subprocess(script, hub.url)
        hub.repos["user/tiny-llama"]["config.json"]  # -> bytes

``huggingface_hub`` reads ``HF_ENDPOINT`` once, when ``huggingface_hub.constants`` is imported, so
the push has to happen in a fresh interpreter whose environment points at the fake hub; use
``run_push_in_subprocess`` (it also drops the ``HF_HUB_OFFLINE`` that tests/conftest.py sets).

The preupload endpoint answers ``uploadMode: "regular"`` for every file, so all content arrives
inline (base64) in the NDJSON commit body; no LFS/Xet transfer is ever attempted. Uploaded files
can be read back through ``GET``/``HEAD /{repo}/resolve/{revision}/{path}``, which is enough for
``hf_hub_download`` / ``from_pretrained`` against the fake hub. Anything else gets a 404 and is
recorded in ``FakeHub.unknown_requests``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

__all__ = ["FakeHub", "FAKE_TOKEN", "hub_subprocess_env", "run_push_in_subprocess"]

FAKE_TOKEN = "hf_fake_token_for_tests"

# Patterns match the raw (still URL-quoted) path; a repo id is "name" or "namespace/name".
_REPO = r"([^/]+/[^/]+|[^/]+)"
_API_REPO_OP = re.compile(rf"^/api/(models|datasets|spaces)/{_REPO}/(preupload|commit)/([^/]+)$")
_API_REPO_INFO = re.compile(rf"^/api/(models|datasets|spaces)/{_REPO}(?:/revision/([^/]+))?$")
_API_TREE = re.compile(rf"^/api/(models|datasets|spaces)/{_REPO}/tree/([^/]+)(?:/(.*))?$")
_RESOLVE = re.compile(rf"^/(?:(datasets|spaces)/)?{_REPO}/resolve/([^/]+)/(.+)$")


def _repo_key(repo_type: str, repo_id: str) -> str:
    """Key of ``FakeHub.repos``: the bare repo id for models, ``"datasets/<id>"`` / ``"spaces/<id>"`` otherwise."""
    return repo_id if repo_type in ("model", "models") else f"{repo_type.rstrip('s')}s/{repo_id}"


def _git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries a Content-Length
    server: "_Server"

    # -- plumbing -------------------------------------------------------------------------
    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr access log
        pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, head: bool = False):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict[str, str] | None = None, head: bool = False):
        self._send(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})}, head)

    def _error(self, status: int, message: str, code: str | None = None, head: bool = False):
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, headers, head)

    def _authorized(self) -> bool:
        hub = self.server.hub
        if hub.token is None:
            return True
        if self.headers.get("Authorization") == f"Bearer {hub.token}":
            return True
        self._error(401, "Invalid credentials in Authorization header")
        return False

    def _dispatch(self, method: str):
        hub = self.server.hub
        path = urlsplit(self.path).path
        body = self._read_body() if method in ("POST", "PUT") else b""
        with hub._lock:
            hub.requests.append((method, path))
        try:
            handled = self._route(method, path, body)
        except Exception as exc:  # a bug in the fake must surface as a 500, not a hung client
            self._error(500, f"fake hub error: {type(exc).__name__}: {exc}")
            with hub._lock:
                hub.errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
            return
        if not handled:
            with hub._lock:
                hub.unknown_requests.append((method, path))
            self._error(404, f"fake hub: no handler for {method} {path}", head=method == "HEAD")

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # -- routes ---------------------------------------------------------------------------
    def _route(self, method: str, path: str, body: bytes) -> bool:
        hub = self.server.hub
        if method == "POST" and path == "/api/repos/create":
            if self._authorized():
                self._create_repo(json.loads(body or b"{}"))
            return True
        if method == "POST" and path == "/api/validate-yaml":
            self._json(200, {"errors": [], "warnings": []})
            return True
        if method == "GET" and path == "/api/whoami-v2":
            if self._authorized():
                self._json(200, {"type": "user", "name": "user", "auth": {"accessToken": {"role": "write"}}})
            return True
        match = _API_REPO_OP.match(path)
        if method == "POST" and match:
            repo_type, repo_id, op, revision = (unquote(g) for g in match.groups())
            key = _repo_key(repo_type, repo_id)
            if not self._authorized():
                return True
            if key not in hub.repos:
                self._error(404, f"Repository not found: {key}", "RepoNotFound")
                return True
            if op == "preupload":
                self._preupload(json.loads(body or b"{}"))
            else:
                self._commit(key, revision, body)
            return True
        match = _API_TREE.match(path)
        if method == "GET" and match:
            repo_type, repo_id, _revision, folder = (unquote(g) if g else g for g in match.groups())
            self._tree(_repo_key(repo_type, repo_id), (folder or "").strip("/"), urlsplit(self.path).query)
            return True
        match = _API_REPO_INFO.match(path)
        if method == "GET" and match:
            repo_type, repo_id, _revision = (unquote(g) if g else g for g in match.groups())
            self._repo_info(_repo_key(repo_type, repo_id), repo_id)
            return True
        match = _RESOLVE.match(path)
        if method in ("GET", "HEAD") and match:
            repo_type, repo_id, _revision, filename = (unquote(g) if g else g for g in match.groups())
            self._resolve(_repo_key(repo_type or "model", repo_id), filename, head=method == "HEAD")
            return True
        return False

    def _snapshot(self, key: str) -> tuple[dict[str, bytes] | None, str]:
        """(copy of the repo's files or None if it does not exist, head commit oid)."""
        hub = self.server.hub
        with hub._lock:
            files = hub.repos.get(key)
            commits = hub.commits.get(key) or []
            return (None if files is None else dict(files)), (commits[-1]["oid"] if commits else "0" * 40)

    def _repo_info(self, key: str, repo_id: str):
        files, oid = self._snapshot(key)
        if files is None:
            self._error(404, f"Repository not found: {key}", "RepoNotFound")
            return
        self._json(200, {
            "id": repo_id, "modelId": repo_id, "sha": oid, "private": False, "disabled": False, "gated": False,
            "tags": [], "downloads": 0, "likes": 0, "siblings": [{"rfilename": name} for name in sorted(files)],
        })

    def _tree(self, key: str, folder: str, query: str):
        files, _oid = self._snapshot(key)
        if files is None:
            self._error(404, f"Repository not found: {key}", "RepoNotFound")
            return
        recursive = "recursive=true" in query.lower() or "recursive=1" in query
        prefix = folder + "/" if folder else ""
        entries: dict[str, dict] = {}
        for name in sorted(files):
            if not name.startswith(prefix):
                continue
            parts = name[len(prefix):].split("/")
            for depth in range(1, len(parts)):  # intermediate folders
                sub = prefix + "/".join(parts[:depth])
                entries.setdefault(sub, {"type": "directory", "path": sub, "oid": "0" * 40, "size": 0})
                if not recursive:
                    break
            if recursive or len(parts) == 1:
                content = files[name]
                entries[name] = {"type": "file", "path": name, "oid": _git_blob_sha1(content), "size": len(content)}
        if folder and not entries:
            self._error(404, f"Entry not found: {folder}", "EntryNotFound")
            return
        self._json(200, [entries[p] for p in sorted(entries)])

    def _create_repo(self, payload: dict):
        hub = self.server.hub
        name, org = payload.get("name"), payload.get("organization")
        repo_id = f"{org}/{name}" if org else name
        repo_type = payload.get("type") or "model"
        key = _repo_key(repo_type, repo_id)
        url = f"{hub.url}/{key}"
        with hub._lock:
            if key in hub.repos:
                self._json(409, {"error": "You already created this repo", "url": url})
                return
            hub.repos[key] = {}
            hub.commits[key] = []
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _preupload(self, payload: dict):
        files = [
            {"path": item["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
            for item in payload.get("files", [])
        ]
        self._json(200, {"files": files, "commitOid": None})

    def _commit(self, key: str, revision: str, body: bytes):
        hub = self.server.hub
        header: dict = {}
        added: dict[str, bytes] = {}
        deleted: list[tuple[str, str]] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            kind, value = item.get("key"), item.get("value", {})
            if kind == "header":
                header = value
            elif kind == "file":
                if value.get("encoding", "base64") != "base64":
                    self._error(400, f"unsupported encoding {value.get('encoding')!r}")
                    return
                added[value["path"]] = base64.b64decode(value["content"])
            elif kind in ("deletedFile", "deletedFolder"):
                deleted.append((kind, value["path"]))
            else:  # lfsFile and friends: never produced, since preupload answers "regular"
                self._error(400, f"fake hub does not support commit operation {kind!r}")
                return
        with hub._lock:
            files = hub.repos[key]
            for kind, target in deleted:
                prefix = target.rstrip("/") + "/"
                for existing in list(files):
                    if existing == target or (kind == "deletedFolder" and existing.startswith(prefix)):
                        del files[existing]
            files.update(added)
            digest = hashlib.sha1()
            digest.update(json.dumps([key, len(hub.commits[key]), header], sort_keys=True).encode())
            for name in sorted(added):
                digest.update(name.encode() + b"\0" + added[name])
            oid = digest.hexdigest()
            hub.commits[key].append(
                {"oid": oid, "revision": revision, "summary": header.get("summary", ""),
                 "description": header.get("description", ""), "files": sorted(added),
                 "deleted": [p for _, p in deleted]}
            )
        self._json(
            200,
            {"success": True, "commitOid": oid, "commitUrl": f"{hub.url}/{key}/commit/{oid}", "pullRequestUrl": None},
        )

    def _resolve(self, key: str, filename: str, head: bool):
        files, oid = self._snapshot(key)
        content = None if files is None else files.get(filename)
        if files is None:
            self._error(404, f"Repository not found: {key}", "RepoNotFound", head=head)
            return
        if content is None:
            self._error(404, f"Entry not found: {filename}", "EntryNotFound", head=head)
            return
        etag = f'"{_git_blob_sha1(content)}"'
        self._send(200, content, {"ETag": etag, "X-Repo-Commit": oid, "Content-Type": "application/octet-stream"}, head)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: "FakeHub"


class FakeHub:
    """In-memory fake Hub served on ``127.0.0.1:<ephemeral port>`` from a background thread.

    Attributes:
        url: base URL to put in ``HF_ENDPOINT`` (set once started).
        token: bearer token required on write endpoints (``None`` accepts anything).
        repos: repo key -> {path_in_repo: bytes}; the key is the repo id for models
            (``"user/tiny-llama"``) and ``"datasets/<id>"`` / ``"spaces/<id>"`` for other repo types.
        commits: repo key -> list of commit records (oid, summary, files, ...), oldest first.
        requests: every ``(method, raw URL path)`` received, in order (query string dropped).
        unknown_requests: the ``(method, path)`` pairs that had no handler (answered 404).
        errors: exceptions raised inside handlers (answered 500); should stay empty.
    """

    def __init__(self, token: str | None = FAKE_TOKEN):
        self.token = token
        self.repos: dict[str, dict[str, bytes]] = {}
        self.commits: dict[str, list[dict]] = {}
        self.requests: list[tuple[str, str]] = []
        self.unknown_requests: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.url: str | None = None
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "FakeHub":
        if self._server is not None:
            raise RuntimeError("FakeHub already started")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.hub = self
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a subprocess that should talk to this hub (see ``hub_subprocess_env``)."""
        if self.url is None:
            raise RuntimeError("FakeHub not started")
        return hub_subprocess_env(self.url, token=self.token or FAKE_TOKEN, **extra)


def hub_subprocess_env(hub_url: str, token: str = FAKE_TOKEN, **extra: str) -> dict[str, str]:
    """A copy of ``os.environ`` pointed at ``hub_url``, online, with telemetry/progress bars off and no proxy."""
    env = dict(os.environ)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_ENABLE_HF_TRANSFER", "HF_TOKEN_PATH"):
        env.pop(name, None)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(name, None)
    env.update(
        HF_ENDPOINT=hub_url,
        HF_TOKEN=token,
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


def run_push_in_subprocess(
    script: str,
    hub_url: str,
    timeout: float = 120,
    token: str = FAKE_TOKEN,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    args: Sequence[str] = (),
) -> subprocess.CompletedProcess:
    """Run ``python -c script *args`` against the fake hub at ``hub_url``; return the completed process.

    Inside the script ``sys.argv[1:] == list(args)``.

    ``HF_ENDPOINT``/``HF_TOKEN`` are set before the child imports huggingface_hub; ``HF_HOME`` is a fresh
    temporary directory (so no real token or cache is touched) unless ``env`` provides one. Raises
    ``RuntimeError`` with the child's stdout/stderr if it exits non-zero or times out.
    """
    with tempfile.TemporaryDirectory(prefix="fake_hub_home_") as hf_home:
        child_env = hub_subprocess_env(hub_url, token=token, HF_HOME=hf_home)
        child_env.update(env or {})
        try:
            proc = subprocess.run(
                [sys.executable, "-c", script, *map(str, args)], env=child_env, cwd=cwd, capture_output=True, text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(
                f"push subprocess timed out after {timeout}s\n--- stdout ---\n{exc.stdout}\n--- stderr ---\n{exc.stderr}"
            ) from exc
    if proc.returncode != 0:
        raise RuntimeError(
            f"push subprocess failed with exit code {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc
