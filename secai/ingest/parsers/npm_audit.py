"""npm audit JSON: npm 6 and older (`advisories`, `actions`) and npm 7+ (`auditReportVersion: 2`).

npm 6: one finding per advisory and installed version, with the dependency paths. Fixed versions
are the lower bounds of `patched_versions` plus the target of an `install`/`update` action on the
*same* package; an action on another package (upgrade `express` to fix `debug`) is remediation
text, never a fixed version of this one.

npm 7+: only `via` entries that are objects are advisories; string entries just say the package
is vulnerable through another one, which has its own entry. So there is one finding per advisory
per package. The report does not name the installed version. Fixed versions come from the upper
bounds of the advisory's vulnerable `range` (`>=4.0.0 <4.3.1` is fixed in 4.3.1) and from
`fixAvailable` when it names this package; otherwise `fixAvailable` becomes remediation text.
"""

from __future__ import annotations

import re
from typing import Any

from secai.errors import ParseError
from secai.findings import (
    Category,
    Finding,
    Package,
    cwe_ids,
    normalize_vuln_id,
    severity_from_text,
    unique,
    vuln_ids_in,
)
from secai.ingest.parsers._values import str_or_none
from secai.ingest.parsers.base import Findings
from secai.ingest.versions import smallest_fix_above

NAME = "npm-audit"
KIND = "json"

_HASH_PART = re.compile(r"^[0-9a-f]{40,}$")
_COMPARATOR = re.compile(r"(>=|<=|>|<|=)?\s*v?(\d[0-9A-Za-z.+-]*)")


