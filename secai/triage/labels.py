"""Verdict labels: what the team decided about a finding, and where that decision was read.

A label is a training target and an evaluation case for triage (docs/triage.md). Sources:
- `sarif-suppression`: a SARIF result's `suppressions` (inSource/external, status, justification);
- `checkov-skip`: Checkov `skipped_checks` with `suppress_comment`;
- `trivy-ignored`: Trivy's `ExperimentalModifiedFindings` (`--show-suppressed`);
- `grype-ignored`, `detect-secrets-audit`, `dependency-check-suppressed`: those tools' own ignore lists;
- `scanner-suppression`: any other tool's suppressed finding (Semgrep Supply Chain `ignored`, ...);
- `inline-marker`: a marker in the code window (`# nosec B105 - reason`, `nosemgrep`, ...);
- `code-scanning`: a GitHub code scanning alert's state (dismissed with a reason, or fixed);
- `history`: mined events (a later commit fixed it: acted on; a commit added a marker: suppressed);
- `ignore-file`: the repository's `.secai/ignore.yml`.
When two labels of one finding disagree, the latest decision wins and the other is kept in `overridden`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from secai.run.folder import atomic_write_text

log = logging.getLogger("secai")

Verdict = Literal["true positive", "false positive", "accepted risk"]
VERDICTS: tuple[Verdict, ...] = ("true positive", "false positive", "accepted risk")

LabelSource = Literal[
    "sarif-suppression",
    "checkov-skip",
    "trivy-ignored",
    "grype-ignored",
    "detect-secrets-audit",
    "dependency-check-suppressed",
    "scanner-suppression",
    "inline-marker",
    "code-scanning",
    "history",
    "ignore-file",
]


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The labelled finding: its fingerprint in this run when it is one of the run's findings, else the
    #: fingerprint the source gives (a mined event's, an alert's rule+location key).
    fingerprint: str
    tool: str
    rule_id: str
    path: str | None = None
    line: int | None = None
    verdict: Verdict
    #: The team's own words (justification, dismissal comment, commit subject), redacted; may be empty.
    reason: str = ""
    source: LabelSource
    #: Where exactly: report file, alert URL or number, commit id, `.secai/ignore.yml:12`.
    origin: str = ""
    #: When the decision was made (ISO 8601), if known: orders contradicting labels and splits by time.
    date: str = ""
    #: Labels of the same finding this one replaced (older, contradicting decisions), for the record.
    overridden: list[Label] = Field(default_factory=list)


LABELS = "labels.jsonl"


def write_labels(run_dir: str | Path, labels: list[Label]) -> Path:
    path = Path(run_dir) / LABELS
    atomic_write_text(path, "".join(lb.model_dump_json() + "\n" for lb in labels))
    return path


def read_labels(run_dir: str | Path) -> list[Label]:
    """A run folder's labels; a line that is not a valid label is left out with a warning naming it."""
    path = Path(run_dir) / LABELS
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as e:
        log.warning("%s: unreadable (%s); no labels read", path, str(e)[:200])
        return []
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(Label.model_validate_json(line))
        except ValidationError as e:
            log.warning("%s:%d: not a label (%s); left out", path, i, str(e).splitlines()[0][:200])
    return out
