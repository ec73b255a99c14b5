"""SARIF 2.1.0 from any tool (CodeQL, Semgrep, Trivy, Checkov, Gitleaks, Bandit, SpotBugs, ...).

One finding per result location (a result without one gives one finding); results whose `kind`
is not `fail` are skipped; suppressed results are kept and flagged, their suppression (kind,
status, justification) in `extra["suppression"]`. Severity comes from `level`
(or the rule's default level) unless a numeric `security-severity` overrides it. Trivy results
carry their package facts in the message text, which is parsed into a `Package`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from secai.errors import ParseError
from secai.findings import (
    Category,
    Finding,
    Location,
    Package,
    Severity,
    build_finding,
    build_location,
    build_package,
    canonical_tool,
    cwe_ids,
    normalize_vuln_id,
    severity_from_score,
    unique,
    vuln_ids_in,
)
from secai.ingest import versions
from secai.ingest.parsers._values import (
    DRIVE_RE,
    PURL_ECOSYSTEMS,
    cvss_score,
    dict_or_empty,
    list_or_empty,
    positive_int,
    repo_relative,
)
from secai.ingest.parsers.base import Findings

NAME = "sarif"
KIND = "json"
PRIORITY = 10

_LEVELS = {"error": Severity.high, "warning": Severity.medium, "note": Severity.low, "none": Severity.info}
_IAC_TOOLS = {
    "checkov",
    "kics",
    "tfsec",
    "terrascan",
    "hadolint",
    "cfn-lint",
    "cfn_nag",
    "kube-linter",
    "kubesec",
    "dockle",
    "tflint",
    "trivy-config",
}
_SECRET_TOOLS = {"gitleaks", "trufflehog", "detect-secrets", "ggshield", "secretlint"}
_SCA_TOOLS = {"grype", "dependency-check", "osv-scanner", "snyk", "npm-audit", "pip-audit", "govulncheck"}
_SECRET_RULE = re.compile(r"(^|[./_-])secrets?([./_-]|$)", re.IGNORECASE)


def detect(doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        return False
    version = str(doc.get("version", ""))
    schema = str(doc.get("$schema", "")).lower()
    return version.startswith("2.") or "sarif" in schema


# -- paths -----------------------------------------------------------------------------------------


def _uri_root(uri: Any) -> str | None:
    if not isinstance(uri, str) or not uri:
        return None
    root = repo_relative(uri) if uri.lower().startswith("file:") else unquote(uri).replace("\\", "/")
    if not root.startswith("/") and not DRIVE_RE.match(root):
        return None
    return root if root.endswith("/") else root + "/"


class _Paths:
    """Repo-relative paths of a run's artifact URIs, and the ecosystems those paths imply; a
    run's results name the same few files over and over."""

    def __init__(self, run: dict):
        self.roots = _run_roots(run)
        self.artifacts = [dict_or_empty(a) for a in list_or_empty(run.get("artifacts"))]
        self._relative: dict[str, str] = {}
        self._ecosystem: dict[str, str | None] = {}

    def relative(self, uri: str) -> str:
        path = self._relative.get(uri)
        if path is None:
            path = self._relative[uri] = repo_relative(uri, self.roots)
        return path

    def ecosystem(self, path: str | None) -> str | None:
        key = path or ""
        if key not in self._ecosystem:
            self._ecosystem[key] = _path_ecosystem(key)
        return self._ecosystem[key]


def _run_roots(run: dict) -> list[str]:
    roots = []
    bases = run.get("originalUriBaseIds")
    if isinstance(bases, dict):
        for base in bases.values():
            if isinstance(base, dict):
                roots.append(_uri_root(base.get("uri")))
    for inv in list_or_empty(run.get("invocations")):
        if isinstance(inv, dict) and isinstance(inv.get("workingDirectory"), dict):
            roots.append(_uri_root(inv["workingDirectory"].get("uri")))
    return [r for r in roots if r]


# -- small helpers ---------------------------------------------------------------------------------


def _message_text(v: Any) -> str | None:
    """`{"text": ...}` / `{"markdown": ...}` message objects, or a plain string."""
    if isinstance(v, str):
        return v.strip() or None
    if isinstance(v, dict):
        for key in ("text", "markdown"):
            text = v.get(key)
            if isinstance(text, str) and (text := text.strip()):
                return text
    return None


