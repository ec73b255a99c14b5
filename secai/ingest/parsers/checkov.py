"""Checkov JSON: one object, or a list with one object per check type. Failed checks are findings;
skipped checks (a `#checkov:skip=ID:reason` in the code, reason in `check_result.suppress_comment`)
are kept and flagged suppressed, as Checkov's SARIF lists them; passed checks are not findings.

Checkov's open-source runs leave `severity` null (severities come from the Prisma platform); like
DefectDojo we then report medium, and keep the raw value (None) so nobody mistakes it for a
scanner verdict.
"""

from __future__ import annotations

from typing import Any

from secai.errors import ParseError
from secai.findings import Category, Finding, Severity, build_finding, cwe_ids, severity_from_text, unique
from secai.ingest.parsers._values import repo_relative
from secai.ingest.parsers.base import Findings

NAME = "checkov-json"
KIND = "json"
PRIORITY = 50


def _is_report(d: Any) -> bool:
    if not isinstance(d, dict) or "check_type" not in d:
        return False
    # a check type with nothing to scan has a summary and no results
    return isinstance(d.get("results"), dict) or ("summary" in d and "results" not in d)


def _is_summary(d: Any) -> bool:
    """What Checkov writes when it found nothing to scan: the summary counts alone."""
    return isinstance(d, dict) and "checkov_version" in d and "passed" in d and "failed" in d and "results" not in d


def detect(doc: Any) -> bool:
    if isinstance(doc, list):
        return bool(doc) and all(_is_report(d) or _is_summary(d) for d in doc)
    return _is_report(doc) or _is_summary(doc)


def parse(doc: Any, source: str) -> Findings:
    reports = doc if isinstance(doc, list) else [doc]
    found = Findings()
    for n, report in enumerate(reports):
        with found.item(f"check type {n}"):
            if not isinstance(report, dict):
                raise ParseError(source, "Checkov report entry is not an object")
            if _is_summary(report):
                continue
            summary = report.get("summary")
            version = summary.get("checkov_version") if isinstance(summary, dict) else None
            check_type = str(report.get("check_type") or "")
            results = report.get("results") or {}
            if not isinstance(results, dict):
                raise ParseError(source, f"Checkov {check_type} results is not an object")
            for key, suppressed in (("failed_checks", False), ("skipped_checks", True)):
                checks = results.get(key) or []
                if not isinstance(checks, list):
                    raise ParseError(source, f"Checkov {check_type} {key} is not an array")
                for i, check in enumerate(checks):
                    with found.item(f"{check_type} {key}[{i}]"):
                        found.append(_finding(check, check_type, version, source, suppressed))
    return found


def _finding(check: Any, check_type: str, version: Any, source: str, suppressed: bool) -> Finding:
    if not isinstance(check, dict) or not check.get("check_id"):
        raise ParseError(source, f"Checkov {check_type} check lacks check_id")
    check_id = str(check["check_id"])
    name = str(check.get("check_name") or check_id)
    resource = check.get("resource")
    path = check.get("repo_file_path") or check.get("file_path")
    lines = check.get("file_line_range")
    start = end = None
    if (
        isinstance(lines, list)
        and len(lines) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in lines)
    ):
        start, end = (lines[0] or None), (lines[1] or None)
        if start and (not end or end < start):
            end = start
    location = None
    if isinstance(path, str) and path.strip():
        location = {"path": repo_relative(path).lstrip("/"), "start_line": start, "end_line": end}
    guideline = check.get("guideline") if isinstance(check.get("guideline"), str) else None
    raw = check.get("severity")
    extra: dict[str, Any] = {"check_type": check_type}
    for key in ("bc_check_id", "check_class", "bc_category"):
        if isinstance(check.get(key), str):
            extra[key] = check[key]
    if isinstance(resource, str):
        extra["resource"] = resource
    reason = check.get("check_result")
    reason = reason.get("suppress_comment") if isinstance(reason, dict) else None
    if suppressed and isinstance(reason, str) and reason.strip():
        extra["suppress_comment"] = reason.strip()[:500]
    return build_finding(
        {
            "tool": "checkov",
            "tool_version": str(version) if version else None,
            "rule_id": check_id,
            "title": name,
            "severity": severity_from_text(raw, Severity.medium),
            "raw_severity": str(raw) if raw is not None else None,
            "category": Category.iac,
            "cwe": cwe_ids(check.get("cwe")),
            "location": location,
            "message": f"{name}" + (f" (resource {resource})" if resource else ""),
            "remediation": f"See the Checkov guideline: {guideline}" if guideline else None,
            "references": unique([guideline]),
            "suppressed": suppressed,
            "source": source,
            "extra": extra,
        }
    )
