"""A stateful loopback GitHub REST server for tests: real HTTP on 127.0.0.1, in a thread.

It implements the endpoints secai uses, shaped like GitHub's REST API (v2022-11-28): the
authenticated user, repositories, workflow runs (filters, pagination with `Link` headers),
run artifacts, artifact zips (a 302 to a download URL on the same server under the name `localhost`, like GitHub's redirect
to blob storage), issue comments (list/create/update), pull requests, a pull request's files
(with `patch`), reviews (created with comments; a comment outside the diff's RIGHT-side hunks
refuses the whole review with 422, as GitHub does), review comments (list/delete), commits, code scanning alerts (open, dismissed and fixed, paged;
404 `no analysis found` or 403 when code scanning is off), and an organization's runner groups and
just-in-time runner registrations. Every `url` field points
back at this server.

Fault injection: `server.inject(method, path_regex, *faults)` queues responses served instead of
the real one for the next matching requests: an HTTP status (with headers, e.g. Retry-After) or
`RESET` (the connection is dropped with a TCP reset after the request is read).
Every request is recorded in `server.requests` (method, path, headers, body).
"""

from __future__ import annotations

import io
import json
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

RESET = "reset"


@dataclass
class Fault:
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=lambda: {"message": "Server Error"})
    #: Perform the request, then answer with this fault anyway (a lost response).
    after: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The GitHub App behind the Actions GITHUB_TOKEN, as comments made with it name it.
ACTIONS_APP = {"id": 15368, "slug": "github-actions", "node_id": "MDM6QXBwMTUzNjg=", "name": "GitHub Actions"}


