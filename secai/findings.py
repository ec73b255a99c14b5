"""The one normalized finding that every parser produces and every later stage consumes."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from enum import Enum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


class Severity(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.critical: 4,
    Severity.high: 3,
    Severity.medium: 2,
    Severity.low: 1,
    Severity.info: 0,
}

_SEVERITY_WORDS = {
    "critical": Severity.critical,
    "crit": Severity.critical,
    "blocker": Severity.critical,
    "very-high": Severity.critical,
    "high": Severity.high,
    "error": Severity.high,
    "important": Severity.high,
    "major": Severity.high,
    "medium": Severity.medium,
    "moderate": Severity.medium,
    "warning": Severity.medium,
    "warn": Severity.medium,
    "low": Severity.low,
    "minor": Severity.low,
    "note": Severity.low,
    "info": Severity.info,
    "informational": Severity.info,
    "information": Severity.info,
    "none": Severity.info,
    "negligible": Severity.info,
    "unknown": Severity.info,
    "undefined": Severity.info,
}


def severity_from_text(raw: Any, default: Severity = Severity.info) -> Severity:
    """Map a scanner's severity word (any case) onto the one scale; unknown words give `default`."""
    if raw is None:
        return default
    word = str(raw).strip().lower().replace("_", "-")
    return _SEVERITY_WORDS.get(word, default)


def severity_from_score(score: float) -> Severity:
    """CVSS-style numeric score (GitHub's `security-severity` thresholds)."""
    if score >= 9.0:
        return Severity.critical
    if score >= 7.0:
        return Severity.high
    if score >= 4.0:
        return Severity.medium
    if score > 0.0:
        return Severity.low
    return Severity.info


class Category(str, Enum):
    dependency = "dependency"
    code = "code"
    iac = "iac"
    secret = "secret"
    dast = "dast"
    license = "license"


def normalize_path(path: str) -> str:
    """Repo-relative, forward slashes, no `file://`, no leading `./`."""
    p = str(path).strip()
    if "\\" not in p and not p.startswith(("file://", "./")):  # most paths: nothing to change
        return p
    if p.startswith("file://"):
        p = p[len("file://") :]
    p = p.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p


class Package(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ecosystem: str | None = None
    name: str
    version: str | None = None
    fixed_versions: list[str] = Field(default_factory=list)
    purl: str | None = None


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, AfterValidator(normalize_path)]
    start_line: int | None = None
    end_line: int | None = None
    #: 1-based, when the scanner gives one: two results of one rule on one line are two issues.
    start_column: int | None = None
    snippet: str | None = None


