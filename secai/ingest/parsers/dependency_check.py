"""OWASP Dependency-Check XML (`analysis` root in the dependency-check namespace).

One finding per vulnerability of each dependency. The package comes from the dependency's
identifiers (a purl in newer reports, a Maven `group:artifact:version` in older ones) or, failing
that, its file name. Suppressed vulnerabilities are kept and flagged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from secai.errors import ParseError
from secai.findings import (
    Category,
    Finding,
    Package,
    build_finding,
    cwe_ids,
    normalize_vuln_id,
    severity_from_score,
    severity_from_text,
    vuln_ids_in,
)
from secai.ingest.parsers._values import PURL_ECOSYSTEMS, xml_local_name

NAME = "dependency-check"
KIND = "xml"


def _child(el, name: str):
    for c in el:
        if xml_local_name(c.tag) == name:
            return c
    return None


def _children(el, name: str) -> list:
    return [c for c in el if xml_local_name(c.tag) == name] if el is not None else []


def _child_text(el, name: str) -> str | None:
    c = _child(el, name) if el is not None else None
    if c is None or c.text is None:
        return None
    s = " ".join(c.text.split())
    return s or None


def detect(root: Any) -> bool:
    return xml_local_name(root.tag) == "analysis" and "dependency-check" in str(root.tag).lower()


def _from_purl(purl: str) -> tuple[str | None, str, str | None] | None:
    if not purl.startswith("pkg:") or "/" not in purl:
        return None
    kind, _, rest = purl[4:].partition("/")
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    path, _, version = rest.rpartition("@") if "@" in rest else (rest, "", "")
    name = unquote(path.replace("/", ":") if kind == "maven" else path)
    if not name:
        return None
    return PURL_ECOSYSTEMS.get(kind.lower(), kind), name, unquote(version) or None


def _package(dep) -> Package:
    identifiers = _child(dep, "identifiers")
    purl = None
    for pkg in _children(identifiers, "package"):  # 5.x+: <package><id>pkg:maven/...</id>
        purl = _child_text(pkg, "id")
        if purl:
            break
    if purl and (parsed := _from_purl(purl)):
        eco, name, version = parsed
        return Package(ecosystem=eco, name=name, version=version, purl=purl)
    for ident in _children(identifiers, "identifier"):  # 1.x-3.x: <identifier type="maven">
        if (ident.get("type") or "").lower() == "maven":
            gav = (_child_text(ident, "name") or "").split(":")
            if len(gav) >= 3 and all(gav[:3]):
                return Package(ecosystem="Maven", name=f"{gav[0]}:{gav[1]}", version=gav[2])
    file_name = _child_text(dep, "fileName")
    if not file_name:
        raise ValueError("dependency without identifiers or fileName")
    return Package(name=file_name)


def _severity(vuln):
    raw = _child_text(vuln, "severity")
    v3 = _child(vuln, "cvssV3")
    if raw is None and v3 is not None:
        raw = _child_text(v3, "baseSeverity")
    if raw:
        return severity_from_text(raw), raw
    for block, field in (("cvssV3", "baseScore"), ("cvssV2", "score")):
        el = _child(vuln, block)
        score = _child_text(el, field) if el is not None else None
        if score is None and block == "cvssV2":
            score = _child_text(vuln, "cvssScore")
        try:
            if score is not None:
                return severity_from_score(float(score)), score
        except ValueError:
            continue
    return severity_from_text(None), None


def _finding(
    vuln, package: Package, file_path: str | None, suppressed: bool, version: str | None, source: str
) -> Finding:
    name = _child_text(vuln, "name")
    if not name:
        raise ValueError("vulnerability without a name")
    severity, raw = _severity(vuln)
    cwes = [c.text for c in _children(_child(vuln, "cwes"), "cwe")] + [_child_text(vuln, "cwe")]
    description = _child_text(vuln, "description")
    refs = [_child_text(r, "url") for r in _children(_child(vuln, "references"), "reference")]
    ids = vuln_ids_in(name) or [normalize_vuln_id(name)]
    extra = {k: v for k, v in {"file_path": file_path, "source_db": vuln.get("source")}.items() if v}
    return build_finding(
        {
            "tool": "dependency-check",
            "tool_version": version,
            "rule_id": name,
            "title": f"{name} in {package.name}" + (f" {package.version}" if package.version else ""),
            "severity": severity,
            "raw_severity": raw,
            "category": Category.dependency,
            "cwe": cwe_ids([c for c in cwes if c]),
            "vulnerability_ids": ids,
            "package": package.model_copy(deep=True),
            "message": (description or name).split("\n", 1)[0],
            "description": description,
            "references": [r for r in refs if r],
            "suppressed": suppressed,
            "source": source,
            "extra": extra,
        }
    )


def parse(root: Any, source: str) -> list[Finding]:
    deps = _child(root, "dependencies")
    if deps is None:
        if _child(root, "projectInfo") is None and _child(root, "scanInfo") is None:
            raise ParseError(source, "dependency-check report has no <dependencies>")
        return []
    scan = _child(root, "scanInfo")
    version = _child_text(scan, "engineVersion") if scan is not None else None
    findings = []
    for dep in _children(deps, "dependency"):
        vulns = _children(_child(dep, "vulnerabilities"), "vulnerability")
        suppressed = _children(_child(dep, "suppressedVulnerabilities"), "suppressedVulnerability")
        if not vulns and not suppressed:
            continue
        package = _package(dep)
        file_path = _child_text(dep, "filePath")
        findings += [_finding(v, package, file_path, False, version, source) for v in vulns]
        findings += [_finding(v, package, file_path, True, version, source) for v in suppressed]
    return findings
