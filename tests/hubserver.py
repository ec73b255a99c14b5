"""A loopback Hugging Face Hub for tests: the endpoints the real `huggingface_hub` 2.x client calls
for create_repo / create_commit (classic LFS, `HF_HUB_DISABLE_XET=1`) / create_tag / list_repo_tree
/ list_repo_commits / list_repo_refs / repo_info / model_info(files_metadata=True), and downloads
(hf_hub_download / snapshot_download), with state (repos, files, LFS objects, commits, tags), a
record of every byte received, and fault injection.

Downloads behave like the Hub's `resolve` endpoint (huggingface_hub's `file_download.py` reads
these headers): a regular file answers HEAD/GET with `ETag` (its git blob sha), `X-Repo-Commit` and
`Content-Length`; an LFS file answers with a 302 to a separate "CDN" origin (so the client stops
there, as for the real Hub's CDN, and drops the auth header), carrying `X-Linked-Etag` (the
sha256) and `X-Linked-Size`. `corrupt(repo, path)` makes both serve altered bytes of the same size
while every listing still reports the true hashes.

    with HubServer(token="hf_test...") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.inject("POST", r"/commit/", 500, after=True)   # apply the commit, then fail the response
        hub.add_model("org/tiny", folder, commit="ab" * 20)
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import yaml

LFS_SUFFIXES = (".safetensors", ".bin", ".png", ".gguf", ".npz", ".parquet")
REPO = r"(?P<type>model|dataset|space)s/(?P<ns>[\w.-]+)/(?P<name>[\w.-]+)"


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


@dataclass
class HubFile:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def oid(self) -> str:
        """What the Hub calls the file's oid: the git blob sha (of the pointer for LFS files)."""
        return git_blob_sha(lfs_pointer(self.sha256, len(self.data)) if self.lfs else self.data)


@dataclass
class HubCommit:
    sha: str
    title: str
    message: str
    date: float
    files: dict[str, HubFile]


@dataclass
class HubRepo:
    type: str
    id: str
    private: bool
    commits: list[HubCommit] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> dict[str, HubFile]:
        return self.commits[-1].files if self.commits else {}

    @property
    def head(self) -> str:
        return self.commits[-1].sha if self.commits else "0" * 40


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    status: int
    times: int
    after: bool


