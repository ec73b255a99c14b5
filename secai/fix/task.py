"""What flows through the fix stage: a task per finding, a provider's outcome, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from secai.config import Settings
from secai.findings import Finding
from secai.fix.edit import LineEdit
from secai.fix.memory import FixMemory
from secai.fix.source import SourceFile, SourceTree

if TYPE_CHECKING:
    from secai.fix.verify import Verifier

Status = Literal["verified", "rejected", "unverifiable", "no_source", "no_proposal"]
#: Which outcome is reported when no provider verified a fix: the one that got furthest.
STATUS_RANK = {"verified": 4, "rejected": 3, "unverifiable": 2, "no_proposal": 1, "no_source": 0}

#: The keys of `secai-runner fix --format json`, in order (a contract).
PUBLIC_KEYS = ("fingerprint", "tool", "rule_id", "path", "line", "provider", "status", "reason", "diff", "rationale")


@dataclass
class FixTask:
    id: int
    finding: Finding
    #: The file the finding points to, relative to --source (None when it points to none).
    path: str | None
    source: SourceFile | None = None
    #: Why the file cannot be used (refused, missing, binary, oversize).
    source_problem: str | None = None
    #: Only earlier fixes committed before this date may be recalled (an evaluation case's date).
    as_of: str | None = None


@dataclass
class Outcome:
    provider: str
    status: Status
    reason: str
    #: path -> edits of the original file (kept only for verified outcomes).
    changes: dict[str, list[LineEdit]] = field(default_factory=dict)
    rationale: str = ""
    #: Proposals tried, and which one (1-based) verified first.
    candidates: int = 0
    verified_at: int | None = None


@dataclass
class FixContext:
    settings: Settings
    source: SourceTree
    verifier: Verifier
    model: str | None = None
    adapter: Path | None = None
    progress: bool = False
    #: The team's earlier fixes, one recalled into each model prompt as an example.
    memory: FixMemory | None = None


class FixResult(BaseModel):
    fingerprint: str
    tool: str
    rule_id: str
    path: str | None
    line: int | None
    provider: str | None
    status: Status
    reason: str
    #: Unified diff against --source (verified fixes only; nothing unverified is ever shown).
    diff: str = ""
    rationale: str = ""
    candidates: int = 0
    verified_at: int | None = None
    #: Whether the edit is in fixes.patch (a verified fix that conflicts with another may not be).
    in_patch: bool = False
    #: The verified edits, per file (for training examples; not part of the public JSON).
    changes: dict[str, list[LineEdit]] = Field(default_factory=dict, exclude=True)

    def public(self) -> dict:
        return {k: getattr(self, k) for k in PUBLIC_KEYS}
