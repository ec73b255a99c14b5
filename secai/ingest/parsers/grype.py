"""Anchore Grype JSON (`grype -o json`): `matches[]` of vulnerability + artifact.

Matches of the same vulnerability, package and version are one finding, whatever the number of
paths the package was found at (DefectDojo's convention); the paths are kept in
`extra["locations"]`. Ignored matches (`ignoredMatches`) are kept and flagged suppressed, the
applied ignore rule's reason and status in `extra["suppression"]`.
"""

from __future__ import annotations

from typing import Any

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
from secai.ingest.parsers._values import cvss_score, dict_or_empty, list_or_empty, str_or_none
from secai.ingest.parsers.base import Findings
from secai.ingest.versions import smallest_fix_above

NAME = "grype"
KIND = "json"

# Grype artifact types -> ecosystem names (OSV spelling where OSV has one).
_ECOSYSTEMS = {
    "python": "PyPI",
    "npm": "npm",
    "java-archive": "Maven",
    "jenkins-plugin": "Maven",
    "go-module": "Go",
    "rust-crate": "crates.io",
    "gem": "RubyGems",
    "dotnet": "NuGet",
    "php-composer": "Packagist",
    "hex": "Hex",
    "pub": "Pub",
    "deb": "Debian",
    "rpm": "RPM",
    "apk": "Alpine",
}
_DISTRO_ECOSYSTEMS = {"debian": "Debian", "ubuntu": "Ubuntu", "alpine": "Alpine", "wolfi": "Wolfi"}


def detect(doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("matches"), list):
        return False
    descriptor = doc.get("descriptor")
    if isinstance(descriptor, dict) and str(descriptor.get("name", "")).lower() == "grype":
        return True
    first = doc["matches"][0] if doc["matches"] else None
    if first is None:
        return "source" in doc
    return (
        isinstance(first, dict)
        and isinstance(first.get("artifact"), dict)
        and isinstance(first.get("vulnerability"), dict)
    )


def _ecosystem(artifact_type: str | None, distro: str | None) -> str | None:
    if artifact_type in ("deb", "apk") and distro in _DISTRO_ECOSYSTEMS:
        return _DISTRO_ECOSYSTEMS[distro]
    return _ECOSYSTEMS.get(artifact_type or "", artifact_type)


def _max_score(vulns: list[dict]) -> float:
    """The highest CVSS base score: `cvss[].metrics.baseScore` (0.1x+), or the `cvssV3` and
    `cvssV2` objects of older reports."""
    best = 0.0
    for v in vulns:
        metrics = [dict_or_empty(dict_or_empty(c).get("metrics")) for c in list_or_empty(v.get("cvss"))]
        metrics += [dict_or_empty(v.get("cvssV3")), dict_or_empty(v.get("cvssV2"))]
        for m in metrics:
            score = cvss_score(m.get("baseScore"))
            if score is not None:
                best = max(best, score)
    return best


def _objects(value: Any) -> list[dict]:
    """The objects of a list field; older reports give some of these fields (`matchDetails`) as a
    single object instead of a list."""
    items = [value] if isinstance(value, dict) else list_or_empty(value)
    return [v for v in items if isinstance(v, dict)]


def _risk_facts(vuln: dict) -> dict[str, Any]:
    """EPSS, risk and known-exploited data of newer reports, for `extra`."""
    epss = [e for e in _objects(vuln.get("epss")) if isinstance(e.get("epss"), (int, float))]
    best = max(epss, key=lambda e: e["epss"], default=None)
    facts: dict[str, Any] = {}
    if best is not None:
        facts["epss"] = best["epss"]
        if isinstance(best.get("percentile"), (int, float)):
            facts["epss_percentile"] = best["percentile"]
    if isinstance(vuln.get("risk"), (int, float)) and not isinstance(vuln.get("risk"), bool):
        facts["risk"] = vuln["risk"]
    if _objects(vuln.get("knownExploited")):
        facts["known_exploited"] = True
    return facts