@dataclass
class Raw:
    """A non-JSON response: bytes (none for HEAD) and headers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HubServer:
    def __init__(self, token: str = "hf_loopbacktesttoken0000000000000000"):
        self.token = token
        self.repos: dict[tuple[str, str], HubRepo] = {}
        self.lfs: dict[str, bytes] = {}
        self.received: list[Received] = []
        self.faults: list[Fault] = []
        self.corrupted: set[tuple[str, str]] = set()
        self.lock = threading.RLock()
        self._httpd = _Quiet(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        # LFS downloads redirect to another origin, like the Hub's CDN.
        self._cdn = _Quiet(("127.0.0.1", 0), _handler(self))
        self.cdn_url = f"http://127.0.0.1:{self._cdn.server_address[1]}"
        self._threads = [
            threading.Thread(target=h.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for h in (self._httpd, self._cdn)
        ]

    def __enter__(self) -> HubServer:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        for h in (self._httpd, self._cdn):
            h.shutdown()
            h.server_close()

    # -- test helpers ------------------------------------------------------------------------------
    def inject(self, method: str, path_regex: str, status: int, *, times: int = 1, after: bool = False) -> None:
        """The next `times` matching requests get `status`; with `after`, the request is processed
        first (a lost response)."""
        with self.lock:
            self.faults.append(Fault(method, re.compile(path_regex), status, times, after))

    def repo(self, repo_id: str, repo_type: str = "model") -> HubRepo:
        return self.repos[(repo_type, repo_id)]

    def add_model(self, repo_id: str, folder, *, commit: str | None = None, private: bool = False) -> HubRepo:
        """A model repo holding the files of `folder` in one commit (id `commit` if given)."""
        from pathlib import Path

        files = {".gitattributes": HubFile(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n", False)}
        for f in sorted(Path(folder).rglob("*")):
            if f.is_file():
                rel = f.relative_to(folder).as_posix()
                data = f.read_bytes()
                files[rel] = HubFile(data, self._mode(rel, len(data), data[:512]) == "lfs")
        with self.lock:
            repo = HubRepo("model", repo_id, private)
            sha = (
                commit or hashlib.sha1(repo_id.encode() + b"".join(f.oid.encode() for f in files.values())).hexdigest()
            )
            repo.commits.append(HubCommit(sha, "add model", "", time.time(), files))
            for f in files.values():
                if f.lfs:
                    self.lfs[f.sha256] = f.data
            self.repos[("model", repo_id)] = repo
        return repo

    def corrupt(self, repo_id: str, path: str) -> None:
        """Serve `path` of `repo_id` with one byte changed (same size); listings keep the true hashes."""
        with self.lock:
            self.corrupted.add((repo_id, path))

    def downloads(self) -> list[str]:
        """Paths of the file bodies served so far (resolve GETs and CDN GETs), in order."""
        return [
            r.path
            for r in self.received
            if r.method == "GET" and ("/resolve/" in r.path or r.path.startswith("/lfs-files/"))
        ]

    def _served(self, repo_id: str, path: str, data: bytes) -> bytes:
        if (repo_id, path) in self.corrupted and data:
            return bytes([data[0] ^ 0xFF]) + data[1:]
        return data

    def all_bytes(self) -> bytes:
        return b"\n".join(
            r.path.encode() + b"\n" + json.dumps(r.headers).encode() + b"\n" + r.body for r in self.received
        )

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.times > 0 and f.method == method and f.pattern.search(path):
                    f.times -= 1
                    return f
        return None

    # -- endpoints -----------------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> tuple[int, object]:
        authed = headers.get("authorization") == f"Bearer {self.token}"
        routes = [
            ("POST", r"/api/repos/create", self.create_repo),
            ("POST", r"/api/validate-yaml", self.validate_yaml),
            ("GET", r"/api/whoami-v2", self.whoami),
            ("POST", rf"/api/{REPO}/preupload/(?P<rev>[^/]+)", self.preupload),
            (
                "POST",
                r"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[\w.-]+)/(?P<name>[\w.-]+)\.git/info/lfs/objects/batch",
                self.lfs_batch,
            ),
            ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", self.lfs_upload),
            ("POST", r"/lfs-verify/(?P<oid>[0-9a-f]{64})", self.lfs_verify),
            ("POST", rf"/api/{REPO}/commit/(?P<rev>[^/]+)", self.commit),
            ("POST", rf"/api/{REPO}/tag/(?P<rev>[^/]+)", self.tag),
            ("GET", rf"/api/{REPO}/refs", self.refs),
            ("GET", rf"/api/{REPO}/commits/(?P<rev>[^/]+)", self.commits),
            ("GET", rf"/api/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<sub>.*))?", self.tree),
            ("GET", rf"/api/{REPO}(?:/revision/(?P<rev>[^/]+))?", self.info),
            ("GET", r"/(?P<ns>[\w.-]+)/(?P<name>[\w.-]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self.resolve),
            ("GET", r"/lfs-files/(?P<oid>[0-9a-f]{64})", self.lfs_file),
        ]
        for m_, pattern, fn in routes:
            m = re.fullmatch(pattern, path)
            if m and (m_ == method or (m_ == "GET" and method == "HEAD")):
                if fn not in (self.lfs_upload,) and not authed and method not in ("GET", "HEAD"):
                    return 401, {"error": "Invalid credentials in Authorization header"}
                out = fn(m.groupdict(), query=query, body=body, authed=authed, method=method)
                return (out.status, out) if isinstance(out, Raw) else out
        return 404, {"error": f"no route {method} {path}"}

    def _repo(self, g: dict, authed: bool) -> HubRepo | None:
        r = self.repos.get((g["type"], f"{g['ns']}/{g['name']}"))
        if r is None or (r.private and not authed):
            return None
        return r

    def _not_found(self) -> tuple[int, object]:
        return 404, {"error": "Repository not found"}

    def _url(self, repo: HubRepo) -> str:
        prefix = "" if repo.type == "model" else f"{repo.type}s/"
        return f"{self.url}/{prefix}{repo.id}"

    def create_repo(self, g, body, **_):
        p = json.loads(body)
        rtype = p.get("type") or "model"
        repo_id = f"{p.get('organization') or 'tester'}/{p['name']}"
        with self.lock:
            if (rtype, repo_id) in self.repos:
                return 409, {"error": "You already created this repo", "url": self._url(self.repos[(rtype, repo_id)])}
            private = p.get("visibility") == "private" if "visibility" in p else bool(p.get("private"))
            repo = HubRepo(rtype, repo_id, private)
            repo.commits.append(
                HubCommit(
                    hashlib.sha1(repo_id.encode()).hexdigest(),
                    "initial commit",
                    "",
                    time.time(),
                    {".gitattributes": HubFile(b"*.safetensors filter=lfs\n", False)},
                )
            )
            self.repos[(rtype, repo_id)] = repo
        return 200, {"url": self._url(repo), "name": repo_id}

    def validate_yaml(self, g, body, **_):
        content = json.loads(body).get("content", "")
        m = re.match(r"^---\n(.*?)\n---", content, re.S)
        try:
            meta = yaml.safe_load(m.group(1)) if m else {}
        except yaml.YAMLError as e:
            return 400, {"errors": [{"message": f"invalid YAML: {e}"}], "warnings": []}
        if meta is not None and not isinstance(meta, dict):
            return 400, {"errors": [{"message": "metadata must be a mapping"}], "warnings": []}
        return 200, {"errors": [], "warnings": []}

    def whoami(self, g, authed, **_):
        if not authed:
            return 401, {"error": "Invalid credentials"}
        return 200, {"type": "user", "name": "tester", "orgs": [], "auth": {"type": "access_token"}}

    def _mode(self, path: str, size: int, sample: bytes) -> str:
        return "lfs" if path.endswith(LFS_SUFFIXES) or size > 10_000_000 or b"\0" in sample else "regular"

    def preupload(self, g, body, authed, **_):
        repo = self._repo(g, authed)
        if repo is None:
            return self._not_found()
        out = []
        for f in json.loads(body)["files"]:
            mode = self._mode(f["path"], f["size"], base64.b64decode(f["sample"]))
            cur = repo.files.get(f["path"])
            oid = None
            if cur is not None:
                oid = cur.sha256 if mode == "lfs" else git_blob_sha(cur.data)
            out.append({"path": f["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return 200, {"files": out, "commitOid": repo.head}

    def lfs_batch(self, g, body, authed, **_):
        rtype = {"datasets": "dataset", "spaces": "space"}.get(g.get("prefix") or "", "model")
        if self._repo({"type": rtype, "ns": g["ns"], "name": g["name"]}, authed) is None:
            return self._not_found()
        objects = []
        for o in json.loads(body)["objects"]:
            entry = {"oid": o["oid"], "size": o["size"]}
            if o["oid"] not in self.lfs:
                entry["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-upload/{o['oid']}"},
                    "verify": {"href": f"{self.url}/lfs-verify/{o['oid']}"},
                }
            objects.append(entry)
        return 200, {"transfer": "basic", "objects": objects}

    def lfs_upload(self, g, body, **_):
        if hashlib.sha256(body).hexdigest() != g["oid"]:
            return 400, {"error": "sha256 mismatch"}
        with self.lock:
            self.lfs[g["oid"]] = body
        return 200, {}

    def lfs_verify(self, g, body, **_):
        return (200, {}) if g["oid"] in self.lfs else (404, {"error": "object not uploaded"})

    def commit(self, g, body, authed, **_):
        repo = self._repo(g, authed)
        if repo is None:
            return self._not_found()
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = lines[0]["value"] if lines and lines[0]["key"] == "header" else {}
        with self.lock:
            if header.get("parentCommit") and header["parentCommit"] != repo.head:
                return 412, {"error": "A commit has happened since. Please refresh and try again."}
            files = dict(repo.files)
            for item in lines[1:]:
                v = item["value"]
                if item["key"] == "file":
                    files[v["path"]] = HubFile(base64.b64decode(v["content"]), False)
                elif item["key"] == "lfsFile":
                    if v["oid"] not in self.lfs:
                        return 422, {"error": f"LFS object {v['oid']} was not uploaded"}
                    files[v["path"]] = HubFile(self.lfs[v["oid"]], True)
                elif item["key"] == "deletedFile":
                    files.pop(v["path"], None)
                elif item["key"] == "deletedFolder":
                    files = {p: f for p, f in files.items() if not p.startswith(v["path"].rstrip("/") + "/")}
            seed = repo.head + json.dumps(header) + "".join(f"{p}:{f.oid}" for p, f in sorted(files.items()))
            sha = hashlib.sha1(f"{seed}{len(repo.commits)}".encode()).hexdigest()
            repo.commits.append(
                HubCommit(sha, header.get("summary", ""), header.get("description", ""), time.time(), files)
            )
        return 200, {
            "success": True,
            "commitOid": sha,
            "commitUrl": f"{self._url(repo)}/commit/{sha}",
            "pullRequestUrl": None,
        }

    def _resolve(self, repo: HubRepo, rev: str | None) -> HubCommit | None:
        rev = unquote(rev or "main")
        if rev == "main":
            return repo.commits[-1]
        sha = repo.tags.get(rev, rev)
        return next((c for c in repo.commits if c.sha == sha), None)

    def tag(self, g, body, authed, **_):
        repo = self._repo(g, authed)
        if repo is None:
            return self._not_found()
        name = json.loads(body)["tag"]
        with self.lock:
            commit = self._resolve(repo, g["rev"])
            if commit is None:
                return 404, {"error": "Revision not found"}
            if name in repo.tags:
                return 409, {"error": f"Tag {name} already exists"}
            repo.tags[name] = commit.sha
        return 200, {}

    def refs(self, g, authed, **_):
        repo = self._repo(g, authed)
        if repo is None:
            return self._not_found()
        return 200, {
            "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.head}],
            "converts": [],
            "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": s} for t, s in repo.tags.items()],
        }

    def commits(self, g, authed, **_):
        repo = self._repo(g, authed)
        if repo is None:
            return self._not_found()
        return 200, [
            {
                "id": c.sha,
                "title": c.title,
                "message": c.message,
                "authors": [{"user": "tester"}],
                "date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(c.date)),
            }
            for c in reversed(repo.commits)
        ]

    def tree(self, g, query, authed, **_):
        repo = self._repo(g, authed)
        if repo is None:
            return self._not_found()
        commit = self._resolve(repo, g["rev"])
        if commit is None:
            return 404, {"error": "Revision not found"}
        recursive = query.get("recursive", ["False"])[0].lower() == "true"
        sub = (g.get("sub") or "").strip("/")
        prefix = f"{sub}/" if sub else ""
        out, dirs = [], set()
        for path, f in sorted(commit.files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            if "/" in rest and not recursive:
                dirs.add(prefix + rest.split("/")[0])
                continue
            entry = {"type": "file", "oid": f.oid, "size": len(f.data), "path": path}
            if f.lfs:
                entry["lfs"] = {
                    "oid": f.sha256,
                    "size": len(f.data),
                    "pointerSize": len(lfs_pointer(f.sha256, len(f.data))),
                }
            out.append(entry)
        out += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)]
        return 200, out

    def info(self, g, query, authed, **_):
        repo = self._repo(g, authed)
        if repo is None:
            return self._not_found()
        commit = self._resolve(repo, g.get("rev"))
        if commit is None:
            return 404, {"error": "Revision not found"}
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for p, f in sorted(commit.files.items()):
            sib: dict = {"rfilename": p}
            if blobs:  # model_info(files_metadata=True): sizes, blob ids and LFS sha256s
                sib.update(size=len(f.data), blobId=f.oid)
                if f.lfs:
                    sib["lfs"] = {
                        "sha256": f.sha256,
                        "size": len(f.data),
                        "pointerSize": len(lfs_pointer(f.sha256, len(f.data))),
                    }
            siblings.append(sib)
        return 200, {
            "id": repo.id,
            "_id": repo.id,
            "sha": commit.sha,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit.date)),
            "siblings": siblings,
            "cardData": _card_data(commit.files.get("README.md")),
        }

    def resolve(self, g, authed, method, **_):
        repo = self._repo({"type": "model", "ns": g["ns"], "name": g["name"]}, authed)
        if repo is None:
            return self._not_found()
        commit = self._resolve(repo, g["rev"])
        if commit is None:
            return Raw(404, headers={"X-Error-Code": "RevisionNotFound"})
        path = unquote(g["file"])
        f = commit.files.get(path)
        if f is None:
            return Raw(404, headers={"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit.sha})
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{f.oid}"'}
        if f.lfs:
            headers.update(
                {
                    "Location": f"{self.cdn_url}/lfs-files/{f.sha256}?repo={repo.id}&path={path}",
                    "X-Linked-Etag": f'"{f.sha256}"',
                    "X-Linked-Size": str(len(f.data)),
                    "Content-Length": "0",
                }
            )
            return Raw(302, headers=headers)
        data = self._served(repo.id, path, f.data)
        headers["Content-Length"] = str(len(data))
        return Raw(200, b"" if method == "HEAD" else data, headers)

    def lfs_file(self, g, query, method, **_):
        data = self.lfs.get(g["oid"])
        if data is None:
            return Raw(404)
        data = self._served(query.get("repo", [""])[0], query.get("path", [""])[0], data)
        return Raw(200, b"" if method == "HEAD" else data, {"Content-Length": str(len(data)), "ETag": f'"{g["oid"]}"'})


def _card_data(readme: HubFile | None) -> dict:
    """The README's YAML metadata, which the Hub returns as `cardData`."""
    m = re.match(rb"^---\n(.*?)\n---", readme.data, re.S) if readme else None
    try:
        meta = yaml.safe_load(m.group(1)) if m else None
    except yaml.YAMLError:
        meta = None
    return meta if isinstance(meta, dict) else {}


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def _handler(hub: HubServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _serve(self) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            with hub.lock:
                hub.received.append(Received(self.command, self.path, headers, body))
            fault = hub._take_fault(self.command, url.path)
            if fault is not None and not fault.after:
                return self._send(fault.status, {"error": f"injected {fault.status}"})
            status, payload = hub.route(self.command, url.path, parse_qs(url.query), headers, body)
            if fault is not None:
                status, payload = fault.status, {"error": f"injected {fault.status} after processing"}
            self._send(status, payload)

        def _send(self, status: int, payload: object) -> None:
            if isinstance(payload, Raw):
                self.send_response(payload.status)
                for k, v in payload.headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in payload.headers:
                    self.send_header("Content-Length", str(len(payload.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload.body)
                return
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if isinstance(payload, dict) and payload.get("error") == "Repository not found":
                self.send_header("X-Error-Code", "RepoNotFound")
            if isinstance(payload, dict) and payload.get("error") == "Revision not found":
                self.send_header("X-Error-Code", "RevisionNotFound")
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve

    return Handler
