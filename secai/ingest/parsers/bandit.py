"""Bandit JSON (`bandit -f json`): `results[]` next to `metrics` and `generated_at`."""

from __future__ import annotations

from typing import Any

from secai.findings import Category, Finding, build_finding, cwe_ids, severity_from_text
from secai.ingest.parsers._values import positive_int, str_or_none
from secai.ingest.parsers.base import Findings

NAME = "bandit"
KIND = "json"


def detect(doc: Any) -> bool:
    if not (
        isinstance(doc, dict) and isinstance(doc.get("results"), list) and "metrics" in doc and "generated_at" in doc
    ):
        return False
    first = doc["results"][0] if doc["results"] else None
    return first is None or (isinstance(first, dict) and "test_id" in first)


def _finding(r: Any, source: str) -> Finding:
    if not isinstance(r, dict):
        raise ValueError("result is not an object")
    test_id, filename = str_or_none(r.get("test_id")), str_or_none(r.get("filename"))
    if not test_id or not filename:
        raise ValueError("result without test_id or filename")
    text = str_or_none(r.get("issue_text")) or test_id
    line = positive_int(r.get("line_number"))
    line_range = r.get("line_range")
    lines = filter(None, map(positive_int, line_range)) if isinstance(line_range, list) else ()
    end = max([line or 0, *lines]) or None
    cwe = r.get("issue_cwe")
    if not isinstance(cwe, dict):
        cwe = {}
    raw = str_or_none(r.get("issue_severity"))
    extra = {}
    if confidence := str_or_none(r.get("issue_confidence")):
        extra["confidence"] = confidence
    if test_name := str_or_none(r.get("test_name")):
        extra["test_name"] = test_name
    col_offset = r.get("col_offset")
    if isinstance(col_offset, int) and not isinstance(col_offset, bool):
        extra["col_offset"] = col_offset
    column = (
        col_offset + 1 if isinstance(col_offset, int) and not isinstance(col_offset, bool) and col_offset >= 0 else None
    )
    return build_finding(
        {
            "tool": "bandit",
            "rule_id": test_id,
            "title": text,
            "severity": severity_from_text(raw),
            "raw_severity": raw,
            "category": Category.code,
            "cwe": cwe_ids(cwe.get("id")),
            "location": {
                "path": filename,
                "start_line": line,
                "end_line": end,
                "start_column": column,  # bandit's col_offset counts from 0, SARIF columns from 1
                "snippet": str_or_none(r.get("code")),
            },
            "message": text,
            "references": list(filter(None, (str_or_none(r.get("more_info")), str_or_none(cwe.get("link"))))),
            "source": source,
            "extra": extra,
        }
    )


def parse(doc: Any, source: str) -> Findings:
    # DefectDojo keeps every result; exact repeats (bandit reports some twice) are merged later by
    # the ingest-wide dedupe, which sees all reports at once.
    found = Findings()
    for i, r in enumerate(doc["results"]):
        with found.item(f"results[{i}]"):
            found.append(_finding(r, source))
    return found