def detect(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    if doc.get("auditReportVersion") == 2 and isinstance(doc.get("vulnerabilities"), dict):
        return True
    return isinstance(doc.get("advisories"), dict) and ("actions" in doc or "metadata" in doc)


def _bounds(range_text: str | None, op: str) -> list[str]:
    """The versions following `op` in each `||` branch of an npm range."""
    out = []
    for branch in (range_text or "").split("||"):
        for m in _COMPARATOR.finditer(branch):
            if m.group(1) == op:
                out.append(m.group(2))
    return unique(out)


def _censor(path: str) -> str:
    # npm 6 sometimes writes a 64-hex hash instead of the root package name.
    return ">".join("(root)" if _HASH_PART.match(p) else p for p in path.split(">"))


def _ids(*texts: Any) -> list[str]:
    ids: list[str] = []
    for t in texts:
        if isinstance(t, list):
            ids += [normalize_vuln_id(x) for x in (str_or_none(i) for i in t) if x]
        else:
            ids += vuln_ids_in(str_or_none(t))
    return unique(ids)


def _finding(
    adv: dict,
    ids: list[str],
    title: str,
    raw: str | None,
    package: str,
    installed: str | None,
    candidate_fixes: list[str],
    **fields: Any,
) -> Finding:
    """One npm advisory on one package; `fields` are the rest of the Finding."""
    return Finding(
        tool="npm-audit",
        title=title,
        severity=severity_from_text(raw),
        raw_severity=raw,
        category=Category.dependency,
        cwe=cwe_ids(adv.get("cwe")),
        vulnerability_ids=ids,
        package=Package(
            ecosystem="npm",
            name=package,
            version=installed,
            fixed_versions=smallest_fix_above(installed, candidate_fixes, "npm"),
        ),
        **fields,
    )


# -- npm 6 -----------------------------------------------------------------------------------------


def _v6_actions(doc: dict, source: str) -> dict[str, list[dict]]:
    actions = doc.get("actions")
    if actions is None:
        return {}
    if not isinstance(actions, list):
        raise ParseError(source, "npm audit 'actions' is not a list")
    by_advisory: dict[str, list[dict]] = {}
    for action in actions:
        if not isinstance(action, dict):
            raise ParseError(source, "npm audit action is not an object")
        for res in action.get("resolves") or []:
            if isinstance(res, dict) and res.get("id") is not None:
                by_advisory.setdefault(str(res["id"]), []).append(action)
    return by_advisory


def _v6(doc: dict, source: str) -> Findings:
    found = Findings()
    try:
        actions = _v6_actions(doc, source)
    except ParseError as e:
        found.skipped.append(f"actions: {e.problem}")
        actions = {}
    for key, adv in doc["advisories"].items():
        with found.item(f"advisories[{str(key)[:60]!r}]"):
            found.extend(_v6_advisory(key, adv, actions, source))
    return found


def _v6_advisory(key: str, adv: Any, actions: dict[str, list[dict]], source: str) -> list[Finding]:
    findings = []
    if not isinstance(adv, dict):
        raise ParseError(source, f"npm audit advisory {key} is not an object")
    adv_id = str_or_none(adv.get("id")) or str(key)
    module = str_or_none(adv.get("module_name"))
    if not module:
        raise ParseError(source, f"npm audit advisory {adv_id} has no module_name")
    ids = unique(
        ([normalize_vuln_id(g)] if (g := str_or_none(adv.get("github_advisory_id"))) else [])
        + _ids(adv.get("url"))
        + _ids(adv.get("cves") if isinstance(adv.get("cves"), list) else adv.get("cves"))
    )
    patched = _bounds(str_or_none(adv.get("patched_versions")), ">=")
    remediation_lines, action_fixes = [], []
    for action in actions.get(adv_id, []):
        name, target, kind = (
            str_or_none(action.get("module")),
            str_or_none(action.get("target")),
            str_or_none(action.get("action")),
        )
        if kind in ("install", "update") and name == module and target:
            action_fixes.append(target)
        elif kind in ("install", "update") and name and target:
            major = " (semver-major)" if action.get("isMajor") is True else ""
            remediation_lines.append(f"Upgrade {name} to {target}{major}; it pulls in a fixed {module}.")
        elif kind == "review":
            remediation_lines.append(f"No automatic fix; review {name or module} manually.")
    recommendation = str_or_none(adv.get("recommendation"))
    if recommendation:
        remediation_lines.insert(0, recommendation)
    raw = str_or_none(adv.get("severity"))
    references = [str_or_none(adv.get("url"))] + re.findall(
        r"https?://[^\s)\]>]+", str_or_none(adv.get("references")) or ""
    )
    occurrences = adv.get("findings") or [{}]
    if not isinstance(occurrences, list):
        raise ParseError(source, f"npm audit advisory {adv_id} 'findings' is not a list")
    for occ in occurrences:
        if not isinstance(occ, dict):
            raise ParseError(source, f"npm audit advisory {adv_id} finding is not an object")
        installed = str_or_none(occ.get("version"))
        paths = [_censor(p) for p in (occ.get("paths") or []) if isinstance(p, str)]
        extra: dict[str, Any] = {"advisory_id": adv_id}
        if paths:
            extra["paths"] = paths
        if str_or_none(adv.get("vulnerable_versions")):
            extra["vulnerable_versions"] = str_or_none(adv.get("vulnerable_versions"))
        if occ.get("dev") is True:
            extra["dev"] = True
        title = str_or_none(adv.get("title")) or f"Vulnerability in {module}"
        findings.append(
            _finding(
                adv,
                ids,
                title,
                raw,
                module,
                installed,
                patched + action_fixes,
                rule_id=ids[0] if ids else adv_id,
                message=f"{title} in {module}" + (f" {installed}" if installed else ""),
                description=str_or_none(adv.get("overview")),
                remediation="\n".join(unique(remediation_lines)) or None,
                references=[r for r in references if r],
                source=source,
                extra=extra,
            )
        )
    return findings


# -- npm 7+ ----------------------------------------------------------------------------------------


def _fix_available(fix: Any, package: str) -> tuple[list[str], str | None]:
    if isinstance(fix, dict):
        name, version = str_or_none(fix.get("name")), str_or_none(fix.get("version"))
        major = " (semver-major)" if fix.get("isSemVerMajor") is True else ""
        if name == package and version:
            return [version], f"Upgrade {package} to {version}{major}."
        if name and version:
            return [], f"Upgrade {name} to {version}{major}; it pulls in a fixed {package}."
    if fix is True:
        return [], "`npm audit fix` resolves this."
    if fix is False:
        return [], "No fix available."
    return [], None


def _v7(doc: dict, source: str) -> Findings:
    """One finding per advisory per package. A `via` entry that is a package name, or an advisory
    object naming another package, says the entry is vulnerable only through that package: the
    entry is recorded in `extra.effects` of that package's advisory finding, not counted again."""
    found = Findings()
    by_advisory: dict[tuple[str, str], Finding] = {}
    through: list[tuple[str, dict, str]] = []  # (package the advisory names, advisory, dependent)
    for key, entry in doc["vulnerabilities"].items():
        with found.item(f"vulnerabilities[{str(key)[:60]!r}]"):
            if not isinstance(entry, dict):
                raise ParseError(source, "entry is not an object")
            package = str_or_none(entry.get("name")) or str(key)
            via = entry.get("via") or []
            if not isinstance(via, list):
                raise ParseError(source, "'via' is not a list")
            for adv in via:
                if isinstance(adv, dict) and _advisory_package(adv) not in (None, package):
                    through.append((_advisory_package(adv), adv, package))
                elif isinstance(adv, dict):
                    f = _v7_finding(adv, package, entry, source)
                    if (package, _advisory_key(adv, f)) not in by_advisory:
                        by_advisory[(package, _advisory_key(adv, f))] = f
                        found.append(f)
                elif not isinstance(adv, str):
                    raise ParseError(source, "'via' item is not an object or string")
    for name, adv, dependent in through:
        with found.item(f"vulnerabilities[{dependent[:60]!r}] via {name[:60]!r}"):
            f = _v7_finding(adv, name, {}, source)
            key = (name, _advisory_key(adv, f))
            if key not in by_advisory:  # the advisory's own package has no entry: keep the advisory
                by_advisory[key] = f
                found.append(f)
            effects = by_advisory[key].extra.setdefault("effects", [])
            if dependent not in effects:
                effects.append(dependent)
    return found


def _advisory_package(adv: dict) -> str | None:
    """The package an advisory object is about (`name`; early npm 7 reports: `module_name`)."""
    return str_or_none(adv.get("name")) or str_or_none(adv.get("module_name"))


def _advisory_key(adv: dict, f: Finding) -> str:
    return str_or_none(adv.get("source")) or str_or_none(adv.get("id")) or f.rule_id


def _v7_finding(adv: dict, package: str, entry: dict, source: str) -> Finding:
    """The finding of advisory `adv` (a `via` object) on `package`, whose entry is `entry`."""
    fix_versions, fix_text = _fix_available(entry.get("fixAvailable"), package)
    nodes = [n for n in entry.get("nodes") or [] if isinstance(n, str)]
    url = str_or_none(adv.get("url"))
    adv_id = str_or_none(adv.get("source")) or str_or_none(adv.get("id"))
    ids = _ids(url)
    title = str_or_none(adv.get("title")) or f"Vulnerability in {package}"
    raw = str_or_none(adv.get("severity")) or str_or_none(entry.get("severity"))
    advisory_range = str_or_none(adv.get("range")) or str_or_none(adv.get("vulnerable_versions"))
    cvss = adv.get("cvss") if isinstance(adv.get("cvss"), dict) else {}
    extra: dict[str, Any] = {
        k: v
        for k, v in {
            "advisory_id": adv_id,
            "vulnerable_versions": advisory_range,
            "installed_range": str_or_none(entry.get("range")),
            "nodes": nodes,
            "effects": [e for e in entry.get("effects") or [] if isinstance(e, str)],
            "is_direct": entry.get("isDirect") if isinstance(entry.get("isDirect"), bool) else None,
            "cvss_score": cvss.get("score") if isinstance(cvss.get("score"), (int, float)) else None,
            "cvss_vector": str_or_none(cvss.get("vectorString")),
        }.items()
        if v not in (None, [], "")
    }
    return _finding(
        adv,
        ids,
        title,
        raw,
        package,
        None,
        _bounds(advisory_range, "<") + fix_versions,
        rule_id=ids[0] if ids else (adv_id or title),
        message=f"{title} in {package}",
        remediation=fix_text,
        references=[url] if url else [],
        source=source,
        extra=extra,
    )


def parse(doc: Any, source: str) -> Findings:
    if doc.get("auditReportVersion") == 2:
        return _v7(doc, source)
    return _v6(doc, source)
