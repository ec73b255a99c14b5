"""What a run is about (`run.json`): repository, commit, branch, event, pull request; and the one
rule that decides whether its findings may feed training (and whatever else trusts a run:
publishing).

A run may train only when it is one of the events in `TRAINING_EVENTS` on a branch listed in
`dataset.trusted_branches`, of the repository itself (not a fork, not a deleted fork), and not
about a pull request. Everything else is untrusted: `pull_request`, `pull_request_target`,
`workflow_run`, `issue_comment`, `repository_dispatch`, `merge_group`, unknown events and runs
without an event. `local` stands for files the operator passed on the command line.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from secai.config import Settings

#: Events whose runs build what the repository's own branches hold. `local`: files the operator
#: passed on the command line (`secai-runner run --artifacts`, `dataset PATH`).
TRAINING_EVENTS = ("push", "schedule", "workflow_dispatch", "local")
PR_EVENTS = ("pull_request", "pull_request_target")


class RunMeta(BaseModel):
    """What the run is about (`may_train` judges it)."""

    repo: str | None = None
    run_id: str | None = None
    head_sha: str | None = None
    #: The branch the scanned code was on (a pull request's head branch).
    branch: str | None = None
    pr: int | None = None
    event: str | None = "local"
    #: True for a pull request from another repository, a deleted fork included.
    is_fork: bool = False
    #: The branch a pull request targets (its report compares with that branch's latest run).
    base_branch: str | None = None
    workflow: str | None = None
    html_url: str | None = None
    created_at: str | None = None
    #: Artifacts downloaded for a fetched run, and what went wrong fetching them.
    artifacts: list[Any] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


def may_train(meta: RunMeta, settings: Settings) -> tuple[bool, str]:
    """Whether the run's findings may feed training, and why (the one trust rule; see the module)."""
    branches = settings.dataset.trusted_branches
    if meta.is_fork:
        return False, "run comes from a fork: never used for training"
    if meta.pr is not None or meta.event in PR_EVENTS:
        return False, "pull request run: never used for training"
    if meta.event not in TRAINING_EVENTS:
        allowed = ", ".join(TRAINING_EVENTS)
        return False, f"event {meta.event or 'unknown'!r} is not one that trains ({allowed})"
    if meta.event == "local" and meta.branch is None:
        return True, "local run without branch metadata: the operator's own input"
    if meta.branch in branches:
        return True, f"{meta.event} on branch '{meta.branch}', which dataset.trusted_branches lists"
    return False, f"branch '{meta.branch}' is not in dataset.trusted_branches {branches}"


def is_fork(repo: str | None, head_repo: str | None) -> bool:
    """A run whose code came from another repository; a deleted fork (no head repository) is one."""
    return head_repo is None or head_repo.lower() != (repo or "").lower()