_PLACEHOLDER = re.compile(r"\{(\d+)\}")


def _message(result: dict, rule: dict, driver: dict) -> str:
    msg = dict_or_empty(result.get("message"))
    text = _message_text(msg)
    args = [str(a) for a in list_or_empty(msg.get("arguments"))] if msg.get("arguments") else []
    if text is None and isinstance(msg.get("id"), str):
        strings = {**dict_or_empty(driver.get("globalMessageStrings")), **dict_or_empty(rule.get("messageStrings"))}
        text = _message_text(strings.get(msg["id"]))
    if text and args:
        text = _PLACEHOLDER.sub(lambda m: args[int(m.group(1))] if int(m.group(1)) < len(args) else m.group(0), text)
    return text or ""


# -- rules and taxonomies --------------------------------------------------------------------------


class _Rules:
    def __init__(self, run: dict):
        driver = dict_or_empty(dict_or_empty(run.get("tool")).get("driver"))
        self.driver = driver
        self._facts: dict[int, _RuleFacts] = {}
        self._tag_memo: dict[tuple, tuple[list[int], list[str], list[str]]] = {}
        self.by_index = [r if isinstance(r, dict) else {} for r in list_or_empty(driver.get("rules"))]
        self.by_id: dict[str, dict] = {}
        for ext in [driver] + [
            dict_or_empty(e) for e in list_or_empty(dict_or_empty(run.get("tool")).get("extensions"))
        ]:
            for r in list_or_empty(ext.get("rules")):
                if isinstance(r, dict) and isinstance(r.get("id"), str):
                    self.by_id.setdefault(r["id"], r)
                    for alias in list_or_empty(r.get("deprecatedIds")):
                        if isinstance(alias, str):
                            self.by_id.setdefault(alias, r)
        # CWE taxonomy: taxon id -> CWE number (ids are "79" or "CWE-79")
        self.cwe_taxa: dict[str, list[int]] = {}
        for tax in list_or_empty(run.get("taxonomies")):
            tax = dict_or_empty(tax)
            if str(tax.get("name", "")).upper() != "CWE":
                continue
            for taxon in list_or_empty(tax.get("taxa")):
                taxon = dict_or_empty(taxon)
                tid = str(taxon.get("id", ""))
                self.cwe_taxa[tid] = cwe_ids(tid if not tid.isdigit() else int(tid), taxon.get("name"))[:1]

    def lookup(self, result: dict) -> tuple[str, dict]:
        ref = dict_or_empty(result.get("rule"))
        rule_id = result.get("ruleId") or ref.get("id")
        index = result.get("ruleIndex", ref.get("index"))
        rule: dict = {}
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(self.by_index):
            rule = self.by_index[index]
        if not rule and isinstance(rule_id, str):
            rule = self.by_id.get(rule_id, {})
            if not rule and "/" in rule_id:  # hierarchical ids ("a/b") may name a rule "a"
                rule = self.by_id.get(rule_id.split("/")[0], {})
        if not isinstance(rule_id, str) or not rule_id:
            rule_id = rule.get("id") if isinstance(rule.get("id"), str) else ""
        return rule_id, rule

    def facts(self, rule: dict) -> _RuleFacts:
        """What a rule contributes to each of its results, worked out once per rule."""
        hit = self._facts.get(id(rule))
        if hit is not None and hit.rule is rule:
            return hit
        facts = self._facts[id(rule)] = _RuleFacts(rule, self)
        return facts

    def tag_facts(self, tags: list) -> tuple[list[int], list[str], list[str]]:
        """The CWE ids and advisory ids in a tag list, and the tags in lower case; once per tag
        list, as the rules of a run mostly repeat a few."""
        if not tags:
            return [], [], []
        key = tuple(tags) if all(type(t) is str for t in tags) else None  # 1, 1.0 and True: one key, three tags
        hit = self._tag_memo.get(key) if key is not None else None
        if hit is None:
            strings = [str(t) for t in tags]
            hit = (cwe_ids(tags), vuln_ids_in(" ".join(strings)), [t.lower() for t in strings])
            if key is not None:
                self._tag_memo[key] = hit
        return hit

    def cwes(self, holder: dict, tag_cwes: list[int] | None = None) -> list[int]:
        """CWE ids of a rule or a result: in its tags (`tag_cwes`, when already known), named
        properties, and relationships or taxa."""
        props = dict_or_empty(holder.get("properties"))
        out = list(tag_cwes if tag_cwes is not None else self.tag_facts(list_or_empty(props.get("tags")))[0])
        named = (props.get("cwe"), props.get("CWE"), props.get("cwe_ids"))
        if named != (None, None, None):
            out += cwe_ids(*named)
        for rel in list_or_empty(holder.get("relationships")) + list_or_empty(holder.get("taxa")):
            rel = dict_or_empty(rel)
            target = dict_or_empty(rel.get("target")) or rel
            comp = str(dict_or_empty(target.get("toolComponent")).get("name", "")).upper()
            tid = str(target.get("id", ""))
            if tid in self.cwe_taxa:
                out += self.cwe_taxa[tid]
            elif comp == "CWE" or tid.upper().startswith("CWE"):
                out += cwe_ids(int(tid) if tid.isdigit() else tid)
        return sorted(set(out))


