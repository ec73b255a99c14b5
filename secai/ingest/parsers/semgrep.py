"""Semgrep JSON (`semgrep --json`), code results and Supply Chain results.

Results with the same rule, path and line are one finding (DefectDojo's convention: Semgrep reports
one result per matching pattern). `errors` are not findings. Semgrep OSS writes "requires login"
in place of the matched lines; that is no snippet.
"""

from __future__ import annotations

from typing import Any

from secai.errors import ParseError
from secai.findings import (
    Category,
    Finding,
    Package,
    Severity,
    build_finding,
    cwe_ids,
    severity_from_text,
    unique,
    vuln_ids_in,
)
from secai.ingest import versions
from secai.ingest.parsers._values import positive_int, repo_relative
from secai.ingest.parsers.base import Findings

NAME = "semgrep-json"
KIND = "json"
PRIORITY = 50

_SEVERITY = {
    "ERROR": Severity.high,
    "WARNING": Severity.medium,
    "INFO": Severity.low,
    "CRITICAL": Severity.critical,
    "HIGH": Severity.high,
    "MEDIUM": Severity.medium,
    "LOW": Severity.low,
}
_NO_SNIPPET = {"", "requires login"}
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
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list) or "errors" not in doc:
        return False
    first = next(iter(doc["results"]), None)
    if first is None:
        return set(doc) <= {
            "results",
            "errors",
            "version",
            "paths",
            "time",
            "engine_requested",
            "skipped_rules",
            "interfile_languages_used",
            "explanations",
            "profiling_results",
            "skipped_targets",
        }
    return isinstance(first, dict) and "check_id" in first and "extra" in first


def _line(pos: Any) -> int | None:
    return positive_int(pos.get("line")) if isinstance(pos, dict) else None


def _column(pos: Any) -> int | None:
    return positive_int(pos.get("col")) if isinstance(pos, dict) else None


