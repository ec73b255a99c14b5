"""Semgrep Supply Chain findings as the Semgrep API lists them (`{"vulns": [...]}`, the
SupplyChainService's list of vulnerabilities, which DefectDojo also imports).

One finding per listed vulnerability: the advisory (`advisory.ruleId`, its CVE, CWE and
severity) on the matched dependency, located at its line in the lockfile or manifest
(`dependencyFileLocation`). The code lines that reach the vulnerable function are kept in
`extra.usages`; `exposureType`/`reachability` and `transitivity` in `extra`. Findings triaged as
ignored are kept and flagged suppressed. (`semgrep --json` Supply Chain results, with
`extra.sca_info`, are read by the Semgrep JSON parser.)
"""

from __future__ import annotations

from typing import Any

from secai.findings import Category, Finding, Severity, build_finding, cwe_ids, severity_from_text, unique, vuln_ids_in
from secai.ingest import versions
from secai.ingest.parsers._values import dict_or_empty, list_or_empty, positive_int, repo_relative, str_or_none
from secai.ingest.parsers.base import Findings

NAME = "semgrep-supply-chain"
KIND = "json"

_ECOSYSTEMS = {
    "pypi": "PyPI",
    "npm": "npm",
    "maven": "Maven",
    "gomod": "Go",
    "go": "Go",
    "cargo": "crates.io",
    "gem": "RubyGems",
    "composer": "Packagist",
    "nuget": "NuGet",
    "pub": "Pub",
    "hex": "Hex",
    "swiftpm": "SwiftURL",
    "cocoapods": "CocoaPods",
}


def detect(doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("vulns"), list):
        return False
    first = next(iter(doc["vulns"]), None)
    return isinstance(first, dict) and isinstance(first.get("advisory"), dict) and "repositoryId" in first


def parse(doc: Any, source: str) -> Findings:
    found = Findings()
    for i, vuln in enumerate(doc["vulns"]):
        with found.item(f"vulns[{i}]"):
            found.append(_finding(vuln, source))
    return found


def _finding(vuln: Any, source: str) -> Finding:
    if not isinstance(vuln, dict) or not isinstance(vuln.get("advisory"), dict):
        raise ValueError("vulnerability without an advisory object")
    adv = vuln["advisory"]
    refs = dict_or_empty(adv.get("references"))
    dep = dict_or_empty(vuln.get("matchedDependency"))
    name = str_or_none(dep.get("name"))
    rule_id = str_or_none(adv.get("ruleId")) or str_or_none(vuln.get("groupKey"))
    if not rule_id or not name:
        raise ValueError("vulnerability without advisory.ruleId or matchedDependency.name")
    installed = str_or_none(dep.get("versionSpecifier"))
    eco_raw = str_or_none(adv.get("ecosystem")) or ""
    ecosystem = _ECOSYSTEMS.get(eco_raw.lower(), eco_raw or None)
    safe = [dict_or_empty(vuln.get("closestSafeDependency"))] + list_or_empty(adv.get("safeDependencies"))
    fixes = [str_or_none(d.get("versionSpecifier")) for d in map(dict_or_empty, safe) if d.get("name") in (None, name)]
    fixed = versions.smallest_fix_above(installed, [f for f in fixes if f], ecosystem)
    urls = [u for u in map(str_or_none, list_or_empty(refs.get("urls"))) if u]
    ids = unique(vuln_ids_in(" ".join(map(str, list_or_empty(refs.get("cveIds"))))) + vuln_ids_in(" ".join(urls)))
    raw = str_or_none(adv.get("severity"))
    where = dict_or_empty(vuln.get("dependencyFileLocation"))
    path = str_or_none(where.get("path"))
    line = positive_int(where.get("startLine"))
    title = str_or_none(vuln.get("title")) or str_or_none(adv.get("title")) or f"{rule_id} in {name}"
    usages = []
    for usage in list_or_empty(vuln.get("usages")):
        loc = dict_or_empty(dict_or_empty(usage).get("location"))
        if str_or_none(loc.get("path")):
            usage_line = positive_int(loc.get("startLine"))
            usages.append(repo_relative(loc["path"]) + (f":{usage_line}" if usage_line else ""))
    triage = dict_or_empty(vuln.get("triage"))
    extra = {
        k: v
        for k, v in {
            "exposure": str_or_none(vuln.get("exposureType")),
            "reachability": str_or_none(adv.get("reachability")),
            "reachable_if": str_or_none(adv.get("reachableIf")),
            "transitivity": str_or_none(vuln.get("transitivity")),
            "repository": str_or_none(vuln.get("repositoryName")),
            "triage_status": str_or_none(triage.get("status")),
            "usages": usages,
        }.items()
        if v
    }
    description = str_or_none(adv.get("description"))
    return build_finding(
        {
            "tool": "semgrep",
            "rule_id": rule_id,
            "title": title,
            "severity": severity_from_text(raw, Severity.medium),
            "raw_severity": raw,
            "category": Category.dependency,
            "cwe": cwe_ids(list_or_empty(refs.get("cweIds"))),
            "vulnerability_ids": ids,
            "package": {"ecosystem": ecosystem, "name": name, "version": installed, "fixed_versions": fixed},
            "location": {"path": repo_relative(path), "start_line": line, "end_line": line} if path else None,
            "message": f"{name} {installed or ''} is affected by {ids[0] if ids else rule_id}"
            + (f"; fixed in {fixed[0]}" if fixed else ""),
            "description": description,
            "remediation": f"Upgrade {name} to {fixed[0]} or later." if fixed else None,
            "references": urls,
            "suppressed": str(triage.get("status") or "").lower() == "ignored",
            "source": source,
            "extra": extra,
        }
    )
