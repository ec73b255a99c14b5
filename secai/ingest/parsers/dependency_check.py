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
from secai.ingest.parsers._values import PURL_ECOSYSTEMS, repo_relative, xml_local_name
from secai.ingest.parsers.base import Findings

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
    """A dependency's package: its purl (5.x+), Maven GAV (1.x-3.x), CPE, else its file name."""
    identifiers = _child(dep, "identifiers")
    purls = [_child_text(pkg, "id") for pkg in _children(identifiers, "package")]  # <package><id>pkg:..
    for tag in ("packageId", "packageIds"):  # a related dependency's own package (6.x+)
        purls += [_child_text(el, "id") for el in _children(dep, tag)]
    for purl in purls:
        if purl and (parsed := _from_purl(purl)):
            eco, name, version = parsed
            return Package(ecosystem=eco, name=name, version=version, purl=purl)
    idents = _children(identifiers, "identifier") + _children(dep, "identifier")  # <identifier type=..>
    for ident in idents:
        if (ident.get("type") or "").lower() == "maven":
            gav = (_child_text(ident, "name") or "").split(":")
            if len(gav) >= 3 and all(gav[:3]):
                return Package(ecosystem="Maven", name=f"{gav[0]}:{gav[1]}", version=gav[2])
    cpes = [_child_text(i, "name") for i in idents if (i.get("type") or "").lower() == "cpe"]
    cpes += [_child_text(v, "id") for v in _children(identifiers, "vulnerabilityIds")]  # 5.x+: CPEs
    for cpe in cpes:
        if cpe and (parsed := _from_cpe(cpe)):
            return Package(name=parsed[0], version=parsed[1])
    file_name = _child_text(dep, "fileName")
    if not file_name:
        raise ValueError("dependency without identifiers or fileName")
    return Package(name=file_name)


def _from_cpe(cpe: str) -> tuple[str, str | None] | None:
    """`cpe:2.3:a:vendor:product:1.2:...` or `cpe:/a:vendor:product:1.2` -> ("vendor:product", "1.2")."""
    parts = cpe.split(":")
    fields = parts[3:6] if cpe.startswith("cpe:2.3:") else parts[2:5] if cpe.startswith("cpe:/") else []
    if len(fields) < 2 or not fields[0] or not fields[1] or "*" in fields[:2]:
        return None
    version = fields[2] if len(fields) > 2 and fields[2] not in ("", "*", "-") else None
    return f"{unquote(fields[0])}:{unquote(fields[1])}", version


def _related(dep) -> list[tuple[Package, str | None]]:
    """The other files dependency-check found to be the same dependency (`relatedDependencies`),
    each with its package and path. Before 6.0 a related dependency has no file name and only
    repeats the main one; those are left out, as DefectDojo does."""
    out = []
    for rel in _children(_child(dep, "relatedDependencies"), "relatedDependency"):
        if _child_text(rel, "fileName"):
            out.append((_package(rel), _child_text(rel, "filePath")))
    return out


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
    vuln, package: Package, file_path: str | None, suppressed: bool, version: str | None, source: str, **facts
) -> Finding:
    name = _child_text(vuln, "name")
    if not name:
        raise ValueError("vulnerability without a name")
    severity, raw = _severity(vuln)
    cwes = [c.text for c in _children(_child(vuln, "cwes"), "cwe")] + [_child_text(vuln, "cwe")]
    description = _child_text(vuln, "description")
    refs = [_child_text(r, "url") for r in _children(_child(vuln, "references"), "reference")]
    ids = vuln_ids_in(name) or [normalize_vuln_id(name)]
    extra = {k: v for k, v in {"file_path": file_path, "source_db": vuln.get("source"), **facts}.items() if v}
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
            "location": {"path": repo_relative(file_path)} if file_path else None,
            "message": (description or name).split("\n", 1)[0],
            "description": description,
            "references": [r for r in refs if r],
            "suppressed": suppressed,
            "source": source,
            "extra": extra,
        }
    )


def parse(root: Any, source: str) -> Findings:
    deps = _child(root, "dependencies")
    if deps is None:
        if _child(root, "projectInfo") is None and _child(root, "scanInfo") is None:
            raise ParseError(source, "dependency-check report has no <dependencies>")
        return Findings()
    scan = _child(root, "scanInfo")
    version = _child_text(scan, "engineVersion") if scan is not None else None
    found = Findings()
    for n, dep in enumerate(_children(deps, "dependency")):
        listed = _children(_child(dep, "vulnerabilities"), "vulnerability")
        vulns = [(v, False) for v in listed]
        # 5.x lists suppressed vulnerabilities inside <vulnerabilities>, later reports apart
        for container in ("vulnerabilities", "suppressedVulnerabilities"):
            vulns += [(v, True) for v in _children(_child(dep, container), "suppressedVulnerability")]
        if not vulns:
            continue
        with found.item(f"dependencies[{n}]"):
            package, file_path = _package(dep), _child_text(dep, "filePath")
            related = _related(dep)
            for i, (vuln, suppressed) in enumerate(vulns):
                with found.item(f"dependencies[{n}] vulnerability {i}"):
                    found.append(_finding(vuln, package, file_path, suppressed, version, source))
                    for rel_package, rel_path in related:
                        found.append(
                            _finding(vuln, rel_package, rel_path, suppressed, version, source, related_to=file_path)
                        )
    return found
