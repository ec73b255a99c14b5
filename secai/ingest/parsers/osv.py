"""OSV-Scanner JSON (`osv-scanner --format json`).

One finding per package and vulnerability group (a group collapses aliases such as a GHSA and its
CVE). The fixed versions are those the advisory gives for *this* package (same name and
ecosystem in `affected[]`), ordered with the smallest one above the installed version first.
"""

from __future__ import annotations

from typing import Any

from secai.errors import ParseError
from secai.findings import (
    Category,
    Finding,
    Severity,
    build_finding,
    cwe_ids,
    normalize_vuln_id,
    severity_from_score,
    severity_from_text,
    unique,
)
from secai.ingest import versions
from secai.ingest.parsers._values import (
    cvss_score,
    dict_or_empty,
    list_or_empty,
    repo_relative,
)
from secai.ingest.parsers.base import Findings

NAME = "osv-scanner"
KIND = "json"
PRIORITY = 50


def detect(doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        return False
    first = next(iter(doc["results"]), None)
    if first is None:
        return "experimental_config" in doc
    return isinstance(first, dict) and "packages" in first and "source" in first


def parse(doc: Any, source: str) -> Findings:
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ParseError(source, "OSV-Scanner report has no 'results' array")
    found = Findings()
    for i, result in enumerate(doc["results"]):
        if not isinstance(result, dict) or not isinstance(result.get("packages"), list):
            found.skipped.append(f"results[{i}]: lacks a 'packages' array")
            continue
        src = dict_or_empty(result.get("source"))
        path = repo_relative(src["path"]) if isinstance(src.get("path"), str) and src["path"] else None
        for j, entry in enumerate(result["packages"]):
            with found.item(f"results[{i}].packages[{j}]"):
                if not isinstance(entry, dict) or not isinstance(dict_or_empty(entry.get("package")).get("name"), str):
                    raise ParseError(source, "lacks package.name")
                found.extend(_package_findings(entry, path))
    return found


def _groups(entry: dict, vulns: dict[str, dict]) -> list[dict]:
    groups = [g for g in list_or_empty(entry.get("groups")) if isinstance(g, dict) and list_or_empty(g.get("ids"))]
    grouped = {i for g in groups for i in g["ids"]}
    # Older reports have no groups: every vulnerability is its own group.
    return groups + [
        {"ids": [vid], "aliases": list_or_empty(v.get("aliases"))} for vid, v in vulns.items() if vid not in grouped
    ]


def _package_findings(entry: dict, path: str | None) -> list[Finding]:
    pkg = entry["package"]
    name, installed = pkg["name"], (str(pkg["version"]) if pkg.get("version") else None)
    eco = pkg.get("ecosystem") if isinstance(pkg.get("ecosystem"), str) else None
    eco_key = (eco or "").split(":", 1)[0].lower()
    vulns = {
        str(v["id"]): v for v in list_or_empty(entry.get("vulnerabilities")) if isinstance(v, dict) and v.get("id")
    }
    out = []
    for group in _groups(entry, vulns):
        members = [vulns[i] for i in group["ids"] if i in vulns]
        primary = members[0] if members else {"id": group["ids"][0]}
        ids = unique(
            [normalize_vuln_id(str(i)) for i in group["ids"]]
            + [normalize_vuln_id(str(a)) for a in list_or_empty(group.get("aliases"))]
            + [normalize_vuln_id(str(a)) for m in members for a in list_or_empty(m.get("aliases"))]
        )
        severity, raw = _severity(group, members)
        fixed = []
        for m in members:
            fixed += _fixed_versions(m, name, eco_key)
        fixed = versions.smallest_fix_above(installed, fixed, eco)
        cwe = cwe_ids([dict_or_empty(m.get("database_specific")).get("cwe_ids") for m in members])
        refs = unique(
            r.get("url")
            for m in members
            for r in list_or_empty(m.get("references"))
            if isinstance(r, dict) and isinstance(r.get("url"), str)
        )
        summary = next((m["summary"] for m in members if isinstance(m.get("summary"), str) and m["summary"]), None)
        details = next((m["details"] for m in members if isinstance(m.get("details"), str) and m["details"]), None)
        vid = str(primary["id"])
        primary_id = normalize_vuln_id(vid)
        out.append(
            build_finding(
                {
                    "tool": "osv-scanner",
                    "rule_id": vid,
                    "title": summary or f"{vid} in {name}",
                    "severity": severity,
                    "raw_severity": raw,
                    "category": Category.dependency,
                    "cwe": cwe,
                    "vulnerability_ids": [primary_id] + [i for i in ids if i != primary_id],
                    "package": {"ecosystem": eco, "name": name, "version": installed, "fixed_versions": fixed},
                    "location": {"path": path} if path else None,
                    "message": f"{name} {installed or ''} is affected by {vid}"
                    + (f"; fixed in {fixed[0]}" if fixed else "; no fixed version"),
                    "description": (details or summary or "").strip() or None,
                    "remediation": f"Upgrade {name} to {fixed[0]} or later." if fixed else None,
                    "references": refs,
                }
            )
        )
    return out


def _severity(group: dict, members: list[dict]) -> tuple[Severity, str | None]:
    score = cvss_score(group.get("max_severity"))
    if score is not None and str(group.get("max_severity")).strip():
        return severity_from_score(score), str(group["max_severity"])
    for m in members:
        word = dict_or_empty(m.get("database_specific")).get("severity")
        if isinstance(word, str) and word:
            return severity_from_text(word, Severity.medium), word
        for aff in list_or_empty(m.get("affected")):
            for key in ("ecosystem_specific", "database_specific"):
                word = dict_or_empty(dict_or_empty(aff).get(key)).get("severity")
                if isinstance(word, str) and word:
                    return severity_from_text(word, Severity.medium), word
    return Severity.medium, None


def _fixed_versions(vuln: dict, name: str, eco_key: str) -> list[str]:
    """Fixed versions from the `affected[]` entries of this very package (`eco_key`: its
    ecosystem without a release, lower case)."""
    out: list[str] = []
    for aff in list_or_empty(vuln.get("affected")):
        aff = dict_or_empty(aff)
        p = dict_or_empty(aff.get("package"))
        if p.get("name") != name or str(p.get("ecosystem", "")).split(":", 1)[0].lower() != eco_key:
            continue
        for rng in list_or_empty(aff.get("ranges")):
            for event in list_or_empty(dict_or_empty(rng).get("events")):
                fixed = event.get("fixed") if isinstance(event, dict) else None
                if isinstance(fixed, str) and fixed and fixed not in out:
                    out.append(fixed)
    return out
