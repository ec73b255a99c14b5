"""Gitleaks JSON: v8 (`RuleID`, `File`, `StartLine`, `Secret`, `Match`, ...) and the legacy v7
format (`rule`, `file`, `lineNumber`, `offender`, `line`, ...).

The secret value and the matched line never leave the parser: they go to `extra["_secrets"]`,
which the registry redacts from every field and then drops. Only `extra["secret_sha256"]` stays,
so equal secrets remain countable. The same rule, file, line and secret found in several commits
is one finding (the commits are listed in `extra["commits"]`).
"""

from __future__ import annotations

from typing import Any

from secai.findings import Category, Finding, Severity, build_finding
from secai.ingest.parsers._values import positive_int, str_unstripped_or_none
from secai.ingest.parsers.base import Findings
from secai.ingest.redact import secret_hash

NAME = "gitleaks"
KIND = "json"

# What gitleaks writes in place of the value when run with --redact.
_SCANNER_REDACTED = "REDACTED"


def _is_v8(item: Any) -> bool:
    return isinstance(item, dict) and "RuleID" in item and "File" in item


def _is_legacy(item: Any) -> bool:
    return isinstance(item, dict) and "rule" in item and "offender" in item and "file" in item


def detect(doc: Any) -> bool:
    if not isinstance(doc, list) or not doc:
        return False
    head = doc[:5]
    return all(_is_v8(i) for i in head) or all(_is_legacy(i) for i in head)


def _fields(item: dict) -> dict[str, Any]:
    """The v8 and legacy layouts mapped onto one set of names."""
    if _is_v8(item):
        return {
            "rule": str_unstripped_or_none(item.get("RuleID")),
            "title": str_unstripped_or_none(item.get("Description")),
            "file": str_unstripped_or_none(item.get("File")),
            "start": positive_int(item.get("StartLine")),
            "column": positive_int(item.get("StartColumn")),
            "end": positive_int(item.get("EndLine")),
            "secret": str_unstripped_or_none(item.get("Secret")),
            "match": str_unstripped_or_none(item.get("Match")),
            "commit": str_unstripped_or_none(item.get("Commit")),
            "date": str_unstripped_or_none(item.get("Date")),
            "fingerprint": str_unstripped_or_none(item.get("Fingerprint")),
            "link": str_unstripped_or_none(item.get("Link")),
            "entropy": item.get("Entropy"),
            "tags": item.get("Tags"),
        }
    if _is_legacy(item):
        return {
            "rule": str_unstripped_or_none(item.get("rule")),
            "title": str_unstripped_or_none(item.get("rule")),
            "file": str_unstripped_or_none(item.get("file")),
            "start": positive_int(item.get("lineNumber")),
            "column": None,
            "end": None,
            "secret": str_unstripped_or_none(item.get("offender")),
            "match": str_unstripped_or_none(item.get("line")),
            "commit": str_unstripped_or_none(item.get("commit")),
            "date": str_unstripped_or_none(item.get("date")),
            "fingerprint": None,
            "link": str_unstripped_or_none(item.get("leakURL")),
            "entropy": None,
            "tags": item.get("tags"),
        }
    raise ValueError("entry is neither a gitleaks v8 nor a legacy gitleaks finding")


def _finding(f: dict[str, Any], source: str) -> Finding:
    if not f["rule"] or not f["file"]:
        raise ValueError("gitleaks finding without rule or file")
    secret = f["secret"]
    values = [v for v in (secret, f["match"]) if v and v.strip() != _SCANNER_REDACTED]
    redacted_by_scanner = bool(secret) and secret.strip() == _SCANNER_REDACTED
    extra: dict[str, Any] = {"_secrets": values}
    if secret and not redacted_by_scanner:
        extra["secret_sha256"] = secret_hash(secret)
    if redacted_by_scanner:
        extra["redacted_by_scanner"] = True
    for key in ("fingerprint", "link", "date"):
        if f[key]:
            extra[key] = f[key]
    if f["commit"]:
        extra["commits"] = [f["commit"]]
    if isinstance(f["tags"], (str, list)) and f["tags"] not in ("", "[]", []):
        extra["tags"] = f["tags"]
    if isinstance(f["entropy"], (int, float, str)) and str(f["entropy"]) not in ("", "0"):
        extra["entropy"] = str(f["entropy"])
    start = f["start"]
    end = f["end"] if f["end"] and start and f["end"] >= start else start
    title = f["title"] or f["rule"]
    return build_finding(
        {
            "tool": "gitleaks",
            "rule_id": f["rule"],
            "title": title,
            # Gitleaks has no severity; a committed secret is treated as high (as DefectDojo does).
            "severity": Severity.high,
            "category": Category.secret,
            "location": {"path": f["file"], "start_line": start, "end_line": end, "start_column": f["column"]},
            "message": f"{title} found in {f['file']}" + (f":{start}" if start else ""),
            "source": source,
            "extra": extra,
        }
    )


def parse(doc: Any, source: str) -> Findings:
    found = Findings()
    merged: dict[tuple, Finding] = {}
    for i, item in enumerate(doc):
        with found.item(f"[{i}]"):
            if not isinstance(item, dict):
                raise ValueError("entry is not an object")
            f = _finding(_fields(item), source)
            loc = f.location
            key = (f.rule_id, loc.path if loc else "", loc.start_line if loc else None, f.extra.get("secret_sha256"))
            if key in merged:
                _merge(merged[key], f)
            else:
                merged[key] = f
    found.extend(merged.values())
    return found


def _merge(keep: Finding, other: Finding) -> None:
    """The same secret found again in another commit."""
    commits = keep.extra.get("commits", [])
    commits = commits + [c for c in other.extra.get("commits", []) if c not in commits]
    if commits:
        keep.extra["commits"] = commits
    keep.extra["_secrets"] = list(dict.fromkeys(keep.extra["_secrets"] + other.extra["_secrets"]))
