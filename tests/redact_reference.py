"""The redaction patterns as they were written for Python's backtracking `re` engine before they moved
to RE2: a reference that the RE2 patterns must agree with, text for text (tests only; the
assignment pattern is super-linear, so only ever feed it short texts)."""

from __future__ import annotations

import re

from secai.ingest.redact import TOKEN_PATTERNS, redaction_marker

_TOKEN_RE = re.compile("|".join(f"(?:{p})" for p in TOKEN_PATTERNS).replace(r"|\n?\z)", "|$)"))
_ASSIGN_RE = re.compile(
    r"""(?ix)
    (\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret)s?(?:[_.-][\w.-]*)?\b
     \s*[:=]\s*["']?)
    ([^\s"'`,;]{6,})
    """
)


def _assign(m: re.Match) -> str:
    value = m.group(2)
    if value.startswith("[REDACTED"):
        return m.group(0)
    return m.group(1) + redaction_marker(value)


def reference_redact(text: str) -> str:
    text = _TOKEN_RE.sub(lambda m: redaction_marker(m.group(0)), text)
    return _ASSIGN_RE.sub(_assign, text)
