"""The one redaction layer. Every finding passes through `redact_finding` at ingest, before it is
stored, analyzed, trained on, commented or uploaded; logs pass through `secai.log.mask_tokens`.

A secret is replaced by `[REDACTED:<first 12 hex of its sha256>]`, so equal secrets stay
recognisable (and countable) without the value ever being kept.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from secai.log import known_tokens

# Common token formats (provider prefixes are distinctive enough to redact in any text).
_TOKEN_PATTERNS = [
    r"gh[pousr]_[A-Za-z0-9]{30,255}",
    r"github_pat_[A-Za-z0-9_]{40,255}",
    r"hf_[A-Za-z0-9]{30,}",
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}",
    r"xox[abposr]-[A-Za-z0-9-]{10,}",
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    r"sk_live_[A-Za-z0-9]{20,}",
    r"rk_live_[A-Za-z0-9]{20,}",
    r"AIza[0-9A-Za-z_-]{35}",
    r"glpat-[A-Za-z0-9_-]{20,}",
    r"npm_[A-Za-z0-9]{36}",
    r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
    r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
    r"-----BEGIN[ A-Z]*PRIVATE KEY-----[\s\S]*?(?:-----END[ A-Z]*PRIVATE KEY-----|$)",
]
_TOKEN_RE = re.compile("|".join(f"(?:{p})" for p in _TOKEN_PATTERNS))
# `password = "hunter2"`-style assignments: keep the key, redact the value.
_ASSIGN_RE = re.compile(
    r"""(?ix)
    (\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret)[\w.-]*\b
     \s*[:=]\s*["']?)
    ([^\s"'`,;]{6,})
    """
)
_REDACTED_RE = re.compile(r"\[REDACTED:[0-9a-f]{12}\]")


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def placeholder(value: str) -> str:
    return f"[REDACTED:{secret_hash(value)[:12]}]"


_TOKEN_HINT = re.compile(r"gh[pousr]_|github_pat_|hf_|A[KSGIR][A-Z]{2}[A-Z0-9]{16}|xox|[sr]k[-_]|AIza|glpat-|npm_|pypi-|SG\.|eyJ|-----BEGIN")
_ASSIGN_HINTS = ("pass", "pwd", "secret", "token", "key")


def redact_text(text: str | None, secrets: list[str] | tuple[str, ...] = ()) -> str | None:
    """Redact the given secret values, known tokens from the environment, and token-like strings."""
    return _redact(text, _secret_list(secrets))


def _secret_list(secrets) -> list[str]:
    return sorted({s for s in (*secrets, *known_tokens()) if s and len(s) >= 4}, key=len, reverse=True)


def _assign(m: re.Match) -> str:
    value = m.group(2)
    if _REDACTED_RE.fullmatch(value) or value.startswith("[REDACTED"):
        return m.group(0)
    return m.group(1) + placeholder(value)


def _redact(text: str | None, secrets: list[str]) -> str | None:
    if not text:
        return text
    for s in secrets:
        if s in text:
            text = text.replace(s, placeholder(s))
    # Cheap checks first: most finding text holds no token and no assignment.
    if _TOKEN_HINT.search(text):
        text = _TOKEN_RE.sub(lambda m: placeholder(m.group(0)), text)
    low = text.lower()
    if any(h in low for h in _ASSIGN_HINTS):
        text = _ASSIGN_RE.sub(_assign, text)
    return text


def _walk(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return _redact(value, secrets)
    if isinstance(value, list):
        return [_walk(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, secrets) for k, v in value.items()}
    return value


def redact_finding(finding, secrets: list[str] | None = None):
    """Redact every text field of a Finding in place and return it.

    `secrets` are values a scanner reported as matched secrets; parsers of secret scanners pass
    them here (or set `extra['secret_sha256']` and never keep the value at all).
    """
    secrets = _secret_list(secrets or [])
    for field in ("title", "message", "description", "remediation", "url"):
        setattr(finding, field, _walk(getattr(finding, field), secrets))
    finding.references = _walk(finding.references, secrets)
    finding.extra = _walk(finding.extra, secrets)
    if finding.location and finding.location.snippet:
        finding.location.snippet = _redact(finding.location.snippet, secrets)
    for inst in finding.instances:
        inst.evidence = _redact(inst.evidence, secrets)
        inst.attack = _redact(inst.attack, secrets)
        inst.url = _redact(inst.url, secrets) or inst.url
    return finding
