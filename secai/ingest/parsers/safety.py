"""Safety 1.x `safety check --json`: a list of vulnerable requirements, each a row
``[name, vulnerable_spec, installed_version, advisory, vulnerability_id, cvssv2, cvssv3]``
(the two CVSS columns are absent in older releases and null without an API key).

Safety 1.x runs fully offline against the PyUp database shipped in the `safety-db` package, which
is why it is the Python dependency scanner of `examples/regenerate.sh`.

- One finding per row; the rule id is the PyUp advisory id (`pyup.io-38100`), and CVE ids are
  those the advisory text names (the report carries no other).
- The report has no fixed version. An exclusive upper bound of the vulnerable spec (`<5.3.1`) is
  the first release outside the vulnerable range, so it is the fixed version; an inclusive bound
  (`<=2.19.1`) names no fix, and none is invented.
- Severity comes from a CVSS v3 (else v2) base score when present; otherwise it is `medium`, as
  DefectDojo does for Safety, and the raw severity stays empty.
"""

from __future__ import annotations

import re
from typing import Any

from secai.errors import ParseError
from secai.findings import Category, Finding, Severity, build_finding, severity_from_score, unique, vuln_ids_in
from secai.ingest.parsers.base import Findings
from secai.ingest.versions import smallest_fix_above

NAME = "safety"
KIND = "json"

_SPEC_START = re.compile(r"^\s*(?:[<>=!~]=?|===)\s*\d")
_UPPER_EXCLUSIVE = re.compile(r"(?:^|,)\s*<\s*([0-9][0-9A-Za-z.+!-]*)\s*(?=,|$)")
_BRANCHES = re.compile(r"\|\|?")
_SENTENCE_END = re.compile(r"[.!?]\s")


def _is_row(item: Any) -> bool:
    return (
        isinstance(item, list)
        and 5 <= len(item) <= 7
        and all(isinstance(v, str) for v in item[:5])
        and bool(_SPEC_START.match(item[1]))
    )


def detect(doc: Any) -> bool:
    return isinstance(doc, list) and bool(doc) and all(_is_row(i) for i in doc[:5])


def _fixed_versions(spec: str) -> list[str]:
    """`>=2.2,<2.2.10` -> ['2.2.10']; several ranges may be joined with `|` or `||`."""
    out = []
    for branch in _BRANCHES.split(spec):
        out += _UPPER_EXCLUSIVE.findall(branch.replace(" ", ""))
    return unique(out)


def _base_score(cvss: Any) -> tuple[float, str] | None:
    if not isinstance(cvss, dict):
        return None
    score = cvss.get("base_score")
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        return None
    raw = cvss.get("base_severity")
    return float(score), str(raw) if isinstance(raw, str) and raw else str(score)


def _first_sentence(text: str, limit: int = 160) -> str:
    text = text.strip()
    end = _SENTENCE_END.search(text)
    sentence = text[: end.start() + 1] if end else text
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def parse(doc: Any, source: str) -> Findings:
    found = Findings()
    for index, row in enumerate(doc):
        with found.item(f"row {index}"):
            found.append(_finding(index, row, source))
    return found


def _finding(index: int, row: Any, source: str) -> Finding:
    if not _is_row(row):
        raise ParseError(source, f"safety row {index} is not [name, spec, version, advisory, id, ...]")
    name, spec, installed, advisory, vuln_id = (v.strip() for v in row[:5])
    if not name or not vuln_id:
        raise ParseError(source, f"safety row {index} has no package name or advisory id")
    cvss = [
        s for s in (_base_score(row[6]) if len(row) > 6 else None, _base_score(row[5]) if len(row) > 5 else None) if s
    ]
    if cvss:
        score, raw = cvss[0]
        severity, raw_severity = severity_from_score(score), raw
    else:
        severity, raw_severity = Severity.medium, None
    rule_id = vuln_id if vuln_id.startswith("pyup.io-") else f"pyup.io-{vuln_id}"
    return build_finding(
        {
            "tool": "safety",
            "rule_id": rule_id,
            "title": f"{name} {installed}: {_first_sentence(advisory)}"
            if advisory
            else f"{name} {installed} is vulnerable ({spec})",
            "severity": severity,
            "raw_severity": raw_severity,
            "category": Category.dependency,
            "vulnerability_ids": vuln_ids_in(advisory),
            "package": {
                "ecosystem": "PyPI",
                "name": name,
                "version": installed or None,
                "fixed_versions": smallest_fix_above(installed or None, _fixed_versions(spec), "pypi"),
            },
            "message": advisory,
            "extra": {"vulnerable_spec": spec},
        }
    )
