"""npm audit: npm 6 (`advisories`) and npm 7+ (`auditReportVersion: 2`), DefectDojo samples."""

import json

import pytest
from conftest import DOJO, requires_corpus

from secai.ingest.collect import parse_file


@requires_corpus
def test_npm6_many_vuln():
    findings, fmt = parse_file(DOJO / "npm_audit" / "many_vuln.json")
    assert fmt == "npm-audit"
    assert len(findings) == 5  # DefectDojo: 5
    by_pkg = {f.package.name: f for f in findings}

    debug = by_pkg["debug"]
    assert debug.rule_id == "CVE-2017-16137" and debug.vulnerability_ids == ["CVE-2017-16137"]
    assert debug.severity.value == "low" and debug.cwe == [400]
    assert debug.package.ecosystem == "npm" and debug.package.version == "2.2.0"
    # patched_versions ">= 2.6.9 < 3.0.0 || >= 3.1.0": the smallest fix above 2.2.0 first.
    assert debug.package.fixed_versions == ["2.6.9", "3.1.0"]
    assert debug.extra["advisory_id"] == "534"
    assert "express>debug" in debug.extra["paths"] and len(debug.extra["paths"]) == 7
    # Upgrading express fixes debug, but 4.16.3 is a version of express, not of debug.
    assert "4.16.3" not in debug.package.fixed_versions
    assert "Upgrade express to 4.16.3" in debug.remediation

    pg = by_pkg["pg"]
    assert pg.package.version == "5.1.0" and pg.package.fixed_versions[0] == "5.2.1"
    assert pg.severity.value == "high" and pg.cwe == [94]
    assert "Upgrade pg-promise to 8.4.5 (semver-major)" in pg.remediation

    mime = by_pkg["mime"]
    assert mime.severity.value == "medium" and mime.raw_severity == "moderate"
    assert mime.cwe == []  # the advisory says just "CWE-"
    assert mime.package.fixed_versions == ["1.4.1", "2.0.3"]
    # npm 6 wrote a hash for the root package; it is not kept as a path.
    assert mime.extra["paths"] == ["(root)>send>mime", "express>serve-static>send>mime"]

    negotiator = by_pkg["negotiator"]
    assert negotiator.package.fixed_versions == ["0.6.1"]
    assert negotiator.references[0] == "https://nodesecurity.io/advisories/106"
    assert by_pkg["fresh"].package.version == "0.3.0" and by_pkg["fresh"].package.fixed_versions == ["0.5.2"]


@requires_corpus
def test_npm7_one_finding_per_advisory_not_per_via_string():
    findings, fmt = parse_file(DOJO / "npm_audit_7_plus" / "many_vulns.json")
    assert fmt == "npm-audit"
    # Six entries, three advisories. The other three entries (@vercel/fun, @vercel/node, vercel)
    # only name other packages in `via`. Deliberate difference: DefectDojo makes one finding per
    # entry; we make one per advisory so the same advisory is not counted once per dependent.
    assert len(findings) == 3
    by_pkg = {f.package.name: f for f in findings}
    assert set(by_pkg) == {"debug", "semver", "undici"}

    debug = by_pkg["debug"]
    assert debug.rule_id == "GHSA-gxpj-cx7g-858c" and debug.vulnerability_ids == ["GHSA-gxpj-cx7g-858c"]
    assert debug.severity.value == "medium" and debug.cwe == [400]
    assert debug.package.version is None  # npm 7 does not report the installed version
    # Advisory range ">=4.0.0 <4.3.1": fixed in 4.3.1. fixAvailable names vercel, another package.
    assert debug.package.fixed_versions == ["4.3.1"]
    assert debug.remediation == "Upgrade vercel to 32.3.0 (semver-major); it pulls in a fixed debug."
    assert debug.extra["advisory_id"] == "1094219"
    assert debug.extra["nodes"] == ["node_modules/@vercel/fun/node_modules/debug"]

    assert by_pkg["semver"].package.fixed_versions == ["7.5.2"] and by_pkg["semver"].cwe == [1333]
    undici = by_pkg["undici"]
    assert undici.severity.value == "low" and undici.cwe == [200]
    assert undici.package.fixed_versions == []  # "<=5.28.2" names no fixed version
    assert "32.3.0" not in undici.package.fixed_versions


def test_npm7_fix_available_for_the_same_package(tmp_path):
    doc = {
        "auditReportVersion": 2,
        "vulnerabilities": {
            "minimist": {
                "name": "minimist",
                "severity": "critical",
                "isDirect": True,
                "via": [
                    {
                        "source": 1,
                        "name": "minimist",
                        "title": "Prototype Pollution in minimist",
                        "url": "https://github.com/advisories/GHSA-xvch-5gv4-984h",
                        "severity": "critical",
                        "cwe": ["CWE-1321"],
                        "range": "<0.2.4 || >=1.0.0 <1.2.6",
                    },
                    "mkdirp",
                ],
                "range": "<=0.2.3 || 1.0.0 - 1.2.5",
                "nodes": ["node_modules/minimist"],
                "fixAvailable": {"name": "minimist", "version": "1.2.8", "isSemVerMajor": False},
            }
        },
    }
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(doc))
    (f,), _ = parse_file(path)
    assert f.package.fixed_versions == ["0.2.4", "1.2.6", "1.2.8"]
    assert f.remediation == "Upgrade minimist to 1.2.8."
    assert f.severity.value == "critical" and f.cwe == [1321]


@requires_corpus
def test_npm7_no_vuln():
    findings, fmt = parse_file(DOJO / "npm_audit_7_plus" / "no_vuln.json")
    assert fmt == "npm-audit" and findings == []


@pytest.mark.parametrize(
    "doc, problem",
    [
        ({"auditReportVersion": 2, "vulnerabilities": {"x": {"via": "nope"}}}, "vulnerabilities['x']: 'via' is not"),
        ({"advisories": {"1": {"id": 1}}, "actions": []}, "advisories['1']: npm audit advisory 1 has no module_name"),
        ({"advisories": {}, "actions": {}}, "actions: npm audit 'actions' is not a list"),
    ],
)
def test_malformed_items_are_skipped_with_a_note(tmp_path, doc, problem):
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(doc))
    findings, _ = parse_file(path)
    assert findings == [] and [n for n in findings.skipped if n.startswith(problem)]
