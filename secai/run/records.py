"""The typed contents of the run folder's JSON files (see docs/run-folder.md).

Stages write these models and every reader gets them back through `secai.run.files`, so a file's
shape is defined once.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ReportRecord(BaseModel):
    """One report file that was parsed (`parse.json`)."""

    path: str
    format: str
    findings: int


class ProblemRecord(BaseModel):
    """One input that could not be read, or was skipped (`parse.json`)."""

    path: str
    message: str
    level: Literal["error", "warning", "skipped"] = "error"


class ParseRecord(BaseModel):
    """`parse.json`: which reports were read and what went wrong."""

    reports: list[ReportRecord] = Field(default_factory=list)
    problems: list[ProblemRecord] = Field(default_factory=list)

    @property
    def errors(self) -> list[ProblemRecord]:
        return [p for p in self.problems if p.level == "error"]


# -- eval.json ----------------------------------------------------------------------------------------
class Tally(BaseModel):
    n: int = 0
    verified: int = 0


class FixScore(BaseModel):
    """One fixer on the held-out fixes: how many it verified (at k candidates, and at the first)."""

    #: Held-out fixes this fixer was scored on: their file is known and their scanner can run here.
    n: int
    #: Fixes for which it produced at least one usable edit.
    proposed: int
    verified: int
    verified_rate: float
    verified_rate_at_1: float
    by_tool: dict[str, Tally] = Field(default_factory=dict)
    by_category: dict[str, Tally] = Field(default_factory=dict)
    #: Why the fixes it did not verify failed (the first reason of each), by kind.
    rejections: dict[str, int] = Field(default_factory=dict)
    seconds: float = 0.0


class FixEval(BaseModel):
    """`eval.json`'s fix section: base vs tuned vs the deterministic providers."""

    k: int
    #: Held-out fixes in the test split, and those no fixer could be scored on (with why).
    cases: int
    unscored: dict[str, int] = Field(default_factory=dict)
    base: FixScore
    tuned: FixScore
    deterministic: FixScore
    examples: list[dict[str, Any]] = Field(default_factory=list)


class TriageScore(BaseModel):
    """One system's verdicts on the held-out labels. An abstention (no well-formed verdict) counts
    as wrong for accuracy; rates with nothing to divide by are None."""

    n: int
    correct: int = 0
    abstained: int = 0
    accuracy: float = 0.0
    #: Of the system's false-positive calls, the share the team also called false positive.
    fp_precision: float | None = None
    #: Of the team's true positives, the share the system called true positive.
    tp_recall: float | None = None
    #: Share of cases with a verdict (not abstained).
    coverage: float = 0.0
    seconds: float = 0.0


class TriageEval(BaseModel):
    """`eval.json`'s triage section: base, tuned and the per-rule majority baseline on the held-out
    (latest) labels; the tuned model's verdicts are shown in the PR only when `earned`."""

    #: Held-out labels in the dataset, and those scored (the latest `verdict.max_cases`).
    cases: int
    n: int
    #: Labels the baseline learned from (train and valid: every label older than the held-out ones).
    train_labels: int
    base: TriageScore
    tuned: TriageScore
    baseline: TriageScore
    #: The tuned model beat the baseline's accuracy on at least `min_cases` held-out labels.
    earned: bool = False
    min_cases: int = 0
    reason: str = ""
    labels_by_source: dict[str, int] = Field(default_factory=dict)
    labels_by_verdict: dict[str, int] = Field(default_factory=dict)
    examples: list[dict[str, Any]] = Field(default_factory=list)


class Gate(BaseModel):
    enabled: bool
    passed: bool
    margin: float
    required_margin: float
    reason: str = ""


class EvalResult(BaseModel):
    fix: FixEval
    gate: Gate
    #: Absent in eval.json files written before triage was evaluated, or without held-out labels.
    triage: TriageEval | None = None
    model: dict[str, str] = Field(default_factory=dict)


# -- validation.json ----------------------------------------------------------------------------------
class Check(BaseModel):
    name: str
    passed: bool
    detail: str = ""


class Sample(BaseModel):
    prompt: str
    answer: str
    ok: bool
    why: str = ""
    #: The answer parses as a fix (a block with the new lines, or a SEARCH/REPLACE, and a rationale).
    well_formed: bool | None = None


class ValidationResult(BaseModel):
    run_dir: str
    passed: bool
    checks: list[Check] = Field(default_factory=list)
    samples: list[Sample] = Field(default_factory=list)
    #: The evaluation gate from eval.json (None when there is no evaluation); publishing needs it too.
    eval_gate: bool | None = None
    base_model: str | None = None

    def problems(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]


# -- publish.json -------------------------------------------------------------------------------------
class RepoUpload(BaseModel):
    kind: Literal["dataset", "model", "fused"]
    repo_id: str
    repo_type: Literal["dataset", "model"]
    url: str | None = None
    commit: str | None = None
    #: A new commit was made (False when the repo already held exactly these files).
    committed: bool = False
    tag: str | None = None
    files: dict[str, str] = Field(default_factory=dict)  # path in repo -> sha256
    dry_run_dir: str | None = None


class PublishResult(BaseModel):
    run_dir: str
    run_id: str
    dry_run: bool
    published: bool
    reason: str = ""
    repos: list[RepoUpload] = Field(default_factory=list)
