"""Trivy JSON: legacy (a list of targets), schema 2 (`Results`), and Kubernetes cluster reports.

Vulnerabilities become dependency findings whose rule id is the vulnerability id and whose path
is the one Trivy's own SARIF uses (the package path, or the image repository for OS packages), so
the SARIF and JSON of one scan dedupe. Misconfigurations (failed only), secrets (matched lines
redacted) and licenses are kept too. Findings an ignore file or VEX suppressed (`--show-suppressed`:
`ModifiedFindings`, earlier `ExperimentalModifiedFindings`) are kept, flagged suppressed, with
their statement in `extra["suppression"]`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from secai.errors import ParseError
from secai.findings import (
    Category,
    Finding,
    Severity,
    build_finding,
    cwe_ids,
    severity_from_text,
    unique,
    vuln_ids_in,
)
from secai.ingest import versions
from secai.ingest.parsers._values import (
    PURL_ECOSYSTEMS,
    list_or_error,
    repo_relative,
    str_or_none,
)
from secai.ingest.parsers.base import Findings

NAME = "trivy-json"
KIND = "json"
PRIORITY = 50

_RESULT_KEYS = ("Vulnerabilities", "Misconfigurations", "Secrets", "Licenses")

#: Trivy `Type` -> OSV-style ecosystem name (also used by `secai.ingest.versions`).
TYPE_ECOSYSTEMS = {
    "ubuntu": "Ubuntu",
    "debian": "Debian",
    "alpine": "Alpine",
    "redhat": "Red Hat",
    "centos": "CentOS",
    "rocky": "Rocky Linux",
    "alma": "AlmaLinux",
    "oracle": "Oracle Linux",
    "amazon": "Amazon Linux",
    "fedora": "Fedora",
    "photon": "Photon OS",
    "wolfi": "Wolfi",
    "chainguard": "Chainguard",
    "cbl-mariner": "CBL-Mariner",
    "azurelinux": "Azure Linux",
    "suse linux enterprise server": "SUSE",
    "opensuse.leap": "openSUSE",
    "opensuse.tumbleweed": "openSUSE",
    "jar": "Maven",
    "pom": "Maven",
    "gradle": "Maven",
    "sbt": "Maven",
    "npm": "npm",
    "yarn": "npm",
    "pnpm": "npm",
    "node-pkg": "npm",
    "bun": "npm",
    "pip": "PyPI",
    "pipenv": "PyPI",
    "poetry": "PyPI",
    "python-pkg": "PyPI",
    "uv": "PyPI",
    "gomod": "Go",
    "gobinary": "Go",
    "cargo": "crates.io",
    "rust-binary": "crates.io",
    "bundler": "RubyGems",
    "gemspec": "RubyGems",
    "composer": "Packagist",
    "composer-vendor": "Packagist",
    "nuget": "NuGet",
    "dotnet-core": "NuGet",
    "packages-props": "NuGet",
    "pub": "Pub",
    "hex": "Hex",
    "swift": "SwiftURL",
    "cocoapods": "CocoaPods",
    "conan": "ConanCenter",
    "conda-pkg": "conda",
}
_OS_TYPES = {
    "ubuntu",
    "debian",
    "alpine",
    "redhat",
    "centos",
    "rocky",
    "alma",
    "oracle",
    "amazon",
    "fedora",
    "photon",
    "wolfi",
    "chainguard",
    "cbl-mariner",
    "azurelinux",
    "suse linux enterprise server",
    "opensuse.leap",
    "opensuse.tumbleweed",
}


def detect(doc: Any) -> bool:
    if isinstance(doc, list):
        return (
            bool(doc)
            and all(isinstance(t, dict) and "Target" in t for t in doc)
            and any(k in doc[0] for k in _RESULT_KEYS + ("Type",))
        )
    if not isinstance(doc, dict):
        return False
    if "SchemaVersion" in doc and ("Results" in doc or "ArtifactName" in doc):
        return True
    return "ClusterName" in doc and any(k in doc for k in ("Resources", "Vulnerabilities", "Misconfigurations"))


@lru_cache(maxsize=1024)  # every vulnerability of a target asks again
def target_path(target: str, os_packages: bool) -> str:
    """The path Trivy's SARIF gives a target: for OS packages the image repository
    (`ghcr.io/o/img:tag (ubuntu 24.04)` -> `o/img`), else the target itself."""
    if not os_packages:
        return repo_relative(target)
    t = re.sub(r"\s*\(.*?\).*$", "", target.strip()) or target.strip()
    ref = t.split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    if ":" in last:
        ref = (head + "/" if head else "") + last.split(":", 1)[0]
    parts = ref.split("/")
    if re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*", "/".join(parts[1:]) or parts[0]):
        if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
            parts = parts[1:]  # registry host
        elif len(parts) == 1:
            parts = ["library"] + parts  # Docker Hub official image
        return "/".join(parts)
    return repo_relative(t)


def _ecosystem(result: dict, vuln: dict) -> str | None:
    purl = (vuln.get("PkgIdentifier") or {}).get("PURL") if isinstance(vuln.get("PkgIdentifier"), dict) else None
    if isinstance(purl, str) and purl.startswith("pkg:"):
        eco = PURL_ECOSYSTEMS.get(purl[4:].split("/", 1)[0].lower())
        if eco and eco not in ("Debian", "Alpine", "Red Hat"):
            return eco
    typ = str(result.get("Type") or "").lower()
    return TYPE_ECOSYSTEMS.get(typ, typ or None)


def parse(doc: Any, source: str) -> Findings:
    version = None
    found = Findings()
    context: list[tuple[str, Any, str | None]] = []  # (where, result, workload)
    if isinstance(doc, list):
        context = [(f"[{n}]", r, None) for n, r in enumerate(doc)]
    elif isinstance(doc, dict):
        version = str_or_none((doc.get("Trivy") or {}).get("Version")) if isinstance(doc.get("Trivy"), dict) else None
        if "ClusterName" in doc:
            for key in ("Resources", "Vulnerabilities", "Misconfigurations"):
                for n, res in enumerate(list_or_error(doc.get(key), key)):
                    with found.item(f"{key}[{n}]"):
                        if not isinstance(res, dict):
                            raise ParseError(source, "entry is not an object")
                        workload = " / ".join(str(res[k]) for k in ("Namespace", "Kind", "Name") if res.get(k))
                        results = list_or_error(res.get("Results"), "Results")
                        context += [(f"{key}[{n}].Results[{i}]", r, workload or None) for i, r in enumerate(results)]
        else:
            context = [(f"Results[{n}]", r, None) for n, r in enumerate(list_or_error(doc.get("Results"), "Results"))]
    else:
        raise ParseError(source, "Trivy report is neither a list of targets nor an object")
    seen: set[tuple] = set()
    for where, result, workload in context:
        with found.item(where):
            if not isinstance(result, dict):
                raise ParseError(source, "result is not an object")
            for f in _parse_result(result, source, version, where, found):
                if workload:
                    f.extra["workload"] = workload
                key = f.dedupe_key() + (workload,)
                if key not in seen:  # cluster reports repeat an image's findings per workload
                    seen.add(key)
                    found.append(f)
    return found


def _parse_result(result: dict, source: str, version: str | None, where: str, found: Findings) -> list[Finding]:
    """The findings of one target; a malformed item is noted in `found` and left out."""
    target = str(result.get("Target") or "")
    cls = str(result.get("Class") or "")
    typ = str(result.get("Type") or "").lower()
    os_pkgs = cls == "os-pkgs" or (not cls and typ in _OS_TYPES)
    out: list[Finding] = []
    for i, v in enumerate(list_or_error(result.get("Vulnerabilities"), "Vulnerabilities")):
        with found.item(f"{where}.Vulnerabilities[{i}]"):
            out.append(_vulnerability(v, result, target, os_pkgs, version, source))
    for i, m in enumerate(list_or_error(result.get("Misconfigurations"), "Misconfigurations")):
        with found.item(f"{where}.Misconfigurations[{i}]"):
            if not isinstance(m, dict):
                raise ParseError(source, "misconfiguration is not an object")
            if str(m.get("Status") or "FAIL").upper() == "FAIL":
                out.append(_misconfiguration(m, target, typ, version))
    for i, s in enumerate(list_or_error(result.get("Secrets"), "Secrets")):
        with found.item(f"{where}.Secrets[{i}]"):
            if not isinstance(s, dict):
                raise ParseError(source, "secret is not an object")
            out.append(_secret(s, target, version))
    for i, lic in enumerate(list_or_error(result.get("Licenses"), "Licenses")):
        with found.item(f"{where}.Licenses[{i}]"):
            if not isinstance(lic, dict):
                raise ParseError(source, "license is not an object")
            out.append(_license(lic, target, version))
    for key in ("ModifiedFindings", "ExperimentalModifiedFindings"):  # `--show-suppressed`
        for i, mod in enumerate(list_or_error(result.get(key), key)):
            with found.item(f"{where}.{key}[{i}]"):
                f = _modified(mod, result, target, os_pkgs, typ, version, source)
                if f is not None:
                    out.append(f)
    return out


def _modified(mod: Any, result: dict, target: str, os_pkgs: bool, typ: str, version, source) -> Finding | None:
    """A finding Trivy's ignore file or VEX left out (`--show-suppressed`): kept, flagged suppressed,
    with its statement (docs/triage.md)."""
    if not isinstance(mod, dict) or not isinstance(mod.get("Finding"), dict):
        raise ParseError(source, "modified finding lacks a 'Finding' object")
    kind, item = str(mod.get("Type") or "").lower(), mod["Finding"]
    if kind == "vulnerability":
        f = _vulnerability(item, result, target, os_pkgs, version, source)
    elif kind == "misconfiguration":
        f = _misconfiguration(item, target, typ, version)
    elif kind == "secret":
        f = _secret(item, target, version)
    elif kind == "license":
        f = _license(item, target, version)
    else:
        return None
    f.suppressed = True
    sup = {
        "kind": "external",
        "status": str_or_none(mod.get("Status")),
        "justification": str_or_none(mod.get("Statement")),
    }
    sup["source"] = str_or_none(mod.get("Source"))
    f.extra["suppression"] = {k: v[:500] for k, v in sup.items() if v}
    return f


def _references(item: dict) -> list[str]:
    refs = item.get("References")
    return unique(
        [str_or_none(item.get("PrimaryURL"))]
        + [r for r in (refs if isinstance(refs, list) else []) if isinstance(r, str)]
    )


def _vulnerability(v: Any, result: dict, target: str, os_pkgs: bool, version, source) -> Finding:
    if not isinstance(v, dict) or not v.get("VulnerabilityID") or not v.get("PkgName"):
        raise ParseError(source, "vulnerability lacks VulnerabilityID or PkgName")
    vid = str(v["VulnerabilityID"])
    name = str(v["PkgName"])
    installed = str_or_none(v.get("InstalledVersion"))
    eco = _ecosystem(result, v)
    fixed = versions.smallest_fix_above(installed, versions.split_versions(v.get("FixedVersion")), eco)
    purl = (v.get("PkgIdentifier") or {}).get("PURL") if isinstance(v.get("PkgIdentifier"), dict) else None
    pkg_path = str_or_none(v.get("PkgPath"))
    path = repo_relative(pkg_path) if pkg_path else target_path(target, os_pkgs)
    extra: dict[str, Any] = {"target": target}
    cvss = v.get("CVSS") if isinstance(v.get("CVSS"), dict) else {}
    for src in (v.get("SeveritySource"), "nvd", "ghsa", "redhat"):
        entry = cvss.get(src) if isinstance(src, str) else None
        if isinstance(entry, dict) and entry.get("V3Vector"):
            extra["cvss_v3"] = entry.get("V3Vector")
            if entry.get("V3Score") is not None:
                extra["cvss_v3_score"] = entry.get("V3Score")
            break
    return build_finding(
        {
            "tool": "trivy",
            "tool_version": version,
            "rule_id": vid,
            "title": str_or_none(v.get("Title")) or f"{vid} {name} {installed or ''}".strip(),
            "severity": severity_from_text(v.get("Severity"), Severity.info),
            "raw_severity": str_or_none(v.get("Severity")),
            "category": Category.dependency,
            "cwe": cwe_ids(v.get("CweIDs")),
            "vulnerability_ids": vuln_ids_in(vid) or [vid],
            "package": {
                "ecosystem": eco,
                "name": name,
                "version": installed,
                "fixed_versions": fixed,
                "purl": purl if isinstance(purl, str) else None,
            },
            "location": {"path": path},
            "message": f"{name} {installed or ''} is affected by {vid}"
            + (f"; fixed in {', '.join(fixed)}" if fixed else "; no fixed version"),
            "description": str_or_none(v.get("Description")),
            "remediation": f"Upgrade {name} to {fixed[0]} or later." if fixed else None,
            "references": _references(v),
            "source": source,
            "extra": extra,
        }
    )


def _lines(meta: dict) -> tuple[int | None, int | None]:
    def num(x):
        return x if isinstance(x, int) and not isinstance(x, bool) and x >= 1 else None

    start, end = num(meta.get("StartLine")), num(meta.get("EndLine"))
    return start, (end if end and start and end >= start else start)


def _code_lines(meta: dict) -> list[dict]:
    code = meta.get("Code") if isinstance(meta.get("Code"), dict) else {}
    return [ln for ln in (code.get("Lines") or []) if isinstance(ln, dict)]


def _misconfiguration(m: dict, target: str, typ: str, version) -> Finding:
    meta = m.get("CauseMetadata") if isinstance(m.get("CauseMetadata"), dict) else {}
    start, end = _lines(meta)
    snippet = "\n".join(str(ln.get("Content", "")) for ln in _code_lines(meta) if ln.get("IsCause", True)) or None
    rule_id = str_or_none(m.get("ID")) or str_or_none(m.get("AVDID")) or "misconfiguration"
    extra = {k: m[k] for k in ("AVDID", "Type", "Namespace") if isinstance(m.get(k), str)}
    if meta.get("Resource"):
        extra["resource"] = str(meta["Resource"])
    return build_finding(
        {
            "tool": "trivy",
            "tool_version": version,
            "rule_id": rule_id,
            "title": str_or_none(m.get("Title")) or rule_id,
            "severity": severity_from_text(m.get("Severity"), Severity.medium),
            "raw_severity": str_or_none(m.get("Severity")),
            "category": Category.iac,
            "location": {"path": repo_relative(target), "start_line": start, "end_line": end, "snippet": snippet}
            if target
            else None,
            "message": str_or_none(m.get("Message")) or str_or_none(m.get("Title")) or rule_id,
            "description": str_or_none(m.get("Description")),
            "remediation": str_or_none(m.get("Resolution")),
            "references": _references(m),
            "extra": extra,
        }
    )


def _secret(s: dict, target: str, version) -> Finding:
    start, end = _lines(s)
    code_lines = [str(ln.get("Content")) for ln in _code_lines(s) if ln.get("Content")]
    match = str_or_none(s.get("Match"))
    title = str_or_none(s.get("Title")) or str_or_none(s.get("RuleID")) or "secret"
    finding = build_finding(
        {
            "tool": "trivy",
            "tool_version": version,
            "rule_id": str_or_none(s.get("RuleID")) or "secret",
            "title": title,
            "severity": severity_from_text(s.get("Severity"), Severity.high),
            "raw_severity": str_or_none(s.get("Severity")),
            "category": Category.secret,
            "location": {"path": repo_relative(target), "start_line": start, "end_line": end, "snippet": match}
            if target
            else None,
            "message": f"{title} in {target}" + (f" line {start}" if start else ""),
            "extra": {"secret_category": s["Category"]} if isinstance(s.get("Category"), str) else {},
        }
    )
    # The matched line (even when Trivy masked it with '*') is handed to the redaction layer whole.
    finding.extra["_secrets"] = [x for x in [match] + code_lines if x]
    return finding


def _license(lic: dict, target: str, version) -> Finding:
    name = str_or_none(lic.get("Name")) or "unknown license"
    pkg = str_or_none(lic.get("PkgName"))
    path = str_or_none(lic.get("FilePath")) or target
    return build_finding(
        {
            "tool": "trivy",
            "tool_version": version,
            "rule_id": f"license:{name}",
            "title": f"License {name}"
            + (f" ({lic['Category']})" if lic.get("Category") else "")
            + (f" in {pkg}" if pkg else ""),
            "severity": severity_from_text(lic.get("Severity"), Severity.low),
            "raw_severity": str_or_none(lic.get("Severity")),
            "category": Category.license,
            "package": {"name": pkg} if pkg else None,
            "location": {"path": repo_relative(path)} if path else None,
            "message": f"{pkg or path} is licensed under {name}",
            "references": unique([str_or_none(lic.get("Link"))]),
            "extra": {"license_category": lic["Category"]} if isinstance(lic.get("Category"), str) else {},
        }
    )