class _RuleFacts:
    def __init__(self, rule: dict, rules: _Rules):
        self.rule = rule
        props = dict_or_empty(rule.get("properties"))
        self.props = props
        self.title = _message_text(rule.get("shortDescription")) or (
            rule.get("name") if isinstance(rule.get("name"), str) else None
        )
        self.description = (
            _message_text(rule.get("fullDescription"))
            or _message_text(rule.get("help"))
            or _message_text(props.get("description"))
        )
        help_ = dict_or_empty(rule.get("help"))
        self.help_md = _message_text(help_.get("markdown")) or _message_text(help_.get("text"))
        # whether the help text only restates the rule's description or title (then it is no remediation)
        help_md, description, title = self.help_md, self.description, self.title
        self.help_restates = bool(help_md) and (
            bool(description) and help_md.startswith(description) or bool(title) and help_md.startswith(title)
        )
        self.help_uri = rule.get("helpUri") if isinstance(rule.get("helpUri"), str) else None
        self.references = [r for r in list_or_empty(props.get("references")) if isinstance(r, str)]
        tag_cwes, self.tag_vulns, self.tags = rules.tag_facts(list_or_empty(props.get("tags")))
        self.cwes = rules.cwes(rule, tag_cwes)
        self.name = str(rule.get("name", ""))
        # a rule's own `security-severity` (when its result has none), its extra facts, and the
        # references of a result that adds none of its own
        score = cvss_score(props.get("security-severity"))
        self.severity = (severity_from_score(score), str(props["security-severity"])) if score is not None else None
        self.extra = {}
        from_result = []
        for key in _EXTRA_KEYS:
            if key not in props:
                from_result.append(key)
            elif isinstance(value := props[key], (str, int, float)):
                self.extra[key] = value
        self.extra_from_result = tuple(from_result)
        self.own_references = unique([self.help_uri] + self.references)


# -- Trivy and Gitleaks enrichment -----------------------------------------------------------------

_TRIVY_FIELD = re.compile(
    r"^(Package|Installed Version|Fixed Version|Severity|Vulnerability|PkgPath|Link|Artifact|Type|Message|Secret|Match)\s*:?\s*(.*)$"
)


def _trivy_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        m = _TRIVY_FIELD.match(line.strip())
        if m:  # the value has no whitespace at its ends: the pattern's `\s*` takes any before it
            fields.setdefault(*m.groups())
    return fields


_LINK = re.compile(r"\((https?://[^)\s]+)\)")


def _links(text: str | None) -> list[str]:
    return _LINK.findall(text) if text else []


_INSTALLED = re.compile(r"^Installed Version:\s*(\S+)", re.MULTILINE)
_DEBIAN = re.compile(r"deb\d+u\d+|\+deb\d")
_ALPINE = re.compile(r"-r\d+$")
_RED_HAT = re.compile(r"\.el\d")


