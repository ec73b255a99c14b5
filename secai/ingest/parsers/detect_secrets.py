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

NAME = "detect-secrets"
KIND = "json"


def detect(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("results"), dict)
        and "plugins_used" in doc
        and "generated_at" in doc
    )


def parse(doc: Any, source: str) -> list[Finding]:
    version = doc.get("version") if isinstance(doc.get("version"), str) else None
    findings = []
    for file_name, secrets in doc["results"].items():
        if not isinstance(secrets, list):
            raise ParseError(source, f"detect-secrets results for {file_name!r} are not a list")
        for s in secrets:
            if not isinstance(s, dict) or not isinstance(s.get("type"), str):
                raise ParseError(source, f"detect-secrets result in {file_name!r} has no type")
            kind = s["type"]
            path = s.get("filename") if isinstance(s.get("filename"), str) and s.get("filename") else file_name
            line = positive_int(s.get("line_number"))
            extra: dict[str, Any] = {}
            if isinstance(s.get("hashed_secret"), str):
                extra["hashed_secret"] = s["hashed_secret"]
            if isinstance(s.get("is_verified"), bool):
                extra["is_verified"] = s["is_verified"]
            findings.append(
                build_finding(
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
            )
    return findings
