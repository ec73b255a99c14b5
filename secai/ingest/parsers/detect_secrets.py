"""detect-secrets baseline JSON (`detect-secrets scan`): `results{file: [secret, ...]}`.

A baseline stores only a SHA-1 of each secret (`hashed_secret`), never the value, so there is
nothing to redact; the hash is kept in `extra`. Secrets marked `is_secret: false` during
`detect-secrets audit` are kept and flagged suppressed.
"""

from __future__ import annotations

from typing import Any

from secai.errors import ParseError
from secai.findings import Category, Finding, Severity, build_finding
from secai.ingest.parsers._values import positive_int
from secai.ingest.parsers.base import Findings

NAME = "detect-secrets"
KIND = "json"


def detect(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("results"), dict)
        and "plugins_used" in doc
        and "generated_at" in doc
    )


def parse(doc: Any, source: str) -> Findings:
    version = doc.get("version") if isinstance(doc.get("version"), str) else None
    found = Findings()
    for file_name, secrets in doc["results"].items():
        if not isinstance(secrets, list):
            found.skipped.append(f"results[{file_name[:100]!r}]: not a list")
            continue
        for i, s in enumerate(secrets):
            with found.item(f"results[{file_name[:100]!r}][{i}]"):
                found.append(_finding(s, file_name, version, source))
    return found


def _finding(s: Any, file_name: str, version: str | None, source: str) -> Finding:
    if not isinstance(s, dict) or not isinstance(s.get("type"), str):
        raise ParseError(source, "detect-secrets result has no type")
    kind = s["type"]
    path = s["filename"] if isinstance(s.get("filename"), str) and s["filename"] else file_name
    line = positive_int(s.get("line_number"))
    extra: dict[str, Any] = {}
    if isinstance(s.get("hashed_secret"), str):
        extra["hashed_secret"] = s["hashed_secret"]
    if isinstance(s.get("is_verified"), bool):
        extra["is_verified"] = s["is_verified"]
    return build_finding(
        {
            "tool": "detect-secrets",
            "tool_version": version,
            "rule_id": kind,
            "title": kind,
            # detect-secrets has no severity; a committed secret is treated as high.
            "severity": Severity.high,
            "category": Category.secret,
            "location": {"path": path, "start_line": line, "end_line": line},
            "message": f"{kind} found in {path}" + (f":{line}" if line else ""),
            "suppressed": s.get("is_secret") is False,
            "source": source,
            "extra": extra,
        }
    )