def _os_family(run: dict) -> str | None:
    """Trivy's SARIF does not name the image's OS; its package versions usually do."""
    counts = {"Ubuntu": 0, "Debian": 0, "Alpine": 0, "Red Hat": 0}
    for res in list_or_empty(run.get("results")):
        text = _message_text(dict_or_empty(dict_or_empty(res).get("message"))) or ""
        m = _INSTALLED.search(text)
        if not m:
            continue
        v = m.group(1)
        if "ubuntu" in v:
            counts["Ubuntu"] += 1
        elif _DEBIAN.search(v):
            counts["Debian"] += 1
        elif _ALPINE.search(v):
            counts["Alpine"] += 1
        elif _RED_HAT.search(v):
            counts["Red Hat"] += 1
    best = max(counts, key=counts.get)
    return best if counts[best] else None


_MAVEN_NAME = re.compile(r"[\w.-]+\.[\w.-]+:[\w.-]+")


def _name_ecosystem(name: str) -> str | None:
    return "Maven" if _MAVEN_NAME.fullmatch(name) else None  # groupId:artifactId


def _path_ecosystem(path: str) -> str | None:
    """Ecosystem of a Trivy language package from where it was found."""
    p = path.lower()
    base = p.rsplit("/", 1)[-1]
    for suffixes, eco in (
        ((".jar", ".war", ".ear", "pom.xml", "gradle.lockfile", ".gradle", ".gradle.kts"), "Maven"),
        (("package-lock.json", "yarn.lock", "pnpm-lock.yaml", "package.json", "bun.lock"), "npm"),
        (
            ("requirements.txt", "poetry.lock", "pipfile.lock", "uv.lock", ".whl", ".egg-info", "metadata", "setup.py"),
            "PyPI",
        ),
        (("go.mod", "go.sum"), "Go"),
        (("cargo.lock",), "crates.io"),
        (("gemfile.lock", ".gemspec"), "RubyGems"),
        (("composer.lock",), "Packagist"),
        (("packages.lock.json", ".deps.json", "packages.config"), "NuGet"),
    ):
        if base.endswith(suffixes) or p.endswith(suffixes):
            return eco
    return None


_SUFFIX = re.compile(r"\.\w+$")


def _trivy_package(
    fields: dict[str, str], path: str | None, os_family: str | None, props: dict, paths: _Paths
) -> Package | None:
    name = fields.get("Package")
    if not name:
        return None
    installed = fields.get("Installed Version") or None
    purl = props.get("purl") if isinstance(props.get("purl"), str) else None
    eco = None
    if purl and purl.startswith("pkg:"):
        eco = PURL_ECOSYSTEMS.get(purl[4:].split("/", 1)[0].lower())
    eco = eco or paths.ecosystem(path) or _name_ecosystem(name)
    if eco is None and path and "/" in path and not _SUFFIX.search(path):
        eco = os_family  # an OS package of an image ("owner/image" path)
    fixed = versions.smallest_fix_above(installed, versions.split_versions(fields.get("Fixed Version")), eco)
    return build_package({"ecosystem": eco, "name": name, "version": installed, "fixed_versions": fixed, "purl": purl})


def _exported_package(p: dict) -> Package | None:
    """`properties.package` as secai's own SARIF export writes it."""
    if not isinstance(p.get("name"), str) or not p["name"]:
        return None
    fixed = p.get("fixed_versions")
    return Package(
        name=p["name"],
        ecosystem=p["ecosystem"] if isinstance(p.get("ecosystem"), str) else None,
        version=p["version"] if isinstance(p.get("version"), str) else None,
        fixed_versions=[v for v in fixed if isinstance(v, str)] if isinstance(fixed, list) else [],
        purl=p["purl"] if isinstance(p.get("purl"), str) else None,
    )


# -- the parser ------------------------------------------------------------------------------------


def parse(doc: Any, source: str) -> Findings:
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise ParseError(source, "SARIF has no 'runs' array")
    found = Findings()
    for i, run in enumerate(doc["runs"]):
        with found.item(f"runs[{i}]"):
            if not isinstance(run, dict):
                raise ParseError(source, "run is not an object")
            driver = dict_or_empty(dict_or_empty(run.get("tool")).get("driver"))
            if not isinstance(driver.get("name"), str):
                raise ParseError(source, "tool.driver.name is missing")
            results = run.get("results")
            if results is None:
                continue
            if not isinstance(results, list):
                raise ParseError(source, "results is not an array")
            _parse_run(run, driver, source, i, found)
    return found


