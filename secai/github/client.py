"""GitHub through PyGithub: workflow runs, artifacts, pull requests, and one sticky PR comment.

Token from `GITHUB_TOKEN`/`GH_TOKEN` only, never logged (every message we raise is masked).
API base URL: `--api-url` > `GITHUB_API_URL` (set by Actions and by GHES users) > settings.
GETs and PATCHes are retried by urllib3 on 429/5xx/resets, honouring `Retry-After`; creating a
comment is not blindly retried, because a POST that failed half-way may have created it: we look
for the comment again first, so a retry never duplicates it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.PullRequest import PullRequest
from github.Repository import Repository
from github.WorkflowRun import WorkflowRun
from requests.adapters import HTTPAdapter

from secai.config import Settings
from secai.errors import GitHubError
from secai.log import mask_tokens

log = logging.getLogger("secai")

T = TypeVar("T")

DEFAULT_API_URL = "https://api.github.com"
_RETRY_STATUSES = [429, *range(500, 600)]
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
_NETWORK_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.RetryError,
    requests.exceptions.ChunkedEncodingError,
)


def resolve_token(environ: dict[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None


def resolve_api_url(settings: Settings, api_url: str | None = None, environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    url = api_url or env.get("GITHUB_API_URL") or settings.github.api_url or DEFAULT_API_URL
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise GitHubError(f"GitHub API URL {url!r} is not an http(s) URL")
    return url.rstrip("/")


def make_retry(retries: int, backoff: float = 0.5) -> GithubRetry:
    return GithubRetry(
        total=retries,
        backoff_factor=backoff,
        backoff_max=30,
        status_forcelist=_RETRY_STATUSES,
        allowed_methods=_IDEMPOTENT,
        respect_retry_after_header=True,
        retry_after_max=300,
        raise_on_status=False,
        secondary_rate_wait=60,
        max_rate_limit_wait=600,
    )


def describe(err: BaseException) -> str:
    """A one-line, token-free description of a GitHub or network error."""
    if isinstance(err, GithubException):
        data = err.data if isinstance(err.data, dict) else {}
        msg = data.get("message") or str(err.data or "")
        text = f"HTTP {err.status}: {msg}".strip()
    else:
        text = f"{type(err).__name__}: {err}"
    return mask_tokens(" ".join(text.split()))[:500]


def _retryable(err: BaseException) -> bool:
    if isinstance(err, GithubException):
        return err.status in _RETRY_STATUSES or (err.status == 403 and "rate limit" in describe(err).lower())
    return isinstance(err, _NETWORK_ERRORS)


def _retry_after(err: BaseException, attempt: int) -> float:
    headers = getattr(err, "headers", None) or {}
    for k, v in headers.items():
        if k.lower() == "retry-after":
            try:
                return min(300.0, max(0.0, float(v)))
            except ValueError:
                break
    return min(30.0, 0.5 * 2**attempt)


@dataclass
class CommentResult:
    action: str  # created | updated | unchanged
    id: int
    url: str


class ArtifactExpired(GitHubError):
    pass


class GitHub:
    """A thin, typed layer over PyGithub for the calls secai makes."""

    def __init__(
        self,
        settings: Settings,
        *,
        api_url: str | None = None,
        token: str | None = None,
        per_page: int = 100,
        throttle: bool = True,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        token = token or resolve_token()
        if not token:
            raise GitHubError("no GitHub token: set GITHUB_TOKEN or GH_TOKEN")
        self.api_url = resolve_api_url(settings, api_url)
        self.retries = settings.github.retries
        self._token = token
        self._sleep = sleep
        kwargs: dict[str, Any] = {}
        if not throttle:
            kwargs.update(seconds_between_requests=None, seconds_between_writes=None)
        self._gh = Github(
            auth=Auth.Token(token),
            base_url=self.api_url,
            per_page=per_page,
            timeout=30,
            retry=make_retry(self.retries, backoff),
            user_agent="secai",
            **kwargs,
        )
        self._http = requests.Session()
        adapter = HTTPAdapter(max_retries=make_retry(self.retries, backoff))
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)
        self._repos: dict[str, Repository] = {}
        self._login: str | None = None
        self._installation = False

    def close(self) -> None:
        self._gh.close()
        self._http.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- calls, with errors turned into one masked line ----------------------------------------------
    def call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (GithubException, *_NETWORK_ERRORS) as e:
            raise GitHubError(f"{what}: {describe(e)}") from None

    def login(self) -> str | None:
        """The token's own user, or None for an installation token (the Actions GITHUB_TOKEN, a
        GitHub App's token: `ghs_...`), which acts as a bot and may not read `GET /user` (403)."""
        if self._login is None and not self._installation:
            if self._token.startswith("ghs_"):
                self._installation = True
            else:
                try:
                    self._login = self._gh.get_user().login
                except GithubException as e:
                    if e.status != 403:
                        raise GitHubError(f"GET /user: {describe(e)}") from None
                    self._installation = True
                except _NETWORK_ERRORS as e:
                    raise GitHubError(f"GET /user: {describe(e)}") from None
        return self._login

    def repo(self, full_name: str) -> Repository:
        if full_name.count("/") != 1 or not all(full_name.split("/")):
            raise GitHubError(f"{full_name!r}: expected a repository as owner/name")
        if full_name not in self._repos:
            self._repos[full_name] = self.call(full_name, lambda: self._gh.get_repo(full_name))
        return self._repos[full_name]

    def workflow_runs(
        self,
        full_name: str,
        *,
        workflow: str | None = None,
        branch: str | None = None,
        event: str | None = None,
        created: str | None = None,
        status: str = "completed",
    ) -> Iterator[WorkflowRun]:
        """Completed runs, newest first, across every page (fetched lazily)."""
        repo = self.repo(full_name)
        filters = {k: v for k, v in dict(branch=branch, event=event, created=created, status=status).items() if v}
        if workflow:
            wf = self.call(
                f"{full_name}: workflow {workflow}",
                lambda: repo.get_workflow(int(workflow) if workflow.isdigit() else workflow),
            )
            pages = wf.get_runs(**filters)
        else:
            pages = repo.get_workflow_runs(**filters)
        it = iter(pages)
        while True:
            try:
                run = next(it)
            except StopIteration:
                return
            except (GithubException, *_NETWORK_ERRORS) as e:
                raise GitHubError(f"{full_name}: listing workflow runs: {describe(e)}") from None
            yield run

    def workflow_run(self, full_name: str, run_id: int) -> WorkflowRun:
        repo = self.repo(full_name)
        run = repo.get_workflow_run(int(run_id))
        self.call(f"{full_name}: run {run_id}", lambda: run.head_sha)  # completes the lazy object
        return run

    def artifacts(self, run: WorkflowRun) -> list:
        return self.call(f"run {run.id}: listing artifacts", lambda: list(run.get_artifacts()))

    def pull(self, full_name: str, number: int) -> PullRequest:
        repo = self.repo(full_name)
        return self.call(f"{full_name}#{number}", lambda: repo.get_pull(int(number)))

    # -- artifact download -------------------------------------------------------------------------
    def download_artifact(self, artifact, dest: Path, max_bytes: int) -> int:
        """Stream an artifact zip to `dest` (at most `max_bytes`). GitHub answers the API URL with a
        302 to short-lived storage; the token is sent to the API host only, never to the storage."""
        what = f"artifact {artifact.name!r}"
        api = urlparse(self.api_url)
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "User-Agent": "secai",
        }
        url = artifact.archive_download_url
        try:
            resp = self._http.get(url, headers=headers, allow_redirects=False, stream=True, timeout=60)
            hops = 0
            while resp.status_code in (301, 302, 303, 307, 308) and hops < 5:
                location = resp.headers.get("Location", "")
                resp.close()
                target = urlparse(location)
                same = (target.scheme, target.hostname, target.port) == (api.scheme, api.hostname, api.port)
                resp = self._http.get(
                    location,
                    headers=headers if same else {"User-Agent": "secai"},
                    allow_redirects=False,
                    stream=True,
                    timeout=60,
                )
                hops += 1
            with resp:
                if resp.status_code == 410:
                    raise ArtifactExpired(f"{what}: expired")
                if resp.status_code != 200:
                    raise GitHubError(f"{what}: download failed with HTTP {resp.status_code}")
                declared = int(resp.headers.get("Content-Length") or 0)
                if declared > max_bytes:
                    raise GitHubError(f"{what}: {declared} bytes, over the {max_bytes} byte limit; not downloaded")
                written = 0
                dest.parent.mkdir(parents=True, exist_ok=True)
                with open(dest, "wb") as fh:
                    for chunk in resp.iter_content(1 << 16):
                        written += len(chunk)
                        if written > max_bytes:
                            raise GitHubError(f"{what}: larger than the {max_bytes} byte limit; download stopped")
                        fh.write(chunk)
                return written
        except GitHubError:
            dest.unlink(missing_ok=True)
            raise
        except (requests.RequestException, OSError) as e:
            dest.unlink(missing_ok=True)
            raise GitHubError(f"{what}: download failed: {describe(e)}") from None

    # -- the sticky comment ------------------------------------------------------------------------
    def find_comment(self, pull: PullRequest, marker: str):
        """Our comment (all pages): its body starts with the marker, and it was written by the
        token's own user, or, for an installation token, by a bot acting through a GitHub App."""
        login = self.login()
        for c in self.call(f"PR #{pull.number}: listing comments", lambda: list(pull.get_issue_comments())):
            if not (c.body or "").startswith(marker) or c.user is None:
                continue
            if login is not None and c.user.login == login:
                return c
            if login is None and c.user.type == "Bot" and c.performed_via_github_app is not None:
                return c
        return None

    def upsert_comment(self, full_name: str, number: int, body: str, marker: str) -> CommentResult:
        """Create the PR's one secai comment, or update it in place; skip when unchanged."""
        if not body.startswith(marker):
            raise GitHubError("comment body does not start with the marker; refusing to post an unfindable comment")
        pull = self.pull(full_name, number)
        attempt = 0
        while True:
            existing = self.find_comment(pull, marker)
            try:
                if existing is None:
                    c = pull.create_issue_comment(body)
                    log.info("created the secai comment on %s#%d", full_name, number)
                    return CommentResult("created", c.id, c.html_url)
                if existing.body == body:
                    log.info("secai comment on %s#%d is up to date", full_name, number)
                    return CommentResult("unchanged", existing.id, existing.html_url)
                existing.edit(body)
                log.info("updated the secai comment on %s#%d", full_name, number)
                return CommentResult("updated", existing.id, existing.html_url)
            except (GithubException, *_NETWORK_ERRORS) as e:
                if not _retryable(e) or attempt >= self.retries:
                    raise GitHubError(f"{full_name}#{number}: posting the comment: {describe(e)}") from None
                delay = _retry_after(e, attempt)
                log.warning(
                    "%s#%d: posting the comment failed (%s); retrying in %.1fs", full_name, number, describe(e), delay
                )
                self._sleep(delay)
                attempt += 1
