"""Detect instruction-like text in finding fields (prompt injection / training-data poisoning).

Finding text comes from files a pull request can influence. Text that addresses a model ("ignore
previous instructions", chat role markers, "you are now ...") is flagged: the dataset keeps such
findings out of train/valid by default and the PR report marks them. Detection never changes the
text; callers decide what to do with the reasons.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from pydantic import BaseModel, Field

# (reason, pattern). Patterns run on NFKC-normalized, lower-cased text with zero-width characters
# removed, so full-width or zero-width-split variants match too.
_RULES: list[tuple[str, re.Pattern]] = [
    (
        "asks to ignore earlier instructions",
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass|skip)\b[\s\w,'-]{0,40}?"
            r"\b(?:previous|prior|above|earlier|preceding|all|any|the|your|system)\b[\s\w,'-]{0,30}?"
            r"\b(?:instructions?|prompts?|rules?|directions?|guidelines?|context|messages?)\b"
        ),
    ),
    (
        "chat role marker",
        re.compile(
            r"<\|\s*(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id)\s*\|>"
            r"|\[/?inst\]|<</?sys>>|<start_of_turn>|<end_of_turn>"
        ),
    ),
    (
        "role heading",
        re.compile(
            r"#{1,6}\s*(?:system|assistant|user|human|instructions?|response)\s*(?:prompt)?\s*:"
            r"|^\s*(?:system|assistant)\s*(?:prompt)?\s*:\s*(?:you|ignore|from\s+now)\b",
            re.M,
        ),
    ),
    (
        "assigns the model a new role",
        re.compile(
            r"\byou\s+are\s+(?:now|no\s+longer)\b|\bfrom\s+now\s+on\s*,?\s+you\b|\bact\s+as\s+(?:an?\s+)?(?:ai|assistant|model|dan|jailbroken)\b|\bpretend\s+(?:to\s+be|you\s+are)\b"
        ),
    ),
    (
        "addresses an AI model",
        re.compile(
            r"\b(?:as\s+an?\s+(?:ai|language\s+model|llm)|dear\s+(?:ai|assistant|model|llm)|"
            r"(?:ai|llm|model|assistant)\s*[,:]\s*(?:please\s+)?(?:ignore|say|respond|reply|output|print|mark|classify))\b"
        ),
    ),
    (
        "dictates the answer",
        re.compile(
            r"\b(?:respond|reply|answer|output|say|print|write)\s+(?:only\s+)?(?:with\s+)?"
            r"[\"'`]?(?:false\s+positive|not\s+(?:a\s+)?vulnerab|safe|no\s+issues?|lgtm|approved?)"
            r"|\b(?:mark|classify|treat|report)\s+(?:this|it|the)(?:\s+(?:finding|issue|alert|result))?\s+as\s+(?:a\s+)?(?:false\s+positive|safe|benign|not\s+vulnerable)"
        ),
    ),
    (
        "reveals the system prompt",
        re.compile(r"\b(?:reveal|print|show|repeat|leak)\s+(?:your|the)\s+(?:system\s+)?(?:prompt|instructions)\b"),
    ),
    ("jailbreak wording", re.compile(r"\bjailbr(?:eak|oken)\b|\bdeveloper\s+mode\b|\bdo\s+anything\s+now\b")),
]

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)

#: Finding fields that carry free text a pull request can influence.
TEXT_FIELDS = ("title", "message", "description", "remediation", "rule_id", "url")


class InjectionReport(BaseModel):
    flagged: bool = False
    #: "field: reason" strings, one per matching rule and field.
    reasons: list[str] = Field(default_factory=list)


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).lower()


def detect_text(text: str | None) -> list[str]:
    """Reasons the text looks like instructions to a model (empty when it does not)."""
    if not text:
        return []
    norm = normalize(text)
    return [reason for reason, rx in _RULES if rx.search(norm)]


def _finding_texts(finding) -> Iterable[tuple[str, str]]:
    for name in TEXT_FIELDS:
        value = getattr(finding, name, None)
        if value:
            yield name, str(value)
    if finding.location is not None:
        yield "location.path", finding.location.path
        if finding.location.snippet:
            yield "location.snippet", finding.location.snippet
    if finding.package is not None:
        yield "package.name", finding.package.name
    for i, ref in enumerate(finding.references):
        yield f"references[{i}]", ref
    for i, inst in enumerate(finding.instances):
        for attr in ("evidence", "attack", "param"):
            value = getattr(inst, attr)
            if value:
                yield f"instances[{i}].{attr}", value


def scan_finding(finding) -> InjectionReport:
    """Check every free-text field of a finding."""
    reasons: list[str] = []
    for name, text in _finding_texts(finding):
        for reason in detect_text(text):
            item = f"{name}: {reason}"
            if item not in reasons:
                reasons.append(item)
    return InjectionReport(flagged=bool(reasons), reasons=reasons)