def _parse_run(run: dict, driver: dict, source: str, i: int, found: Findings) -> None:
    tool = canonical_tool(driver["name"])
    tool_version = driver.get("semanticVersion") or driver.get("version")
    tool_version = str(tool_version) if tool_version not in (None, "") else None
    rules = _Rules(run)
    paths = _Paths(run)
    os_family = _os_family(run) if tool == "trivy" else None
    for j, result in enumerate(run["results"]):
        with found.item(f"runs[{i}].results[{j}]"):
            if not isinstance(result, dict):
                raise ParseError(source, "result is not an object")
            if result.get("kind") not in (None, "fail"):
                continue
            found.extend(_parse_result(result, rules, tool, tool_version, paths, os_family, source))


_EXTRA_KEYS = ("precision", "problem.severity", "confidence", "issue_confidence")


def _severity(result: dict, props: dict, rule: dict, facts: _RuleFacts) -> tuple[Severity, str]:
    score = cvss_score(props.get("security-severity"))
    if score is not None:
        return severity_from_score(score), str(props["security-severity"])
    if facts.severity is not None:
        return facts.severity
    level = result.get("level") or dict_or_empty(rule.get("defaultConfiguration")).get("level") or "warning"
    level = str(level).lower()
    return _LEVELS.get(level, Severity.medium), level


def _suppressed(result: dict) -> bool:
    if not result.get("suppressions"):
        return False
    sup = [dict_or_empty(s) for s in list_or_empty(result.get("suppressions"))]
    return bool(sup) and not all(s.get("status") == "rejected" for s in sup)


def _suppression(result: dict) -> dict[str, str]:
    """The first suppression that is not rejected: its kind, status and justification (kept for
    triage labels, docs/triage.md)."""
    for s in list_or_empty(result.get("suppressions")):
        s = dict_or_empty(s)
        if s.get("status") == "rejected":
            continue
        out = {k: s[k].strip()[:500] for k in ("kind", "status", "justification") if isinstance(s.get(k), str)}
        return {k: v for k, v in out.items() if v}
    return {}


def _category(tool: str, rule_id: str, facts: _RuleFacts, package: Package | None, fields: dict) -> Category:
    tags, rule_name = facts.tags, facts.name
    if package is not None:
        return Category.dependency
    if tool == "trivy":
        if rule_name == "Misconfiguration" or "misconfiguration" in tags:
            return Category.iac
        if rule_name == "Secret" or "secret" in tags:
            return Category.secret
        if rule_name == "License" or "license" in tags:
            return Category.license
        if "Type" in fields and "Artifact" in fields:
            return Category.iac
    if tool in _SECRET_TOOLS or "secret" in tags or "secrets" in tags or _SECRET_RULE.search(rule_id):
        return Category.secret
    if tool in _IAC_TOOLS:
        return Category.iac
    if tool in _SCA_TOOLS:
        return Category.dependency
    return Category.code


def _locations(result: dict, paths: _Paths, lines: bool = True) -> list[Location | None]:
    """Each location of a result (None for one without a usable URI); only paths, no lines or
    snippet, when not `lines`."""
    locs: list[Location | None] = []
    for loc in list_or_empty(result.get("locations")):
        phys = dict_or_empty(dict_or_empty(loc).get("physicalLocation"))
        art = dict_or_empty(phys.get("artifactLocation"))
        uri = art.get("uri")
        if not isinstance(uri, str):
            idx = art.get("index")
            if isinstance(idx, int) and 0 <= idx < len(paths.artifacts):
                uri = dict_or_empty(paths.artifacts[idx].get("location")).get("uri")
        if not isinstance(uri, str) or not uri.strip():
            locs.append(None)
            continue
        if not lines:
            locs.append(build_location({"path": paths.relative(uri)}))
            continue
        region = dict_or_empty(phys.get("region"))
        start = positive_int(region.get("startLine"))
        end = positive_int(region.get("endLine")) or start
        if start and end and end < start:
            end = start
        snippet = _message_text(region.get("snippet")) or _message_text(
            dict_or_empty(phys.get("contextRegion")).get("snippet")
        )
        locs.append(
            build_location(
                {
                    "path": paths.relative(uri),
                    "start_line": start,
                    "end_line": end,
                    "start_column": positive_int(region.get("startColumn")) if start else None,
                    "snippet": snippet,
                }
            )
        )
    return locs or [None]


