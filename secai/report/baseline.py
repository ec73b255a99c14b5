"""What a run is compared with: a pull request with the latest processed run of its base branch,
a branch run with the previous run of the same branch (both from the store, which `fetch`, `watch`
and `run --bundle` fill)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from secai.config import Settings
from secai.findings import Finding
from secai.run import files
from secai.run.meta import RunMeta

PR_EVENTS = ("pull_request", "pull_request_target")


@dataclass
class Baseline:
    label: str
    fingerprints: set[str]
    findings: dict[str, Finding] = field(default_factory=dict)


def is_pull_request(meta: RunMeta) -> bool:
    return bool(meta.pr) or meta.event in PR_EVENTS


def compare_branch(meta: RunMeta) -> str | None:
    """The branch whose runs this run is compared with."""
    return meta.base_branch if is_pull_request(meta) else meta.branch


def store_baseline(meta: RunMeta, settings: Settings) -> Baseline | None:
    branch = compare_branch(meta)
    if not meta.repo or not branch or not settings.store_path.exists():
        return None
    from secai.run.store import Store

    with Store(settings.store_path) as store:
        run_id = store.baseline_run(meta.repo, branch, exclude=meta.run_id)
        if run_id is None:
            return None
        fps = store.fingerprints(meta.repo, run_id)
        state = store.run_state(meta.repo, run_id) or {}
    found: dict[str, Finding] = {}
    if state.get("run_dir") and Path(state["run_dir"]).is_dir():
        found = {f.fingerprint: f for f in files.read_findings(state["run_dir"])}
    return Baseline(f"{branch} (run {run_id})", fps, found)


def record_run_folder(run_dir: str | Path, settings: Settings) -> bool:
    """Remember a processed run folder in the store (its findings become the baseline of later
    pull requests on its branch), as `fetch` does for fetched runs. A fork's run that is not a pull
    request (which GitHub never makes) is kept with no branch, so it can never become a baseline;
    pull request runs never are one either (`Store.baseline_run`). Returns whether
    it was recorded (a run without repository or run id cannot be)."""
    meta = files.read_run_meta(run_dir)
    if not meta.repo or not meta.run_id:
        return False
    from secai.run.store import Store

    pr = is_pull_request(meta)
    branch = meta.branch if (pr or not meta.is_fork) else None
    with Store(settings.store_path) as store:
        store.record_run(
            meta.repo,
            meta.run_id,
            fingerprints=[f.fingerprint for f in files.read_findings(run_dir)],
            branch=branch,
            head_sha=meta.head_sha,
            pr=meta.pr,
            event=meta.event,
            run_dir=str(Path(run_dir).resolve()),
        )
    return True