class GitHubState:
    def __init__(self, token: str, login: str = "secai-bot"):
        self.token = token
        #: An installation token (`ghs_`: the Actions GITHUB_TOKEN, a GitHub App's token) acts as
        #: the app's bot and may not read `GET /user` (403), as on GitHub.
        self.installation = token.startswith("ghs_")
        self.login = "github-actions[bot]" if self.installation else login
        self.base = ""
        self.blob_base = ""
        self.lock = threading.RLock()
        self.repos: dict[str, dict] = {}
        self.workflows: dict[str, list[dict]] = {}
        self.runs: dict[str, list[dict]] = {}
        self.artifacts: dict[int, list[dict]] = {}
        self.blobs: dict[int, bytes] = {}
        self.comments: dict[tuple[str, int], list[dict]] = {}
        self.pulls: dict[tuple[str, int], dict] = {}
        #: Pull request files (`patch` per file), reviews and review comments, by (repo, number).
        self.pull_files: dict[tuple[str, int], list[dict]] = {}
        self.reviews: dict[tuple[str, int], list[dict]] = {}
        self.review_comments: dict[tuple[str, int], list[dict]] = {}
        #: Reviews refused with 422 because a comment's line is outside the diff.
        self.rejected_reviews: list[dict] = []
        #: Organizations' self-hosted runner groups and the just-in-time runners registered in them.
        self.runner_groups: dict[str, list[dict]] = {}
        self.jit_runners: list[dict] = []
        #: Code scanning alerts by repository, or (status, message) when code scanning is off there.
        self.code_scanning: dict[str, list[dict] | tuple[int, str]] = {}
        self.faults: list[tuple[str, re.Pattern, list]] = []
        self.requests: list[Recorded] = []
        self._next_id = 1000
        self._clock = datetime(2025, 1, 1, tzinfo=UTC)

    def _id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def _tick(self) -> datetime:
        self._clock += timedelta(minutes=1)
        return self._clock

    # -- objects -----------------------------------------------------------------------------------
    def _user(self, login: str) -> dict:
        return {
            "login": login,
            "id": abs(hash(login)) % 10**8,
            "type": "Bot" if login.endswith(("bot", "[bot]")) else "User",
            "url": f"{self.base}/users/{login}",
            "html_url": f"https://github.example/{login}",
        }

    def add_repo(self, full_name: str, default_branch: str = "main") -> dict:
        owner, name = full_name.split("/")
        repo = {
            "id": self._id(),
            "node_id": "R_" + name,
            "name": name,
            "full_name": full_name,
            "owner": self._user(owner),
            "private": False,
            "fork": False,
            "default_branch": default_branch,
            "url": f"{self.base}/repos/{full_name}",
            "html_url": f"https://github.example/{full_name}",
        }
        self.repos[full_name] = repo
        self.runs.setdefault(full_name, [])
        self.workflows.setdefault(full_name, [])
        return repo

    def add_workflow(self, repo: str, path: str, name: str) -> dict:
        wf = {
            "id": self._id(),
            "node_id": "W",
            "name": name,
            "path": path,
            "state": "active",
            "url": f"{self.base}/repos/{repo}/actions/workflows/{0}",
            "html_url": "https://github.example/wf",
        }
        wf["url"] = f"{self.base}/repos/{repo}/actions/workflows/{wf['id']}"
        self.workflows[repo].append(wf)
        return wf

    def add_pull(
        self, repo: str, number: int, head_ref: str, head_sha: str, base_ref: str = "main", head_repo: str | None = None
    ) -> dict:
        head_full = head_repo or repo
        pr = {
            "id": self._id(),
            "number": number,
            "state": "open",
            "title": f"PR {number}",
            "url": f"{self.base}/repos/{repo}/pulls/{number}",
            "html_url": f"https://github.example/{repo}/pull/{number}",
            "issue_url": f"{self.base}/repos/{repo}/issues/{number}",
            "comments_url": f"{self.base}/repos/{repo}/issues/{number}/comments",
            "head": {
                "ref": head_ref,
                "sha": head_sha,
                "label": f"{head_full.split('/')[0]}:{head_ref}",
                "repo": self.repos.get(head_full)
                or {"full_name": head_full, "name": head_full.split("/")[1], "url": f"{self.base}/repos/{head_full}"},
            },
            "base": {
                "ref": base_ref,
                "sha": "b" * 40,
                "label": f"{repo.split('/')[0]}:{base_ref}",
                "repo": self.repos[repo],
            },
            "user": self._user("contributor"),
        }
        self.pulls[(repo, number)] = pr
        return pr

    def add_run(
        self,
        repo: str,
        *,
        branch: str = "main",
        sha: str | None = None,
        event: str = "push",
        status: str = "completed",
        conclusion: str = "success",
        workflow: dict | None = None,
        pr: int | None = None,
        head_repo: str | None = None,
        deleted_fork: bool = False,
    ) -> dict:
        """A workflow run; `deleted_fork`: its head repository is gone (GitHub sends null)."""
        run_id = self._id()
        wf = workflow or (
            self.workflows[repo][0]
            if self.workflows[repo]
            else self.add_workflow(repo, ".github/workflows/security.yml", "security")
        )
        created = self._tick()
        pulls = []
        if pr is not None:
            p = self.pulls[(repo, pr)]
            pulls = [
                {
                    "id": p["id"],
                    "number": pr,
                    "url": p["url"],
                    "head": {
                        "ref": p["head"]["ref"],
                        "sha": p["head"]["sha"],
                        "repo": {"id": 1, "url": p["head"]["repo"]["url"], "name": p["head"]["repo"]["name"]},
                    },
                    "base": {
                        "ref": p["base"]["ref"],
                        "sha": p["base"]["sha"],
                        "repo": {"id": 2, "url": self.repos[repo]["url"], "name": self.repos[repo]["name"]},
                    },
                }
            ]
        head_full = head_repo or repo
        run = {
            "id": run_id,
            "node_id": f"WFR_{run_id}",
            "name": wf["name"],
            "path": wf["path"],
            "head_branch": branch,
            "head_sha": sha or f"{run_id:040x}",
            "run_number": len(self.runs[repo]) + 1,
            "run_attempt": 1,
            "event": event,
            "status": status,
            "conclusion": conclusion,
            "workflow_id": wf["id"],
            "url": f"{self.base}/repos/{repo}/actions/runs/{run_id}",
            "html_url": f"https://github.example/{repo}/actions/runs/{run_id}",
            "artifacts_url": f"{self.base}/repos/{repo}/actions/runs/{run_id}/artifacts",
            "workflow_url": wf["url"],
            "pull_requests": pulls,
            "created_at": _ts(created),
            "updated_at": _ts(created),
            "run_started_at": _ts(created),
            "repository": self.repos[repo],
            "head_repository": None
            if deleted_fork
            else self.repos.get(head_full)
            or {
                "id": self._id(),
                "name": head_full.split("/")[1],
                "full_name": head_full,
                "owner": self._user(head_full.split("/")[0]),
                "url": f"{self.base}/repos/{head_full}",
                "fork": True,
            },
        }
        self.runs[repo].insert(0, run)  # newest first, as GitHub lists them
        self.artifacts[run_id] = []
        return run

    def add_artifact(self, repo: str, run: dict, name: str, data: bytes, *, expired: bool = False) -> dict:
        aid = self._id()
        art = {
            "id": aid,
            "node_id": f"A_{aid}",
            "name": name,
            "size_in_bytes": len(data),
            "url": f"{self.base}/repos/{repo}/actions/artifacts/{aid}",
            "archive_download_url": f"{self.base}/repos/{repo}/actions/artifacts/{aid}/zip",
            "expired": expired,
            "created_at": run["created_at"],
            "updated_at": run["updated_at"],
            "expires_at": run["created_at"],
            "workflow_run": {
                "id": run["id"],
                "repository_id": self.repos[repo]["id"],
                "head_branch": run["head_branch"],
                "head_sha": run["head_sha"],
            },
        }
        self.artifacts[run["id"]].append(art)
        self.blobs[aid] = data
        return art

    def add_comment(self, repo: str, issue: int, body: str, login: str, app: dict | None = None) -> dict:
        """A comment by `login`; `app`: the GitHub App it was made through (`performed_via_github_app`)."""
        cid = self._id()
        now = _ts(self._tick())
        c = {
            "id": cid,
            "node_id": f"IC_{cid}",
            "body": body,
            "user": self._user(login),
            "url": f"{self.base}/repos/{repo}/issues/comments/{cid}",
            "html_url": f"https://github.example/{repo}/pull/{issue}#issuecomment-{cid}",
            "issue_url": f"{self.base}/repos/{repo}/issues/{issue}",
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE",
            "performed_via_github_app": app,
        }
        self.comments.setdefault((repo, issue), []).append(c)
        return c

    def add_pull_file(self, repo: str, number: int, filename: str, patch: str | None, status: str = "modified") -> dict:
        """A changed file of a pull request, as `GET /pulls/{n}/files` lists it (no `patch` for a
        binary or very large file)."""
        adds = sum(1 for ln in (patch or "").splitlines() if ln.startswith("+"))
        dels = sum(1 for ln in (patch or "").splitlines() if ln.startswith("-"))
        head = self.pulls[(repo, number)]["head"]["sha"]
        f = {
            "sha": f"{self._id():040x}",
            "filename": filename,
            "status": status,
            "additions": adds,
            "deletions": dels,
            "changes": adds + dels,
            "blob_url": f"https://github.example/{repo}/blob/{head}/{filename}",
            "raw_url": f"https://github.example/{repo}/raw/{head}/{filename}",
            "contents_url": f"{self.base}/repos/{repo}/contents/{filename}?ref={head}",
        }
        if patch is not None:
            f["patch"] = patch
        self.pull_files.setdefault((repo, number), []).append(f)
        return f

    def add_review_comment(self, repo: str, number: int, path: str, line: int, body: str, login: str) -> dict:
        """A review comment by someone (e.g. a reviewer quoting secai's marker)."""
        review = self._review(repo, number, "", login, self.pulls[(repo, number)]["head"]["sha"])
        return self._review_comment(repo, number, review, {"path": path, "line": line, "body": body}, login)

    def _review(self, repo: str, number: int, body: str, login: str, commit: str) -> dict:
        rid = self._id()
        r = {
            "id": rid,
            "node_id": f"PRR_{rid}",
            "user": self._user(login),
            "body": body,
            "state": "COMMENTED",
            "commit_id": commit,
            "html_url": f"https://github.example/{repo}/pull/{number}#pullrequestreview-{rid}",
            "pull_request_url": f"{self.base}/repos/{repo}/pulls/{number}",
            "author_association": "NONE",
            "submitted_at": _ts(self._tick()),
            "_links": {"html": {"href": "https://github.example/r"}, "pull_request": {"href": "x"}},
        }
        self.reviews.setdefault((repo, number), []).append(r)
        return r

    def _review_comment(self, repo: str, number: int, review: dict, c: dict, login: str) -> dict:
        cid = self._id()
        now = _ts(self._tick())
        rc = {
            "id": cid,
            "node_id": f"PRRC_{cid}",
            "url": f"{self.base}/repos/{repo}/pulls/comments/{cid}",
            "pull_request_review_id": review["id"],
            "diff_hunk": "@@",
            "path": c["path"],
            "commit_id": review["commit_id"],
            "original_commit_id": review["commit_id"],
            "user": self._user(login),
            "body": c["body"],
            "created_at": now,
            "updated_at": now,
            "html_url": f"https://github.example/{repo}/pull/{number}#discussion_r{cid}",
            "pull_request_url": f"{self.base}/repos/{repo}/pulls/{number}",
            "author_association": "NONE",
            "_links": {"self": {"href": "x"}, "html": {"href": "x"}, "pull_request": {"href": "x"}},
            "line": c.get("line"),
            "original_line": c.get("line"),
            "start_line": c.get("start_line"),
            "original_start_line": c.get("start_line"),
            "side": c.get("side", "RIGHT"),
            "start_side": c.get("start_side") if c.get("start_line") else None,
            "subject_type": "line",
        }
        self.review_comments.setdefault((repo, number), []).append(rc)
        return rc

    def add_alert(
        self,
        repo: str,
        rule_id: str,
        tool: str,
        path: str,
        line: int,
        *,
        state: str = "open",
        dismissed_reason: str | None = None,
        dismissed_comment: str | None = None,
        when: str | None = None,
    ) -> dict:
        """A code scanning alert shaped like GitHub's (`code-scanning-alert-items`)."""
        alerts = self.code_scanning.setdefault(repo, [])
        assert isinstance(alerts, list), "code scanning is disabled for this repository"
        number = len(alerts) + 1
        at = when or _ts(self._tick())
        alert = {
            "number": number,
            "created_at": at,
            "updated_at": at,
            "url": f"{self.base}/repos/{repo}/code-scanning/alerts/{number}",
            "html_url": f"https://github.example/{repo}/security/code-scanning/{number}",
            "instances_url": f"{self.base}/repos/{repo}/code-scanning/alerts/{number}/instances",
            "state": state,
            "fixed_at": at if state == "fixed" else None,
            "dismissed_by": self._user("maya") if state == "dismissed" else None,
            "dismissed_at": at if state == "dismissed" else None,
            "dismissed_reason": dismissed_reason,
            "dismissed_comment": dismissed_comment,
            "rule": {"id": rule_id, "severity": "warning", "description": rule_id, "name": rule_id, "tags": []},
            "tool": {"name": tool, "guid": None, "version": "1.0"},
            "most_recent_instance": {
                "ref": "refs/heads/main",
                "analysis_key": ".github/workflows/secai.yml:scan",
                "environment": "{}",
                "category": "secai",
                "state": state,
                "commit_sha": "0" * 40,
                "message": {"text": rule_id},
                "location": {"path": path, "start_line": line, "end_line": line, "start_column": 1, "end_column": 2},
                "classifications": [],
            },
            "dismissal_approved_by": None,
            "assignees": [],
        }
        alerts.append(alert)
        return alert

    def disable_code_scanning(self, repo: str, status: int = 403, message: str | None = None) -> None:
        """GitHub's answers: 404 `no analysis found`, 403 when code scanning (or the token's
        `security_events` scope) is missing."""
        default = "no analysis found" if status == 404 else "Code scanning is not enabled for this repository."
        self.code_scanning[repo] = (status, message or default)

    def add_runner_group(self, org: str, name: str) -> dict:
        gid = self._id()
        g = {
            "id": gid,
            "name": name,
            "visibility": "selected",
            "default": False,
            "runners_url": f"{self.base}/orgs/{org}/actions/runner-groups/{gid}/runners",
            "inherited": False,
            "allows_public_repositories": False,
            "restricted_to_workflows": True,
        }
        self.runner_groups.setdefault(org, []).append(g)
        return g

    def right_side_ranges(self, repo: str, number: int, path: str) -> list[tuple[int, int]]:
        """The new-file line ranges of the hunks of `path` in the pull request's diff."""
        out = []
        for f in self.pull_files.get((repo, number), []):
            if f["filename"] != path or "patch" not in f:
                continue
            for m in re.finditer(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", f["patch"], re.M):
                start, count = int(m.group(1)), int(m.group(2) or 1)
                if count:
                    out.append((start, start + count - 1))
        return out

    # -- faults ------------------------------------------------------------------------------------
    def inject(self, method: str, path_regex: str, *faults: Fault | str) -> None:
        with self.lock:
            self.faults.append((method.upper(), re.compile(path_regex), list(faults)))

    def take_fault(self, method: str, path: str):
        with self.lock:
            for m, rx, queue in self.faults:
                if m == method and rx.search(path) and queue:
                    return queue.pop(0)
        return None

    def count(self, method: str, path_regex: str) -> int:
        rx = re.compile(path_regex)
        return sum(1 for r in self.requests if r.method == method and rx.search(urlparse(r.path).path))


_ROUTES: list[tuple[str, re.Pattern, str]] = [
    (m, re.compile("^" + p + "$"), h)
    for m, p, h in [
        ("GET", r"/user", "get_user"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)", "get_repo"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/actions/runs", "list_runs"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/actions/workflows/(?P<wf>[^/]+)", "get_workflow"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/actions/workflows/(?P<wf>[^/]+)/runs", "list_runs"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/actions/runs/(?P<run>\d+)", "get_run"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/actions/runs/(?P<run>\d+)/artifacts", "list_artifacts"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/actions/artifacts/(?P<aid>\d+)/zip", "artifact_zip"),
        ("GET", r"/_blobs/(?P<aid>\d+)", "blob"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<num>\d+)/comments", "list_comments"),
        ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<num>\d+)/comments", "create_comment"),
        ("PATCH", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<cid>\d+)", "update_comment"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<num>\d+)", "get_pull"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<num>\d+)/files", "list_pull_files"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<num>\d+)/comments", "list_review_comments"),
        ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<num>\d+)/reviews", "create_review"),
        ("DELETE", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/comments/(?P<cid>\d+)", "delete_review_comment"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/commits/(?P<sha>[0-9a-fA-F]{7,40})", "get_commit"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/code-scanning/alerts", "list_code_scanning_alerts"),
        ("GET", r"/orgs/(?P<org>[^/]+)/actions/runner-groups", "list_runner_groups"),
        ("POST", r"/orgs/(?P<org>[^/]+)/actions/runners/generate-jitconfig", "generate_jitconfig"),
    ]
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    @property
    def state(self) -> GitHubState:
        return self.server.state

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        st = self.state
        with st.lock:
            st.requests.append(Recorded(method, self.path, dict(self.headers.items()), body))
        fault = st.take_fault(method, url.path)
        if fault == RESET:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if isinstance(fault, Fault) and not fault.after:
            return self._json(fault.status, fault.body, fault.headers)
        for m, rx, name in _ROUTES:
            match = rx.match(url.path)
            if m == method and match:
                if name != "blob" and not self._authorized():
                    return self._json(401, {"message": "Bad credentials"})
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                data = json.loads(body) if body else {}
                with st.lock:
                    if isinstance(fault, Fault):
                        real, self.wfile = self.wfile, io.BytesIO()
                        try:
                            getattr(self, "h_" + name)(params=params, data=data, **match.groupdict())
                        finally:
                            self.wfile = real
                        self._headers_buffer = []
                        return self._json(fault.status, fault.body, fault.headers)
                    return getattr(self, "h_" + name)(params=params, data=data, **match.groupdict())
        return self._json(404, {"message": "Not Found"})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth in (f"token {self.state.token}", f"Bearer {self.state.token}")

    def _send(self, status: int, payload: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8", headers)

    def _paged(self, items: list, params: dict, wrap: str | None = None) -> None:
        per_page = max(1, min(100, int(params.get("per_page", 30))))
        page = max(1, int(params.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        base = f"{self.state.base}{urlparse(self.path).path}"

        def link(p: int, rel: str) -> str:
            q = dict(params, page=str(p), per_page=str(per_page))
            return f'<{base}?{urlencode(q)}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        headers = {"Link": ", ".join(links)} if links else {}
        self._json(200, {"total_count": len(items), wrap: chunk} if wrap else chunk, headers)

    # -- handlers ----------------------------------------------------------------------------------
    def h_get_user(self, **_) -> None:
        if self.state.installation:
            return self._json(403, {"message": "Resource not accessible by integration", "status": "403"})
        self._json(200, self.state._user(self.state.login))

    def _repo(self, repo: str) -> dict | None:
        r = self.state.repos.get(repo)
        if r is None:
            self._json(404, {"message": "Not Found"})
        return r

    def h_get_repo(self, repo: str, **_) -> None:
        if (r := self._repo(repo)) is not None:
            self._json(200, r)

    def h_get_workflow(self, repo: str, wf: str, **_) -> None:
        for w in self.state.workflows.get(repo, []):
            if wf in (str(w["id"]), w["path"].rsplit("/", 1)[-1]):
                return self._json(200, w)
        self._json(404, {"message": "Not Found"})

    def h_list_runs(self, repo: str, params: dict, wf: str | None = None, **_) -> None:
        if self._repo(repo) is None:
            return
        runs = list(self.state.runs[repo])
        if wf is not None:
            ids = [w["id"] for w in self.state.workflows[repo] if wf in (str(w["id"]), w["path"].rsplit("/", 1)[-1])]
            if not ids:
                return self._json(404, {"message": "Not Found"})
            runs = [r for r in runs if r["workflow_id"] in ids]
        if "status" in params:
            s = params["status"]
            runs = [r for r in runs if s in (r["status"], r["conclusion"])]
        for key in ("branch", "event", "head_sha"):
            if key in params:
                field_ = "head_branch" if key == "branch" else key
                runs = [r for r in runs if r[field_] == params[key]]
        if "created" in params:
            runs = [r for r in runs if _date_matches(r["created_at"][:10], params["created"])]
        self._paged(runs, params, "workflow_runs")

    def h_get_run(self, repo: str, run: str, **_) -> None:
        for r in self.state.runs.get(repo, []):
            if str(r["id"]) == run:
                return self._json(200, r)
        self._json(404, {"message": "Not Found"})

    def h_list_artifacts(self, repo: str, run: str, params: dict, **_) -> None:
        arts = self.state.artifacts.get(int(run))
        if arts is None:
            return self._json(404, {"message": "Not Found"})
        if "name" in params:
            arts = [a for a in arts if a["name"] == params["name"]]
        self._paged(arts, params, "artifacts")

    def h_artifact_zip(self, repo: str, aid: str, **_) -> None:
        for arts in self.state.artifacts.values():
            for a in arts:
                if str(a["id"]) == aid:
                    if a["expired"]:
                        return self._json(410, {"message": "Artifact has expired"})
                    return self._send(
                        302, b"", "text/plain", {"Location": f"{self.state.blob_base}/_blobs/{aid}?sig=x"}
                    )
        self._json(404, {"message": "Not Found"})

    def h_blob(self, aid: str, **_) -> None:
        data = self.state.blobs.get(int(aid))
        if data is None:
            return self._json(404, {"message": "Not Found"})
        self._send(200, data, "application/zip")

    def h_list_comments(self, repo: str, num: str, params: dict, **_) -> None:
        self._paged(self.state.comments.get((repo, int(num)), []), params)

    def h_create_comment(self, repo: str, num: str, data: dict, **_) -> None:
        if not isinstance(data.get("body"), str):
            return self._json(422, {"message": "Validation Failed"})
        if len(data["body"]) > 65536:
            return self._json(422, {"message": "Validation Failed", "errors": [{"message": "body is too long"}]})
        app = ACTIONS_APP if self.state.installation else None
        self._json(201, self.state.add_comment(repo, int(num), data["body"], self.state.login, app))

    def h_update_comment(self, repo: str, cid: str, data: dict, **_) -> None:
        for comments in self.state.comments.values():
            for c in comments:
                if str(c["id"]) == cid:
                    if c["user"]["login"] != self.state.login:
                        return self._json(403, {"message": "Must have admin rights to Repository."})
                    if len(data.get("body", "")) > 65536:
                        return self._json(422, {"message": "Validation Failed"})
                    c["body"] = data["body"]
                    c["updated_at"] = _ts(self.state._tick())
                    return self._json(200, c)
        self._json(404, {"message": "Not Found"})

    def h_get_pull(self, repo: str, num: str, **_) -> None:
        pr = self.state.pulls.get((repo, int(num)))
        if pr is None:
            return self._json(404, {"message": "Not Found"})
        self._json(200, pr)

    # -- pull request files, reviews and review comments (REST v2022-11-28 shapes) -----------------
    def h_list_pull_files(self, repo: str, num: str, params: dict, **_) -> None:
        if (repo, int(num)) not in self.state.pulls:
            return self._json(404, {"message": "Not Found"})
        self._paged(self.state.pull_files.get((repo, int(num)), []), params)

    def h_list_review_comments(self, repo: str, num: str, params: dict, **_) -> None:
        if (repo, int(num)) not in self.state.pulls:
            return self._json(404, {"message": "Not Found"})
        self._paged(self.state.review_comments.get((repo, int(num)), []), params)

    def h_create_review(self, repo: str, num: str, data: dict, **_) -> None:
        st, key = self.state, (repo, int(num))
        pr = st.pulls.get(key)
        if pr is None:
            return self._json(404, {"message": "Not Found"})
        event = data.get("event")
        if event not in (None, "COMMENT", "APPROVE", "REQUEST_CHANGES"):
            return self._json(422, {"message": "Unprocessable Entity", "errors": ["invalid event"]})
        if event in ("COMMENT", "REQUEST_CHANGES") and not data.get("body"):
            return self._json(422, {"message": "Unprocessable Entity", "errors": ["Body is required"]})
        commit = data.get("commit_id") or pr["head"]["sha"]
        comments = data.get("comments") or []
        for c in comments:
            path, line, start = c.get("path"), c.get("line"), c.get("start_line") or c.get("line")
            bad = (
                not isinstance(path, str)
                or not isinstance(c.get("body"), str)
                or not isinstance(line, int)
                or c.get("side", "RIGHT") != "RIGHT"
                or (c.get("start_line") is not None and (c.get("start_side", "RIGHT") != "RIGHT" or start >= line))
                or not any(lo <= start and line <= hi for lo, hi in st.right_side_ranges(repo, int(num), path))
            )
            if bad:
                # GitHub refuses the whole review when one comment is outside the diff.
                st.rejected_reviews.append(data)
                return self._json(
                    422,
                    {
                        "message": "Unprocessable Entity",
                        "errors": ["Line could not be resolved"],
                        "documentation_url": "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request",
                        "status": "422",
                    },
                )
        review = st._review(repo, int(num), data.get("body") or "", st.login, commit)
        for c in comments:
            st._review_comment(repo, int(num), review, c, st.login)
        self._json(200, review)

    def h_delete_review_comment(self, repo: str, cid: str, **_) -> None:
        for comments in self.state.review_comments.values():
            for c in comments:
                if str(c["id"]) == cid:
                    if c["user"]["login"] != self.state.login:
                        return self._json(403, {"message": "Must have admin rights to Repository."})
                    comments.remove(c)
                    return self._send(204, b"", "application/json")
        self._json(404, {"message": "Not Found"})

    def h_get_commit(self, repo: str, sha: str, **_) -> None:
        if self._repo(repo) is None:
            return
        self._json(
            200,
            {
                "sha": sha,
                "node_id": f"C_{sha}",
                "url": f"{self.state.base}/repos/{repo}/commits/{sha}",
                "html_url": f"https://github.example/{repo}/commit/{sha}",
                "commit": {"message": "scanned commit", "tree": {"sha": "0" * 40}},
                "parents": [],
            },
        )

    # -- self-hosted runners: groups and just-in-time registrations -----------------------------
    def h_list_code_scanning_alerts(self, repo: str, params: dict, **_) -> None:
        if self._repo(repo) is None:
            return
        alerts = self.state.code_scanning.get(repo)
        if alerts is None:
            alerts = self.state.code_scanning[repo] = (404, "no analysis found")
        if isinstance(alerts, tuple):
            status, message = alerts
            doc = "https://docs.github.com/rest/code-scanning/code-scanning#list-code-scanning-alerts-for-a-repository"
            return self._json(status, {"message": message, "documentation_url": doc, "status": str(status)})
        state = params.get("state")
        self._paged([a for a in alerts if state is None or a["state"] == state], params)

    def h_list_runner_groups(self, org: str, params: dict, **_) -> None:
        groups = self.state.runner_groups.get(org)
        if groups is None:
            return self._json(404, {"message": "Not Found"})
        self._json(200, {"total_count": len(groups), "runner_groups": groups})

    def h_generate_jitconfig(self, org: str, data: dict, **_) -> None:
        groups = {g["id"] for g in self.state.runner_groups.get(org, [])}
        labels = data.get("labels")
        if not isinstance(data.get("name"), str) or not isinstance(labels, list) or not labels:
            return self._json(422, {"message": "Validation Failed", "documentation_url": "x"})
        if data.get("runner_group_id") not in groups:
            return self._json(404, {"message": "Not Found"})
        if any(r["name"] == data["name"] for r in self.state.jit_runners):
            return self._json(409, {"message": "Already exists"})
        runner = {
            "id": self._next_runner_id(),
            "name": data["name"],
            "os": "macOS",
            "status": "offline",
            "busy": False,
            "labels": [{"id": i, "name": n, "type": "custom"} for i, n in enumerate(labels)],
            "runner_group_id": data["runner_group_id"],
        }
        self.state.jit_runners.append(runner)
        self._json(201, {"runner": runner, "encoded_jit_config": f"JIT-{runner['id']}-{data['name']}"})

    def _next_runner_id(self) -> int:
        return self.state._id()


def _date_matches(day: str, expr: str) -> bool:
    if ".." in expr:
        lo, hi = expr.split("..", 1)
        return (lo in ("*", "") or day >= lo[:10]) and (hi in ("*", "") or day <= hi[:10])
    for op in (">=", "<=", ">", "<"):
        if expr.startswith(op):
            v = expr[len(op) :][:10]
            return {">=": day >= v, "<=": day <= v, ">": day > v, "<": day < v}[op]
    return day == expr[:10]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: GitHubState


class GitHubServer:
    """`with GitHubServer(token) as gh:` — `gh.url` is the API base URL, `gh.state` the data."""

    def __init__(self, token: str = "ghp_" + "T" * 36, login: str = "secai-bot"):
        """`token`: a `ghs_...` one makes the server treat it as an installation token."""
        self.state = GitHubState(token, login)
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.state = self.state
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.state.base = self.url
        # Artifact downloads redirect to "storage": another host name for the same server.
        self.state.blob_base = f"http://localhost:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> GitHubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def inject(self, method: str, path_regex: str, *faults: Fault | str) -> None:
        self.state.inject(method, path_regex, *faults)

    @property
    def requests(self) -> list[Recorded]:
        return self.state.requests


# -- helpers for tests -------------------------------------------------------------------------------


def make_zip(files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    """An artifact zip; `symlinks` maps entry names to link targets (stored with S_IFLNK mode)."""
    import io
    import stat
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def github_fixture(monkeypatch, per_page: int = 100, token: str | None = None):
    """Start a server, point the environment at it; returns (server, settings, client)."""
    from secai.config import load_settings
    from secai.github.client import GitHub

    server = (GitHubServer(token) if token else GitHubServer()).__enter__()
    monkeypatch.setenv("GITHUB_TOKEN", server.state.token)
    monkeypatch.setenv("GITHUB_API_URL", server.url)
    settings = load_settings()
    client = GitHub(settings, per_page=per_page, throttle=False, backoff=0.01, sleep=lambda s: None)
    return server, settings, client
