"""Links from a report to code lines (`blob/<sha>/<path>#L<n>`), the run, and the job summary.

The server is GitHub's own (`GITHUB_SERVER_URL` in Actions, else the run's page, else derived from
the API URL: api.github.com → github.com, `https://ghes/api/v3` → `https://ghes`). Paths are
untrusted: each segment is percent-encoded and `..` or absolute paths give no link at all.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, urlparse

from secai.config import Settings
from secai.run.meta import RunMeta

_SERVER = re.compile(r"https?://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~-]+)*")
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


def server_url(meta: RunMeta, settings: Settings, environ: dict[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    candidates = [env.get("GITHUB_SERVER_URL", "")]
    if meta.html_url and meta.repo and f"/{meta.repo}/" in meta.html_url:
        candidates.append(meta.html_url.split(f"/{meta.repo}/", 1)[0])
    api = (env.get("GITHUB_API_URL") or settings.github.api_url or "").rstrip("/")
    parsed = urlparse(api)
    if parsed.hostname == "api.github.com":
        candidates.append("https://github.com")
    elif parsed.path.endswith("/api/v3"):
        candidates.append(api[: -len("/api/v3")])
    for c in candidates:
        c = (c or "").rstrip("/")
        if _SERVER.fullmatch(c):
            return c
    return None


def blob_url(server: str | None, repo: str | None, sha: str | None, path: str | None, line: int | None) -> str | None:
    if not (server and repo and sha and path) or not _REPO.fullmatch(repo) or not _SHA.fullmatch(sha):
        return None
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in path:
        return None
    url = f"{server}/{repo}/blob/{sha}/" + "/".join(quote(p, safe="") for p in parts)
    return url + (f"#L{int(line)}" if line and line > 0 else "")


def run_url(meta: RunMeta, server: str | None) -> str | None:
    if meta.html_url and _SERVER.fullmatch(meta.html_url.split("/actions/runs/")[0]):
        return meta.html_url
    if server and meta.repo and _REPO.fullmatch(meta.repo) and (meta.run_id or "").isdigit():
        return f"{server}/{meta.repo}/actions/runs/{meta.run_id}"
    return None


def summary_url(meta: RunMeta, server: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The page of the job that writes the summary: this Actions run when there is one."""
    env = os.environ if environ is None else environ
    run_id, repo = env.get("GITHUB_RUN_ID", ""), env.get("GITHUB_REPOSITORY", "")
    if server and run_id.isdigit() and _REPO.fullmatch(repo):
        return f"{server}/{repo}/actions/runs/{run_id}"
    return run_url(meta, server)