def _finding(match: Any, distro: str | None, version: str | None, source: str, suppressed: bool) -> Finding:
    if not isinstance(match, dict):
        raise ValueError("match is not an object")
    vuln, artifact = match.get("vulnerability"), match.get("artifact")
    if not isinstance(vuln, dict) or not isinstance(artifact, dict):
        raise ValueError("match without 'vulnerability' and 'artifact' objects")
    vid, name = str_or_none(vuln.get("id")), str_or_none(artifact.get("name"))
    if not vid or not name:
        raise ValueError("match without vulnerability id or artifact name")
    related = _objects(match.get("relatedVulnerabilities"))
    installed = str_or_none(artifact.get("version"))
    ecosystem = _ecosystem(str_or_none(artifact.get("type")), distro)
    fix = dict_or_empty(vuln.get("fix"))
    fixes = [str_or_none(v) for v in list_or_empty(fix.get("versions"))] + [str_or_none(vuln.get("fixedInVersion"))]
    fixed = smallest_fix_above(installed, [s for s in fixes if s], ecosystem)

    raw = str_or_none(vuln.get("severity"))
    severity = severity_from_text(raw)
    if severity is Severity.info and (raw or "").lower() in ("", "unknown"):
        score = _max_score([vuln, *related])
        if score:
            severity = severity_from_score(score)

    locations = unique(str_or_none(loc.get("path")) for loc in _objects(artifact.get("locations")))
    cwes = [c.get("cwe") if isinstance(c, dict) else c for c in list_or_empty(vuln.get("cwes"))]
    description = str_or_none(vuln.get("description")) or next(
        (d for d in (str_or_none(r.get("description")) for r in related) if d), None
    )
    references = [str_or_none(vuln.get("dataSource"))] + [str_or_none(u) for u in list_or_empty(vuln.get("urls"))]
    for r in related:
        references += [str_or_none(r.get("dataSource"))] + [str_or_none(u) for u in list_or_empty(r.get("urls"))]
    extra = {
        k: v
        for k, v in {
            "fix_state": str_or_none(fix.get("state")),
            "namespace": str_or_none(vuln.get("namespace")),
            "artifact_type": str_or_none(artifact.get("type")),
            "locations": locations,
            "matchers": unique(str_or_none(d.get("matcher")) for d in _objects(match.get("matchDetails"))),
            **_risk_facts(vuln),
        }.items()
        if v
    }
    if suppressed:
        extra["suppression"] = _ignore_rule(match)
    return build_finding(
        {
            "tool": "grype",
            "tool_version": version,
            "rule_id": vid,
            "title": f"{vid} in {name} {installed or ''}".strip(),
            "severity": severity,
            "raw_severity": raw,
            "category": Category.dependency,
            "cwe": cwe_ids(cwes),
            "vulnerability_ids": [normalize_vuln_id(vid)]
            + [normalize_vuln_id(i) for i in (str_or_none(r.get("id")) for r in related) if i],
            "package": {
                "ecosystem": ecosystem,
                "name": name,
                "version": installed,
                "fixed_versions": fixed,
                "purl": str_or_none(artifact.get("purl")),
            },
            "message": description.split("\n", 1)[0] if description else f"{vid} in {name}",
            "description": description,
            "references": [r for r in references if r],
            "suppressed": suppressed,
            "source": source,
            "extra": extra,
        }
    )


def _ignore_rule(match: dict) -> dict[str, str]:
    """The ignore rule grype applied: its reason (or VEX justification) and VEX status or fix state."""
    rule = next(iter(_objects(match.get("appliedIgnoreRules"))), {})
    status = str_or_none(rule.get("vex-status")) or (
        f"fix-state {rule['fix-state']}" if str_or_none(rule.get("fix-state")) else None
    )
    out = {
        "kind": "external",
        "status": status,
        "justification": str_or_none(rule.get("reason")) or str_or_none(rule.get("vex-justification")),
    }
    return {k: v[:500] for k, v in out.items() if v}


def _merge(keep: Finding, other: Finding) -> None:
    keep.extra["locations"] = unique(keep.extra.get("locations", []) + other.extra.get("locations", []))
    keep.vulnerability_ids = unique(keep.vulnerability_ids + other.vulnerability_ids)
    keep.references = unique(keep.references + other.references)
    keep.cwe = sorted(set(keep.cwe) | set(other.cwe))
    if keep.package and other.package:
        keep.package.fixed_versions = unique(keep.package.fixed_versions + other.package.fixed_versions)
    keep.suppressed = keep.suppressed and other.suppressed


def parse(doc: Any, source: str) -> Findings:
    descriptor = doc.get("descriptor") if isinstance(doc.get("descriptor"), dict) else {}
    distro_info = doc.get("distro") if isinstance(doc.get("distro"), dict) else {}
    distro = (str_or_none(distro_info.get("name")) or "").lower() or None
    version = str_or_none(descriptor.get("version"))
    found = Findings()
    ignored = doc.get("ignoredMatches") or []
    if not isinstance(ignored, list):
        found.skipped.append("ignoredMatches: not a list")
        ignored = []
    merged: dict[tuple, Finding] = {}
    for suppressed, name, matches in ((False, "matches", doc["matches"]), (True, "ignoredMatches", ignored)):
        for i, match in enumerate(matches):
            with found.item(f"{name}[{i}]"):
                f = _finding(match, distro, version, source, suppressed)
                pkg = f.package
                key = (f.rule_id, pkg.name if pkg else "", pkg.version if pkg else "", pkg.ecosystem if pkg else "")
                if key in merged:
                    _merge(merged[key], f)
                else:
                    merged[key] = f
    found.extend(merged.values())
    return found