@lru_cache(maxsize=4096)
def _rule_id_vuln(rule_id: str) -> tuple[str, ...]:
    vid = normalize_vuln_id(rule_id)
    return (vid,) if vuln_ids_in(rule_id) == [vid] else ()


def _parse_result(result, rules: _Rules, tool, tool_version, paths: _Paths, os_family, source) -> list[Finding]:
    rule_id, rule = rules.lookup(result)
    message = _message(result, rule, rules.driver)
    props = dict_or_empty(result.get("properties"))
    secrets: list[str] = []
    fields = _trivy_fields(message) if tool == "trivy" else {}
    facts = first_facts = rules.facts(rule)  # severity and extra facts: of the rule the result names
    severity, raw = _severity(result, props, rule, facts)

    if not rule_id and tool == "gitleaks":  # gitleaks 7 leaves ruleId out; its message names the rule
        rule_id = re.sub(r"\s+secret detected$", "", message).strip()
        rule = rules.by_id.get(rule_id, {})
        facts = rules.facts(rule)
    rule_id = rule_id or "unknown"
    title = facts.title
    title = title or (message.splitlines()[0] if message else rule_id)
    description = facts.description
    help_md = facts.help_md
    remediation = None
    if (
        help_md
        and tool != "trivy"
        and not facts.help_restates
        and not (message and help_md.startswith(message))
        and not (not facts.title and title and help_md.startswith(title))
    ):
        remediation = help_md  # guidance, not the rule's description restated (Checkov, Trivy)
    own = [r for r in list_or_empty(props.get("references")) if isinstance(r, str)] if props else []
    links = _links(message) if tool == "trivy" else []
    if own or links:
        references = unique([facts.help_uri] + facts.references + own + links)
    else:
        references = facts.own_references
    cwe = facts.cwes
    if result.get("properties") or result.get("taxa") or result.get("relationships"):
        cwe = sorted(set(cwe + rules.cwes(result)))
    vulns = [*_rule_id_vuln(rule_id), *vuln_ids_in(fields.get("Vulnerability")), *facts.tag_vulns]
    if len(vulns) > 1:  # each source gives unique, non-empty ids
        vulns = unique(vulns)
    extra: dict[str, Any] = first_facts.extra
    if props and any(k in props for k in first_facts.extra_from_result):
        rule_props = first_facts.props
        extra = {}
        for key in _EXTRA_KEYS:
            value = rule_props.get(key, props.get(key))
            if isinstance(value, (str, int, float)):
                extra[key] = value

    if tool == "gitleaks":
        for key in ("offender", "secret", "Secret", "match", "Match"):
            if isinstance(props.get(key), str):
                secrets.append(props[key])
        if isinstance(props.get("commit"), str):
            extra = {**extra, "commit": props["commit"]}

    trivy_package = bool(fields.get("Package"))
    # Trivy's "line 1" of an image or jar is a placeholder: package findings get the path only.
    locations = _locations(result, paths, lines=not trivy_package)
    suppressed = _suppressed(result)
    if suppressed:
        extra = {**extra, "suppression": _suppression(result)}
    url = props["url"] if isinstance(props.get("url"), str) else None
    out = []
    for loc in locations:
        package = None
        if trivy_package:
            package = _trivy_package(fields, loc.path if loc else None, os_family, props, paths)
        elif isinstance(props.get("package"), dict):
            package = _exported_package(props["package"])
        if tool == "gitleaks" and loc is not None and loc.snippet and not secrets:
            secrets.append(loc.snippet)  # gitleaks 8 puts the matched secret in the snippet
        f_remediation = remediation
        if package and package.fixed_versions:
            f_remediation = f"Upgrade {package.name} to {package.fixed_versions[0]} or later."
        finding = build_finding(
            {
                "tool": tool,
                "tool_version": tool_version,
                "rule_id": rule_id,
                "title": title[:300],
                "severity": severity,
                "raw_severity": raw,
                "category": _category(tool, rule_id, facts, package, fields),
                "cwe": cwe,
                "vulnerability_ids": vulns,
                "package": package,
                "location": loc,
                "message": message,
                "description": description,
                "remediation": f_remediation,
                "references": references,
                "url": url,
                "suppressed": suppressed,
                "source": source,
                "extra": extra,
            }
        )
        if secrets:
            finding.extra["_secrets"] = list(secrets)
        out.append(finding)
    return out
