"""From what a team wrote or clicked to a verdict (docs/triage.md, "Verdict mapping").

Explicit fields decide first: a code scanning alert's `dismissed_reason` ("false positive" and
"used in tests" -> false positive, "won't fix" -> accepted risk) or `fixed` state (true positive),
a detect-secrets audit (`is_secret: false` -> false positive), a VEX `not_affected` status. Free
text (a SARIF justification, a Trivy statement, a marker's reason) is read with one small keyword
rule: words that say the finding is not real (`false positive`, `not a secret`, `test fixture`,
`not exploitable`, ...) make it a false positive; any other suppression is an accepted risk.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from secai.ingest.redact import redact_text
from secai.triage.labels import Verdict

#: Reason texts are capped at this many characters.
MAX_REASON = 300

_NOT_REAL = re.compile(
    r"false[\s_-]?positive|\bfp\b"
    r"|\bnot\s+(?:an?\s+)?(?:real|actual|valid|sensitive|secret|credential|password|token|key|vulnerab\w*"
    r"|issue|problem|security|exploitable|reachable|user[\s-]?(?:input|controlled))\b"
    r"|\bnon[\s-]?(?:security|cryptographic|sensitive|secret)\b"
    r"|\b(?:used\s+)?(?:in|for)\s+(?:the\s+)?tests?\b|\btests?[\s-]?(?:only|fixtures?|data|code|files?)\b"
    r"|\bunreachable\b|\bdead\s+code\b|\bplaceholder\b|\bdummy\b|\bfake\b",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]+")


def says_not_real(text: str | None) -> bool:
    """The keyword rule: does the text say the finding is not a real problem?"""
    return bool(text) and _NOT_REAL.search(text) is not None


def from_justification(text: str | None) -> Verdict:
    """A suppression's verdict from its justification (empty: a decision not to act)."""
    return "false positive" if says_not_real(text) else "accepted risk"


#: GitHub code scanning `dismissed_reason` values.
DISMISSED: dict[str, Verdict] = {
    "false positive": "false positive",
    "used in tests": "false positive",
    "won't fix": "accepted risk",
}


def from_alert(state: str | None, dismissed_reason: str | None, comment: str | None = None) -> Verdict | None:
    """A code scanning alert's verdict: None while it is open (nothing decided)."""
    if state == "fixed":
        return "true positive"
    if state == "dismissed":
        reason = (dismissed_reason or "").strip().lower()
        return DISMISSED.get(reason) or from_justification(comment)
    return None


def clean_reason(text: str | None) -> str:
    """The team's words as a label reason: one line, secrets redacted, capped."""
    if not text:
        return ""
    one_line = " ".join(_CONTROL.sub(" ", str(text)).split())
    red = redact_text(one_line[: MAX_REASON * 2]) or ""
    return red if len(red) <= MAX_REASON else red[: MAX_REASON - 1].rstrip() + "…"


def parse_date(text: str | None) -> datetime | None:
    """An ISO 8601 date or time (any offset) as an aware UTC datetime; None when absent or bad."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