class Instance(BaseModel):
    """One occurrence of a DAST alert (ZAP keeps many per alert)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    method: str | None = None
    param: str | None = None
    attack: str | None = None
    evidence: str | None = None


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str
    tool_version: str | None = None
    rule_id: str
    title: str
    severity: Severity
    raw_severity: str | None = None
    category: Category
    cwe: list[int] = Field(default_factory=list)
    vulnerability_ids: list[str] = Field(default_factory=list)
    package: Package | None = None
    location: Location | None = None
    url: str | None = None
    instances: list[Instance] = Field(default_factory=list)
    message: str = ""
    description: str | None = None
    remediation: str | None = None
    references: list[str] = Field(default_factory=list)
    suppressed: bool = False
    #: Where the finding came from: the report file, relative to the input root.
    source: str = ""
    #: Small tool-specific facts worth keeping (confidence, check type, secret fingerprint, ...).
    extra: dict[str, Any] = Field(default_factory=dict)
    fingerprint: str = ""

    @model_validator(mode="after")
    def _unique_lists(self) -> Finding:
        """CWE ids sorted without repeats; advisory ids and references without repeats, in order."""
        if len(self.cwe) > 1:
            self.cwe[:] = sorted(set(self.cwe))
        self.vulnerability_ids[:] = unique(self.vulnerability_ids)
        self.references[:] = unique(self.references)
        return self

    # -- identity -------------------------------------------------------------------------------
    def identity(self) -> tuple:
        """What makes two findings the same finding, ignoring line numbers."""
        path = self.location.path if self.location else ""
        pkg = self.package
        return (
            canonical_tool(self.tool),
            self.rule_id,
            path,
            (pkg.ecosystem or "").lower() if pkg else "",
            pkg.name if pkg else "",
            (pkg.version or "") if pkg else "",
            self.url or "",
        )

    def dedupe_key(self) -> tuple:
        """Same identity and same line: candidates for the same finding reported twice (merged
        SARIF, SARIF + JSON); `dedupe` also compares their columns."""
        return self.identity() + (_dedupe_line(self.location),)

    def primary_id(self) -> str:
        return self.vulnerability_ids[0] if self.vulnerability_ids else self.rule_id

    def short(self) -> str:
        where = ""
        if self.package:
            where = f"{self.package.name}@{self.package.version or '?'}"
        elif self.location:
            where = self.location.path + (f":{self.location.start_line}" if self.location.start_line else "")
        elif self.url:
            where = self.url
        return f"[{self.severity.value}] {self.tool} {self.primary_id()} {where}".strip()


#: A Finding from a dict of its fields (package, location and instances may be dicts too): the same
#: validation as `Finding(**fields)`, without BaseModel.__init__'s keyword round trip and with the
#: nested models built by pydantic-core instead of in Python (about a quarter fewer instructions).
build_finding = Finding.__pydantic_validator__.validate_python
#: The same for a Location or a Package on its own.
build_location = Location.__pydantic_validator__.validate_python
build_package = Package.__pydantic_validator__.validate_python


# -- helpers used by parsers ------------------------------------------------------------------------

_CWE_RE = re.compile(r"CWE[-_ ]?(\d{1,5})", re.IGNORECASE)
# The lookahead (the letters an id can start with, in any case) lets the scan pass other positions fast.
_VULN_ID_RE = re.compile(
    r"(?=[CGPRODEASNM])\b(CVE-\d{4}-\d{4,}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}|PYSEC-\d{4}-\d+|GO-\d{4}-\d+|RUSTSEC-\d{4}-\d+|OSV-\d{4}-\d+|DSA-\d+-\d+|DLA-\d+-\d+|ELSA-\d{4}-\d+|RHSA-\d{4}:\d+|ALAS2?-\d{4}-\d+|SNYK-[A-Z0-9-]+|NSWG-ECO-\d+|MAL-\d{4}-\d+)\b",
    re.IGNORECASE,
)


def cwe_ids(*values: Any) -> list[int]:
    """CWE numbers from strings like 'CWE-79', 'CWE-79: Improper...', ints, or lists of either."""
    out: set[int] = set()
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, (list, tuple, set)):
            out.update(cwe_ids(*value))
        elif isinstance(value, int):
            out.add(value)
        else:
            text = str(value).strip()
            out.update([int(text)] if text.isdecimal() else map(int, _CWE_RE.findall(text)))
    return sorted(n for n in out if n > 0)


def vuln_ids_in(text: str | None) -> list[str]:
    """Advisory ids (CVE, GHSA, PYSEC, GO, RUSTSEC, ...) mentioned in free text, normalized."""
    if not text:
        return []
    return unique(normalize_vuln_id(m) for m in _VULN_ID_RE.findall(text))


def normalize_vuln_id(v: str) -> str:
    v = v.strip()
    if v[:4].upper() == "GHSA":
        return "GHSA" + v[4:].lower()
    return v.upper()


def unique(values: Iterable[Any]) -> list[Any]:
    """The values in order of first appearance, without repeats, None or ""."""
    first = dict.fromkeys(values)
    first.pop(None, None)
    first.pop("", None)
    return list(first)


_TOOL_ALIASES = {
    "owasp zap": "zap",
    "zap": "zap",
    "zaproxy": "zap",
    "osv-scanner": "osv-scanner",
    "osv scanner": "osv-scanner",
    "osvscanner": "osv-scanner",
    "npm audit": "npm-audit",
    "npm-audit": "npm-audit",
    "dependency-check": "dependency-check",
    "owasp dependency-check": "dependency-check",
    "semgrep oss": "semgrep",
    "semgrep pro": "semgrep",
    "semgrep": "semgrep",
    "trivy": "trivy",
    "checkov": "checkov",
    "gitleaks": "gitleaks",
    "grype": "grype",
    "bandit": "bandit",
    "codeql": "codeql",
}


@lru_cache(maxsize=1024)
def canonical_tool(name: str) -> str:
    n = (name or "").strip().lower()
    return _TOOL_ALIASES.get(n, n.replace(" ", "-"))


# -- fingerprints and dedupe ----------------------------------------------------------------------


def assign_fingerprints(findings: list[Finding]) -> list[Finding]:
    """Give each finding a stable fingerprint.

    The fingerprint hashes what identifies a finding (tool, rule, path, package, advisory, URL) but
    not its line or column. Findings that share all of that in one file are told apart by their
    order of appearance by line (the approach of GitHub's `primaryLocationLineHash`), so inserting
    or removing unrelated lines does not change any fingerprint. Several such findings on one line
    (one rule at two columns) share the line's ordinal and are told apart by column order
    (`3`, `3.1`, ...), so the first of them keeps the fingerprint it had when they were merged.
    """
    groups: dict[tuple, list[Finding]] = defaultdict(list)
    for f in findings:
        groups[f.identity() + (f.primary_id(),)].append(f)
    for key, members in groups.items():
        members.sort(key=_position)  # stable: equal positions keep their order of appearance
        prefix = "\x1f".join(key)  # identity() and primary_id() give strings only
        ordinal, same_line, previous = -1, 0, None
        for f in members:
            line = f.location.start_line if f.location else None
            if line is not None and line == previous:
                same_line += 1
                tag = f"{ordinal}.{same_line}"
            else:
                ordinal, same_line, previous = ordinal + 1, 0, line
                tag = str(ordinal)
            text = f"{prefix}\x1f{tag}\x1f".encode("utf-8", "surrogatepass")
            f.fingerprint = hashlib.sha256(text).hexdigest()[:32]
    return findings


def _position(f: Finding) -> tuple[int, int]:
    return ((f.location.start_line or 0), (f.location.start_column or 0)) if f.location else (0, 0)


def _dedupe_line(loc: Location | None) -> int | None:
    # A whole-file check has no line in some formats and line 1 in others (Checkov, Trivy).
    return (loc.start_line or 1) if loc is not None else None


def _merge_into(keep: Finding, other: Finding) -> None:
    """Add what `other`, a copy of the same finding, knows and `keep` does not. Fields are
    assigned only when they change, so `model_fields_set` still tells what the scanner gave."""
    _update(keep, "vulnerability_ids", unique(keep.vulnerability_ids + other.vulnerability_ids))
    _update(keep, "cwe", sorted(set(keep.cwe) | set(other.cwe)))
    _update(keep, "references", unique(keep.references + other.references))
    if keep.package and other.package:
        _update(keep.package, "fixed_versions", unique(keep.package.fixed_versions + other.package.fixed_versions))
    if keep.location and other.location and keep.location.start_column is None:
        _update(keep.location, "start_column", other.location.start_column)
    known = {(i.url, i.method, i.param) for i in keep.instances}
    keep.instances.extend(i for i in other.instances if (i.url, i.method, i.param) not in known)
    for name in ("description", "remediation", "tool_version", "url"):
        if not getattr(keep, name) and getattr(other, name):
            setattr(keep, name, getattr(other, name))
    if other.severity.rank > keep.severity.rank:
        keep.severity = other.severity
        keep.raw_severity = other.raw_severity
    sources = unique(keep.extra.get("also_in", []) + [other.source] + other.extra.get("also_in", []))
    if keep.source in sources:
        sources.remove(keep.source)
    if sources:
        keep.extra["also_in"] = sources


def _update(model: BaseModel, name: str, value: Any) -> None:
    if value != getattr(model, name):
        setattr(model, name, value)


def dedupe(findings: Iterable[Finding]) -> list[Finding]:
    """Collapse findings that are the same finding reported more than once, keeping the richest
    facts of each copy, then assign fingerprints. Order of first appearance is kept.

    Copies are the same finding when they have the same identity (tool, rule, path, package and
    version, URL) and line, and their columns agree. A copy without a column agrees with any
    (a scanner's SARIF gives columns where its JSON does not) and takes the column of the copy it
    merges with; results of one rule at two columns of one line stay two findings."""
    kept: list[Finding] = []
    by_line: dict[tuple, list[Finding]] = {}
    for f in findings:
        same_line = by_line.setdefault(f.dedupe_key(), [])
        twin = next((k for k in same_line if _same_column(k, f)), None)
        if twin is None:
            same_line.append(f)
            kept.append(f)
        else:
            _merge_into(twin, f)
    return assign_fingerprints(kept)


def _same_column(keep: Finding, other: Finding) -> bool:
    mine = keep.location.start_column if keep.location else None
    theirs = other.location.start_column if other.location else None
    return mine is None or theirs is None or mine == theirs


def finding_json(f: Finding) -> dict:
    """The stable JSON shape scripts rely on, plus the rest of the finding."""
    d = f.model_dump(mode="json")
    d["package"] = (
        None
        if f.package is None
        else {
            "ecosystem": f.package.ecosystem,
            "name": f.package.name,
            "version": f.package.version,
            "fixed_versions": f.package.fixed_versions,
            **({"purl": f.package.purl} if f.package.purl else {}),
        }
    )
    return d


SEVERITY_ORDER = [Severity.critical, Severity.high, Severity.medium, Severity.low, Severity.info]


def count_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {s.value: 0 for s in SEVERITY_ORDER}
    for f in findings:
        counts[f.severity.value] += 1
    return counts