def _strs(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    return [str(x) for x in v if isinstance(x, (str, int))] if isinstance(v, list) else []


def parse(doc: Any, source: str) -> Findings:
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ParseError(source, "Semgrep report has no 'results' array")
    version = doc.get("version") if isinstance(doc.get("version"), str) else None
    found = Findings()
    merged: dict[tuple, Finding] = {}
    rules: dict[str, _RuleFacts] = {}
    for i, r in enumerate(doc["results"]):
        with found.item(f"results[{i}]"):
            if not isinstance(r, dict) or not isinstance(r.get("check_id"), str) or not isinstance(r.get("path"), str):
                raise ParseError(source, "lacks check_id or path")
            f = _finding(r, version, rules)
            loc = f.location
            key = (f.rule_id, loc.path, loc.start_line, loc.start_column) if loc else (f.rule_id,)
            if key in merged:
                _merge(merged[key], f)
            else:
                merged[key] = f
    found.extend(merged.values())
    return found


def _merge(keep: Finding, other: Finding) -> None:
    keep.cwe = sorted(set(keep.cwe) | set(other.cwe))
    keep.references = unique(keep.references + other.references)
    keep.vulnerability_ids = unique(keep.vulnerability_ids + other.vulnerability_ids)
    if other.message and other.message not in keep.message:
        keep.message = f"{keep.message}\n{other.message}".strip()
    if other.severity.rank > keep.severity.rank:
        keep.severity, keep.raw_severity = other.severity, other.raw_severity
    keep.extra["merged_results"] = keep.extra.get("merged_results", 1) + 1


class _RuleFacts:
    """What a rule's metadata gives each of its results; Semgrep repeats the metadata on every
    result, so this is worked out once per rule and metadata."""

    def __init__(self, rule_id: str, meta: dict):
        self.meta = meta
        self.title = rule_id.rsplit(".", 1)[-1].replace("-", " ").replace("_", " ")
        self.info = {
            key: meta[key]
            for key in ("confidence", "likelihood", "impact", "category")
            if isinstance(meta.get(key), str)
        }
        self.owasp = _strs(meta.get("owasp"))
        self.refs = unique(
            _strs(meta.get("references")) + _strs(meta.get("source-rule-url")) + _strs(meta.get("source"))
        )
        self.vulns = unique(
            vuln_ids_in(
                " ".join(
                    _strs(meta.get("cve")) + _strs(meta.get("ghsa")) + _strs(meta.get("sca-vuln-database-identifier"))
                )
            )
        )
        self.cwe = cwe_ids(meta.get("cwe"))
        self.secret = _is_secret(rule_id, meta)


def _finding(r: dict, version: str | None, rules: dict[str, _RuleFacts]) -> Finding:
    extra = r.get("extra") if isinstance(r.get("extra"), dict) else {}
    meta = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    rule_id = r["check_id"]
    facts = rules.get(rule_id)
    if facts is None or facts.meta != meta:
        facts = rules[rule_id] = _RuleFacts(rule_id, meta)
    raw = str(extra.get("severity") or "").upper() or None
    severity = _SEVERITY.get(raw or "", Severity.medium)
    message = str(extra.get("message") or "").strip()
    lines = extra.get("lines") if isinstance(extra.get("lines"), str) else ""
    start = _line(r.get("start"))
    end = _line(r.get("end")) or start
    if start and end and end < start:
        end = start
    snippet = None if lines.strip() in _NO_SNIPPET else lines.rstrip("\n")
    remediation = None
    if isinstance(extra.get("fix"), str) and extra["fix"].strip():
        remediation = f"Suggested fix (Semgrep autofix):\n{extra['fix']}"
    elif isinstance(extra.get("fix_regex"), dict):
        fr = extra["fix_regex"]
        remediation = f"Suggested fix: replace /{fr.get('regex', '')}/ with {fr.get('replacement', '')!r}"
    info: dict[str, Any] = dict(facts.info)
    if facts.owasp:
        info["owasp"] = list(facts.owasp)  # the finding's own list: nested values are not copied
    package = None
    category = Category.code
    sca = extra.get("sca_info") if isinstance(extra.get("sca_info"), dict) else None
    path = r["path"]
    if sca:
        package, lockfile = _sca_package(sca, meta)
        if package:
            category = Category.dependency
            raw = str(meta.get("sca-severity") or raw or "").upper() or None
            severity = severity_from_text(raw, severity)
            if package.fixed_versions:
                remediation = f"Upgrade {package.name} to {package.fixed_versions[0]} or later."
            info["reachable"] = bool(sca.get("reachable"))
            if lockfile:
                info["lockfile"] = lockfile
    if facts.secret:
        category = Category.secret
    return build_finding(
        {
            "tool": "semgrep",
            "tool_version": version,
            "rule_id": rule_id,
            "title": facts.title,
            "severity": severity,
            "raw_severity": raw,
            "category": category,
            "cwe": facts.cwe,
            "vulnerability_ids": facts.vulns,
            "package": package,
            "location": {
                "path": repo_relative(path),
                "start_line": start,
                "end_line": end,
                "start_column": _column(r.get("start")),
                "snippet": snippet,
            },
            "message": message,
            "description": message or None,
            "remediation": remediation,
            "references": facts.refs,
            "extra": info,
        }
    )


def _is_secret(rule_id: str, meta: dict) -> bool:
    parts = set(rule_id.lower().split("."))
    return "secrets" in parts or "secret" in parts or str(meta.get("category", "")).lower() == "secrets"


def _sca_package(sca: dict, meta: dict) -> tuple[Package | None, str | None]:
    match = sca.get("dependency_match") if isinstance(sca.get("dependency_match"), dict) else {}
    found = match.get("found_dependency") if isinstance(match.get("found_dependency"), dict) else {}
    name = found.get("package")
    if not isinstance(name, str) or not name:
        return None, None
    eco_raw = str(found.get("ecosystem") or (match.get("dependency_pattern") or {}).get("ecosystem") or "")
    eco = _ECOSYSTEMS.get(eco_raw.lower(), eco_raw or None)
    installed = str(found["version"]) if found.get("version") else None
    fixes: list[str] = []
    for entry in meta.get("sca-fix-versions") or []:
        if isinstance(entry, dict):
            fixes += [str(v) for k, v in entry.items() if k == name and v]
    rule = sca.get("rule") if isinstance(sca.get("rule"), dict) else {}
    for key in ("fixed_versions", "fix_versions"):
        fixes += _strs(rule.get(key))
    lockfile = match.get("lockfile") if isinstance(match.get("lockfile"), str) else found.get("lockfile_path")
    pkg = Package(
        ecosystem=eco, name=name, version=installed, fixed_versions=versions.smallest_fix_above(installed, fixes, eco)
    )
    return pkg, (repo_relative(lockfile) if isinstance(lockfile, str) and lockfile else None)
