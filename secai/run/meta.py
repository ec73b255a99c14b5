"""What a run is about (`run.json`): repository, commit, branch, event, pull request.

Whether a run may feed training is decided from these facts in one place.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class RunMeta(BaseModel):
    """What the run is about; decides e.g. whether its findings may feed training."""

    repo: str | None = None
    run_id: str | None = None
    head_sha: str | None = None
    branch: str | None = None
    pr: int | None = None
    event: str | None = None
    is_fork: bool = False
    trusted: bool = True
    #: The branch a pull request targets (its report compares with that branch's latest run).
    base_branch: str | None = None
    workflow: str | None = None
    html_url: str | None = None
    created_at: str | None = None
    #: Artifacts downloaded for a fetched run, and what went wrong fetching them.
    artifacts: list[Any] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
