"""`fetch`: completed workflow runs → downloaded, safely extracted, parsed artifacts in a run folder.

Each processed run is recorded in the store, so the next fetch takes only new runs (or failed ones
whose backoff has passed). Expired artifacts, runs without artifacts and unsafe zip entries are
reported in the run's `errors`; they never stop the other artifacts or runs.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from secai.config import Settings
from secai.errors import GitHubError, InputError, SecaiError
from secai.github.client import ArtifactExpired, GitHub
from secai.ingest.archives import extract_zip
from secai.ingest.collect import collect
from secai.log import mask_tokens
from secai.run import files
from secai.run.meta import PR_EVENTS, RunMeta, is_fork
from secai.run.store import Store

log = logging.getLogger("secai")

#: A run that keeps failing is retried with growing delays, then left alone.
MAX_ATTEMPTS = 6
#: How many of the newest runs `oldest_first` looks through.
OLDEST_FIRST_WINDOW = 100


class FetchedRun(BaseModel):
    id: int
    head_sha: str | None = None
    head_branch: str | None = None
    event: str | None = None
    pr: int | None = None
    artifacts: list[str] = Field(default_factory=list)
    findings: int = 0
    errors: list[str] = Field(default_factory=list)
    run_dir: str | None = None
    #: False when a transient problem (network, server) means the run should be fetched again.
    complete: bool = True


class FetchSummary(BaseModel):
    repo: str
    runs: list[FetchedRun] = Field(default_factory=list)

    def to_json(self) -> dict:
        keys = ("id", "head_sha", "head_branch", "artifacts", "findings", "errors")
        return {"runs": [{k: getattr(r, k) for k in keys} for r in self.runs]}


def parse_since(since: str | None) -> str | None:
    """`2025-01-31`, an ISO timestamp, or `7d` → GitHub's `created` filter (`>=…`)."""
    if not since:
        return None
    s = since.strip()
    if m := re.fullmatch(r"(\d+)d", s):
        return ">=" + (datetime.now(UTC).date() - timedelta(days=int(m.group(1)))).isoformat()
    try:
        if "T" in s:
            return ">=" + datetime.fromisoformat(s.replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%SZ")
        return ">=" + date.fromisoformat(s).isoformat()
    except ValueError:
        raise SecaiError(
            f"--since {since!r}: expected a date (2025-01-31), an ISO timestamp or a day count (7d)"
        ) from None


def safe_name(name: str) -> str:
    """An artifact name (untrusted) as one folder name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "artifact"
    return cleaned[:100]


class _Fetcher:
    def __init__(
        self,
        repo: str,
        settings: Settings,
        client: GitHub,
        store: Store,
        out: Path | None,
        patterns: list[str],
        keep_inputs: bool = False,
    ):
        self.keep_inputs = keep_inputs
        self.repo = repo
        self.settings = settings
        self.client = client
        self.store = store
        self.out = out
        self.patterns = patterns
        self.alerts: tuple[list[dict] | None, str] | None = None

    def candidates(self, *, run_id, workflow, branch, pr, since, limit, oldest_first=False) -> Iterator[tuple]:
        if run_id is not None:
            yield self.client.workflow_run(self.repo, run_id), (self.client.pull(self.repo, pr) if pr else None)
            return
        created = parse_since(since)
        pull = None
        if pr is not None:
            pull = self.client.pull(self.repo, pr)
            branch = pull.head.ref
        taken = 0
        backlog = []
        for scanned, run in enumerate(
            self.client.workflow_runs(self.repo, workflow=workflow, branch=branch, created=created)
        ):
            if (limit is not None and taken >= limit) or (oldest_first and scanned >= OLDEST_FIRST_WINDOW):
                break
            if pull is not None and not _belongs_to(run, pull):
                continue
            if not is_due(self.store, self.repo, run.id):
                continue
            if oldest_first:
                backlog.append(run)
                continue
            taken += 1
            yield run, pull
        for run in reversed(backlog[-limit:] if limit else backlog):
            yield run, pull

    def run_dir(self, run, single: bool) -> Path:
        if self.out is not None:
            return self.out if single else self.out / f"run-{run.id}"
        owner, name = self.repo.split("/")
        return self.settings.runs_dir / f"gh-{safe_name(owner)}-{safe_name(name)}-{run.id}"

    def process(self, run, pull, run_dir: Path) -> FetchedRun:
        numbers = [p.number for p in (run.pull_requests or [])]
        pr_number = pull.number if pull is not None else (numbers[0] if numbers else None)
        base_branch = (
            pull.base.ref if pull is not None else (run.pull_requests[0].base.ref if run.pull_requests else None)
        )
        head_repo = run.head_repository.full_name if run.head_repository is not None else None
        fork = is_fork(self.repo, head_repo)  # a deleted fork has no head repository
        res = FetchedRun(
            id=run.id,
            head_sha=run.head_sha,
            head_branch=run.head_branch,
            event=run.event,
            pr=pr_number,
            run_dir=str(run_dir),
        )
        if run.status != "completed":
            res.errors.append(f"run {run.id} is {run.status}, not completed; skipped")
            res.complete = False
            return res
        run_dir.mkdir(parents=True, exist_ok=True)
        inputs = run_dir / "inputs"
        shutil.rmtree(inputs, ignore_errors=True)
        inputs.mkdir()
        try:
            arts = self.client.artifacts(run)
        except GitHubError as e:
            res.errors.append(str(e))
            res.complete = False
            return res
        wanted = [a for a in arts if any(fnmatch.fnmatchcase(a.name, p) for p in self.patterns)]
        if not wanted:
            res.errors.append(f"run {run.id}: no artifacts" + (" matching " + ", ".join(self.patterns) if arts else ""))
        budget = int(self.settings.limits.max_run_mb * 1024 * 1024)
        used_names: set[str] = set()
        for art in wanted:
            if art.expired:
                res.errors.append(f"artifact {art.name!r}: expired; skipped")
                continue
            folder = safe_name(art.name)
            while folder in used_names:
                folder += "_"
            used_names.add(folder)
            with tempfile.TemporaryDirectory(prefix="secai-dl-") as tmp:
                zpath = Path(tmp) / "artifact.zip"
                try:
                    self.client.download_artifact(art, zpath, max_bytes=budget)
                    extracted = extract_zip(zpath, inputs / folder, self.settings.limits, budget_bytes=budget)
                except ArtifactExpired as e:
                    res.errors.append(f"{e}; skipped")
                    continue
                except GitHubError as e:
                    res.errors.append(str(e))
                    res.complete = False
                    continue
                except InputError as e:
                    res.errors.append(f"artifact {art.name!r}: {e.problem}")
                    continue
            budget -= extracted.bytes_written
            res.artifacts.append(art.name)
            for prob in extracted.problems:
                entry = prob.path.split("!", 1)[-1]
                res.errors.append(f"artifact {art.name!r}: {entry}: {prob.problem}")
        parsed = collect([inputs], self.settings.limits)
        if not self.keep_inputs:  # raw artifacts stay on the runner only until they are parsed
            shutil.rmtree(inputs, ignore_errors=True)
        prefix = str(inputs) + "/"
        for p in parsed.problems:
            where = p.path[len(prefix) :] if p.path.startswith(prefix) else p.path
            if p.level == "error":
                res.errors.append(f"{where}: {p.message}")
            elif p.level == "warning":
                log.warning("%s: %s", where, p.message)
        res.findings = len(parsed.findings)
        files.write_findings(run_dir, parsed.findings)
        files.write_parse(run_dir, parsed.record())
        files.write_run_meta(
            run_dir,
            RunMeta(
                repo=self.repo,
                run_id=str(run.id),
                head_sha=run.head_sha,
                branch=run.head_branch,
                pr=pr_number,
                base_branch=base_branch,
                event=run.event,
                is_fork=fork,
                workflow=run.name,
                html_url=run.html_url,
                created_at=run.created_at.isoformat() if run.created_at else None,
                artifacts=res.artifacts,
                errors=res.errors,
            ),
        )
        self.fingerprints = [f.fingerprint for f in parsed.findings]
        self.write_alerts(run_dir)
        return res

    def write_alerts(self, run_dir: Path) -> None:
        """The repository's code scanning alerts (read once per fetch) into the run folder; when
        code scanning is off or out of the token's reach, a one-line note."""
        from secai.github.alerts import fetch_alerts
        from secai.triage.alerts import write_alerts

        if not self.settings.github.code_scanning_alerts:
            return
        if self.alerts is None:
            try:
                self.alerts = fetch_alerts(self.client, self.repo)
            except GitHubError as e:
                self.alerts = (None, f"{self.repo}: code scanning alerts not read ({e})")
            log.info("%s", self.alerts[1])
        if self.alerts[0] is not None:
            write_alerts(run_dir, self.alerts[0])


def record_processed(store: Store, repo: str, res: FetchedRun, fingerprints: list[str]) -> None:
    store.record_run(
        repo,
        res.id,
        fingerprints=fingerprints,
        branch=res.head_branch,
        head_sha=res.head_sha,
        pr=res.pr,
        event=res.event,
        run_dir=res.run_dir,
    )


def is_due(store: Store, repo: str, run_id: int) -> bool:
    """Not processed yet, or failed with its backoff over and attempts left."""
    if not store.due_for_retry(repo, run_id):
        return False
    state = store.run_state(repo, run_id)
    if state and state["status"] == "failed" and state["attempts"] >= MAX_ATTEMPTS:
        log.debug("run %s: gave up after %d attempts (%s)", run_id, state["attempts"], state["last_error"])
        return False
    return True


def _belongs_to(run, pull) -> bool:
    if any(p.number == pull.number for p in (run.pull_requests or [])):
        return True
    # Fork PRs: GitHub leaves `pull_requests` empty; match the head repository and commit/branch.
    head = run.head_repository.full_name if run.head_repository is not None else None
    return run.event in PR_EVENTS and head == pull.head.repo.full_name and run.head_branch == pull.head.ref


def fetch_runs(
    repo: str,
    settings: Settings,
    *,
    run_id: int | None = None,
    workflow: str | None = None,
    branch: str | None = None,
    pr: int | None = None,
    since: str | None = None,
    limit: int | None = None,
    out: str | Path | None = None,
    patterns: list[str] | None = None,
    client: GitHub | None = None,
    api_url: str | None = None,
    store: Store | None = None,
    record: bool = True,
    oldest_first: bool = False,
    keep_inputs: bool = False,
) -> FetchSummary:
    """Fetch new completed runs of `repo` (newest first), one run folder each; see the module doc.

    With `record=False` a complete run is not marked processed: the caller (watch) does that once
    its own processing succeeded, so a crash in between means the run is fetched again. With
    `oldest_first` the oldest new runs among the newest `OLDEST_FIRST_WINDOW` come first (watch:
    a base branch run is then processed before the PR runs that compare with it). The raw
    artifacts (`inputs/`) are deleted once parsed unless `keep_inputs`."""
    own_client = client is None
    client = client or GitHub(settings, api_url=api_url)
    own_store = store is None
    store = store or Store(settings.store_path)
    summary = FetchSummary(repo=repo)
    try:
        f = _Fetcher(
            repo,
            settings,
            client,
            store,
            Path(out) if out else None,
            patterns or settings.github.artifact_patterns,
            keep_inputs,
        )
        selected = list(
            f.candidates(
                run_id=run_id,
                workflow=workflow,
                branch=branch,
                pr=pr,
                since=since,
                limit=limit,
                oldest_first=oldest_first,
            )
        )
        for run, pull in selected:
            run_dir = f.run_dir(run, single=len(selected) == 1)
            f.fingerprints = []
            try:
                res = f.process(run, pull, run_dir)
            except (SecaiError, OSError) as e:
                res = FetchedRun(
                    id=run.id,
                    head_sha=run.head_sha,
                    head_branch=run.head_branch,
                    errors=[mask_tokens(str(e))],
                    complete=False,
                )
            res.errors = [mask_tokens(e) for e in res.errors]
            for err in res.errors:
                log.warning("run %s: %s", run.id, err)
            if not res.complete:
                store.record_failure(repo, run.id, "; ".join(res.errors) or "incomplete")
            elif record:
                record_processed(store, repo, res, f.fingerprints)
            log.info(
                "run %s (%s, %s): %d artifact(s), %d finding(s)",
                run.id,
                res.head_branch,
                res.event,
                len(res.artifacts),
                res.findings,
            )
            summary.runs.append(res)
    finally:
        if own_store:
            store.close()
        if own_client:
            client.close()
    return summary
