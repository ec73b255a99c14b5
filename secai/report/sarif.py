"""SARIF 2.1.0 export that GitHub code scanning accepts.

One run per tool; rules carry descriptions, help, tags (with CWE tags) and `security-severity`;
each result has a repo-relative location (a dependency finding gets its manifest line when the
checkout is at hand; other findings without a file get the report path, because GitHub rejects
results without one; snippets lose a scanner's line-number margin) and `partialFingerprints["secai/v1"]`.
Package and URL facts ride along in result `properties`, which secai's SARIF parser reads back.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections import OrderedDict
from typing import Any

from secai import __version__ as SECAI_VERSION
from secai.findings import Finding, Severity, assign_fingerprints
from secai.report.manifest import Locate

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.critical: "error",
    Severity.high: "error",
    Severity.medium: "warning",
    Severity.low: "note",
    Severity.info: "note",
}
# Representative CVSS-style scores; GitHub buckets them back into the same severities.
_SCORE = {
    Severity.critical: "9.5",
    Severity.high: "8.0",
    Severity.medium: "5.5",
    Severity.low: "2.0",
    Severity.info: "0.0",
}
_MAX_TEXT = 20_000


def safe_uri(path: str | None) -> str | None:
    """A relative, forward-slash URI with no `..`, no `file://`, no leading `/` or drive letter."""
    if not path:
        return None
    p = str(path).replace("\\", "/").strip()
    if p.lower().startswith("file://"):
        p = p[7:]
    if len(p) > 1 and p[1] == ":":
        p = p[2:]
    parts = [s for s in p.split("/") if s not in ("", ".", "..")]
    return "/".join(parts) or None


def _fallback_uri(f: Finding) -> str:
    """Where a finding without a file location points: the report it came from (basename when
    the report path is absolute, the entry name inside an artifact zip)."""
    src = f.source or ""
    if "!" in src:
        src = src.rsplit("!", 1)[1]
    elif src.startswith("/"):
        src = posixpath.basename(src)
    return safe_uri(src) or "secai-findings"


def _clip(text: str | None) -> str | None:
    if not text:
        return None
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _md(text: str | None) -> str | None:
    """Markdown for GitHub: untrusted text with HTML neutralised and no @-mentions."""
    if not text:
        return None
    return _clip(html.escape(text, quote=False).replace("@", "@\u200b"))


def _rule(f: Finding) -> dict:
    tags = ["security", f.category.value] + [f"external/cwe/cwe-{c:03d}" for c in f.cwe]
    rule: dict[str, Any] = {
        "id": f.rule_id,
        "name": f.rule_id,
        "shortDescription": {"text": _clip(f.title) or f.rule_id},
        "fullDescription": {"text": _clip(f.description or f.title) or f.rule_id},
        "defaultConfiguration": {"level": _LEVEL[f.severity]},
        "properties": {"tags": tags, "security-severity": _SCORE[f.severity], "precision": "high"},
    }
    help_text = f.remediation or f.description or f.title
    rule["help"] = {"text": _clip(help_text) or f.rule_id, "markdown": _md(help_text) or f.rule_id}
    if f.references:
        rule["helpUri"] = f.references[0]
    return rule


_NUMBERED = re.compile(r"^(\d+)(?: |\t|$)")


def clean_snippet(text: str, start: int | None = None) -> str:
    """A snippet without the line-number margin some scanners put in it (bandit: `12 code`): removed
    only when every line carries consecutive numbers (from `start`, when known)."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    nums = [_NUMBERED.match(ln) for ln in lines]
    if not lines or not all(nums):
        return text
    first = int(nums[0].group(1))
    if any(int(m.group(1)) != first + i for i, m in enumerate(nums)):
        return text
    if start is not None and not first <= start < first + len(lines):
        return text
    return "\n".join(ln[m.end() :] for ln, m in zip(lines, nums))


def _location(f: Finding, locate: Locate | None = None) -> dict:
    loc = f.location
    if f.package and locate is not None and (not loc or not loc.start_line):
        found = locate(f)
        if found and safe_uri(found[0]):
            region = {"startLine": found[1], "endLine": found[1]}
            return {"physicalLocation": {"artifactLocation": {"uri": safe_uri(found[0])}, "region": region}}
    uri = safe_uri(loc.path) if loc else None
    start = loc.start_line if loc and loc.start_line and loc.start_line >= 1 else 1
    end = loc.end_line if loc and loc.end_line and loc.end_line >= start else start
    region: dict[str, Any] = {"startLine": start, "endLine": end}
    if loc and loc.start_line and loc.start_column and loc.start_column >= 1:
        region["startColumn"] = loc.start_column  # one rule at two columns of a line: two results
    if loc and uri and loc.snippet:
        region["snippet"] = {"text": _clip(clean_snippet(loc.snippet, loc.start_line))}
    return {"physicalLocation": {"artifactLocation": {"uri": uri or _fallback_uri(f)}, "region": region}}


def _message(f: Finding) -> str:
    text = f.message or f.title or f.rule_id
    if f.package and f.package.name not in text:
        text = f"{f.package.name} {f.package.version or ''}: {text}"
    return _clip(text) or f.rule_id


def _result(f: Finding, rule_index: int, locate: Locate | None = None) -> dict:
    props: dict[str, Any] = {"category": f.category.value, "severity": f.severity.value}
    if f.vulnerability_ids:
        props["vulnerability_ids"] = f.vulnerability_ids
    if f.cwe:
        props["cwe"] = [f"CWE-{c}" for c in f.cwe]
    if f.package:
        props["package"] = f.package.model_dump(exclude_none=True)
    if f.url:
        props["url"] = f.url
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[f.severity],
        "message": {"text": _message(f)},
        "locations": [_location(f, locate)],
        "partialFingerprints": {"secai/v1": f.fingerprint},
        "properties": props,
    }
    if f.suppressed:
        result["suppressions"] = [{"kind": "external"}]
    return result


def to_sarif(findings: list[Finding], locate: Locate | None = None) -> dict:
    """SARIF 2.1.0 for `findings` (one run per tool, in order of first appearance). `locate`
    (`secai.report.manifest.locator`) points dependency findings at their manifest line."""
    findings = list(findings)
    if any(not f.fingerprint for f in findings):
        findings = assign_fingerprints([f.model_copy(deep=True) for f in findings])
    by_tool: OrderedDict[str, list[Finding]] = OrderedDict()
    for f in findings:
        by_tool.setdefault(f.tool, []).append(f)
    runs = []
    for tool, items in by_tool.items():
        rules: list[dict] = []
        index: dict[str, int] = {}
        results = []
        for f in items:
            if f.rule_id not in index:
                index[f.rule_id] = len(rules)
                rules.append(_rule(f))
            results.append(_result(f, index[f.rule_id], locate))
        driver: dict[str, Any] = {"name": tool, "rules": rules}
        version = next((f.tool_version for f in items if f.tool_version), None)
        if version:
            driver["version"] = version
        runs.append(
            {
                "tool": {"driver": driver},
                "automationDetails": {"id": f"secai/{tool}/"},
                "results": results,
                "properties": {"converter": f"secai {SECAI_VERSION}"},
            }
        )
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": runs}
