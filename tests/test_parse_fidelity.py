"""Issue 18: report versions the parsers missed, and dedupe of true duplicates only. Every
sample under tests/data is a real scanner output or a published one; tests/data/README.md says
where each comes from."""

import copy
import json

from conftest import ROOT, requires_corpus

from secai.findings import dedupe
from secai.ingest.collect import collect, parse_file
from secai.ingest.parsers import Document, dependency_check, run_parser

DATA = ROOT / "tests" / "data"


# -- 1. Grype: matchDetails as an object (grype ~0.9), EPSS/risk data (grype 0.8x+) ----------------


def test_grype_report_with_match_details_object_is_read_whole():
    findings, fmt = parse_file(DATA / "grype" / "grype-presenter-22b1994-matchdetails-object.json")
    assert fmt == "grype" and findings.skipped == []
    assert [f.rule_id for f in findings] == ["CVE-1999-0001", "CVE-1999-0002", "CVE-1999-0003"]
    first, second, third = findings
    assert first.extra["matchers"] == ["dpkg-matcher"]
    # `fixedInVersion` and the cvssV2/cvssV3 objects of that schema
    assert first.package.fixed_versions == ["the-next-version"] and second.package.fixed_versions == []
    assert third.package.fixed_versions == ["the-other-next-version"]
    assert (second.severity.value, second.raw_severity) == ("critical", "Critical")
    assert first.extra["locations"] == ["/somefile-1.txt"] and first.package.name == "package-1"


def test_grype_report_with_epss_and_risk_is_recognised():
    findings, fmt = parse_file(DATA / "grype" / "grype-presenter-1f52ab3-epss-risk.json")
    assert fmt == "grype" and [f.rule_id for f in findings] == ["CVE-1999-0001", "CVE-1999-0002"]
    low, critical = findings
    assert (low.extra["epss"], low.extra["epss_percentile"], low.extra["risk"]) == (0.03, 0.42, 1.68)
    assert critical.extra["known_exploited"] is True and "known_exploited" not in low.extra
    assert low.package.fixed_versions == ["1.2.1", "2.1.3", "3.4.0"]
    doc = json.loads((DATA / "grype" / "grype-presenter-1f52ab3-epss-risk.json").read_text())
    for key in ("descriptor", "source", "distro"):  # matches alone are enough to recognise it
        del doc[key]
    assert [f.rule_id for f in run_parser_doc("grype", doc)] == ["CVE-1999-0001", "CVE-1999-0002"]


def run_parser_doc(name, doc):
    from secai.ingest.parsers import find_parser

    mod = find_parser(Document("json", doc, "mem.json"))
    assert mod is not None and mod.NAME == name
    return run_parser(mod, Document("json", doc, "mem.json"), "mem.json")


# -- 2. Checkov with nothing failed -------------------------------------------------------------------


def test_checkov_with_nothing_to_scan_or_nothing_failed_is_an_empty_report():
    for name in ("checkov-3.3.30-nothing-to-scan.json", "checkov-3.3.30-no-failed-checks.json"):
        findings, fmt = parse_file(DATA / "checkov" / name)
        assert (fmt, findings, findings.skipped) == ("checkov-json", [], []), name
    res = collect([DATA / "checkov"])
    assert [(r.format, r.findings) for r in res.reports] == [("checkov-json", 0), ("checkov-json", 0)]
    assert [p for p in res.problems if p.level != "skipped"] == []


# -- 3. Semgrep Supply Chain ----------------------------------------------------------------------------


def test_semgrep_supply_chain_results_of_semgrep_json():
    findings, fmt = parse_file(DATA / "semgrep" / "semgrep-1.185.0-supply-chain.json")
    assert fmt == "semgrep-json"
    reachable, lockfile_only = findings
    assert (reachable.package.name, reachable.package.version, reachable.package.ecosystem) == (
        "requests",
        "2.25.1",
        "PyPI",
    )
    assert reachable.category.value == "dependency" and reachable.vulnerability_ids == ["CVE-2023-32681"]
    assert reachable.package.fixed_versions == ["2.31.0"] and reachable.severity.value == "medium"
    assert reachable.extra["reachable"] is True and reachable.extra["lockfile"] == "requirements.txt"
    assert (reachable.location.path, reachable.location.start_line) == ("main.py", 6)
    assert (lockfile_only.location.path, lockfile_only.location.start_line) == ("requirements.txt", 2)
    assert lockfile_only.extra["reachable"] is False and lockfile_only.severity.value == "critical"


def test_semgrep_supply_chain_api_findings():
    findings, fmt = parse_file(DATA / "semgrep" / "semgrep-supply-chain-api-cartography.json")
    assert fmt == "semgrep-supply-chain"
    (f,) = findings
    assert f.rule_id == "ssc-92af1d99-4fb3-4d4e-a9f4-d57572cd6590" and f.tool == "semgrep"
    assert (f.package.name, f.package.version, f.package.ecosystem) == ("grav", "1.7.42.0", "Go")
    assert f.package.fixed_versions == ["1.7.42.2"] and f.severity.value == "high" and f.cwe == [617]
    assert f.vulnerability_ids == ["CVE-2023-37897", "GHSA-9436-3gmp-4f53"]
    assert (f.location.path, f.location.start_line) == ("go.mod", 111)
    assert f.extra["usages"] == ["src/packages/directory/file1.go:24", "src/packages/directory/file2.go:24"]
    assert f.extra["exposure"] == "REACHABLE" and f.extra["transitivity"] == "DIRECT" and not f.suppressed


# -- 5. dedupe: one rule at two columns of one line is two findings ------------------------------------


def test_same_rule_same_line_other_column_stays_distinct_and_json_plus_sarif_still_merge():
    columns = DATA / "columns"
    for name, expected in (("bandit-1.9.4.json", 5), ("bandit-1.9.4.sarif", 5), ("semgrep-1.185.0.json", 2)):
        assert len(collect([columns / name]).findings) == expected, name
    res = collect([columns])
    where = [(f.tool, f.rule_id, f.location.start_line, f.location.start_column) for f in res.findings]
    assert where == [
        ("bandit", "B404", 1, 1),
        ("bandit", "B602", 5, 5),
        ("bandit", "B602", 5, 37),
        ("bandit", "B101", 9, 5),
        ("bandit", "B101", 9, 15),
        ("semgrep", "shell-true-call", 5, 5),
        ("semgrep", "shell-true-call", 5, 37),
    ]
    # each JSON finding met its SARIF copy (bandit's 0-based col_offset is SARIF's column - 1)
    assert all(len(f.extra["also_in"]) == 1 for f in res.findings)
    assert len({f.fingerprint for f in res.findings}) == 7


def test_a_copy_without_a_column_merges_with_one_that_has_it():
    (sarif_copy,) = [
        f for f in parse_file(DATA / "columns" / "semgrep-1.185.0.sarif")[0] if f.location.start_column == 37
    ]
    json_copy = sarif_copy.model_copy(deep=True)
    json_copy.location.start_column = None
    json_copy.source = "other.json"
    other_column = sarif_copy.model_copy(deep=True)
    other_column.location.start_column = 5
    kept = dedupe([json_copy, sarif_copy, other_column])
    assert [f.location.start_column for f in kept] == [37, 5]
    assert kept[0].extra["also_in"] == [sarif_copy.source]


@requires_corpus
def test_osv_same_advisory_in_two_lockfiles_and_two_packages_stays_distinct():
    osv = ROOT.parent / "shared" / "corpus" / "defectdojo" / "osv_scanner" / "some_findings.json"
    doc = json.loads(osv.read_text())
    result = doc["results"][0]
    other_lockfile = copy.deepcopy(result)
    other_lockfile["source"]["path"] = "/tmp/components/web/yarn.lock"
    other_package = copy.deepcopy(result["packages"][0])
    other_package["package"]["name"] += "-fork"
    result["packages"].append(other_package)
    doc["results"].append(other_lockfile)
    findings = dedupe(run_parser_doc("osv-scanner", doc))
    assert len(findings) == 3 and len({f.rule_id for f in findings}) == 1
    assert len({(f.location.path, f.package.name) for f in findings}) == 3


# -- 6. npm audit 7+: a package affected only through another is no finding of its own --------------


def test_npm_7_dependency_chain_is_recorded_not_counted():
    findings, fmt = parse_file(DATA / "npm-audit" / "npm-audit-report-dep-vuln-with-own-vuln.json")
    assert fmt == "npm-audit"
    assert [(f.package.name, f.extra["advisory_id"]) for f in findings] == [("minimist", "1179"), ("mkdirp", "42069")]
    minimist, mkdirp = findings
    assert minimist.extra["effects"] == ["mkdirp"]  # mkdirp is affected through minimist
    assert minimist.package.fixed_versions == ["0.2.1", "1.2.3"] and minimist.cwe == [471]


def test_npm_7_advisory_object_naming_another_package_goes_to_that_package():
    doc = json.loads((DATA / "npm-audit" / "npm-audit-report-dep-vuln-with-own-vuln.json").read_text())
    minimist_advisory = doc["vulnerabilities"]["minimist"]["via"][0]
    doc["vulnerabilities"]["mkdirp"]["via"].append(copy.deepcopy(minimist_advisory))
    findings = run_parser_doc("npm-audit", doc)
    assert [(f.package.name, f.extra["advisory_id"]) for f in findings] == [("minimist", "1179"), ("mkdirp", "42069")]
    del doc["vulnerabilities"]["minimist"]  # the advisory's own package has no entry: the advisory stays
    findings = run_parser_doc("npm-audit", doc)
    assert [(f.package.name, f.extra["advisory_id"]) for f in findings] == [("mkdirp", "42069"), ("minimist", "1179")]
    assert findings[1].extra["effects"] == ["mkdirp"]


# -- 7. Dependency-Check: related dependencies, CPE identifiers, 5.x suppressed vulnerabilities ------

RELATED = """<?xml version="1.0"?>
<analysis xmlns="https://jeremylong.github.io/DependencyCheck/dependency-check.3.1.xsd">
  <scanInfo><engineVersion>8.4.0</engineVersion></scanInfo>
  <dependencies>
    <dependency isVirtual="false">
      <fileName>app.war: dom4j-2.1.1.jar</fileName>
      <filePath>/build/app.war/WEB-INF/lib/dom4j-2.1.1.jar</filePath>
      <relatedDependencies>
        <relatedDependency>
          <fileName>admin.war: dom4j-2.1.1.jar</fileName>
          <filePath>/build/admin.war/WEB-INF/lib/dom4j-2.1.1.jar</filePath>
          <packageIds><id>pkg:maven/org.dom4j/dom4j@2.1.1</id></packageIds>
        </relatedDependency>
        <relatedDependency><filePath>/build/old-layout/dom4j.jar</filePath></relatedDependency>
      </relatedDependencies>
      <identifiers>
        <package><id>pkg:maven/org.dom4j/dom4j@2.1.1</id></package>
      </identifiers>
      <vulnerabilities>
        <vulnerability source="NVD"><name>CVE-2020-10683</name><severity>CRITICAL</severity></vulnerability>
        <suppressedVulnerability source="NVD"><name>CVE-2018-1000632</name><severity>HIGH</severity></suppressedVulnerability>
      </vulnerabilities>
    </dependency>
    <dependency isVirtual="false">
      <fileName>jquery.min.js</fileName>
      <filePath>/build/app.war/js/jquery.min.js</filePath>
      <identifiers>
        <vulnerabilityIds><id>cpe:2.3:a:jquery:jquery:1.11.0:*:*:*:*:*:*:*</id></vulnerabilityIds>
      </identifiers>
      <vulnerabilities>
        <vulnerability source="RETIREJS"><name>CVE-2015-9251</name><severity>medium</severity></vulnerability>
      </vulnerabilities>
    </dependency>
  </dependencies>
</analysis>
"""


def test_dependency_check_related_dependencies_cpe_and_suppressed_inside_vulnerabilities(tmp_path):
    """The shape of Dependency-Check 6+ XML (xmlReport.vsl): a related dependency with a file name
    is its own finding (as DefectDojo's parser counted them); one without (before 6.0) repeats the
    main dependency and is left out."""
    path = tmp_path / "dependency-check-report.xml"
    path.write_text(RELATED)
    findings = dedupe(parse_file(path)[0])
    got = [(f.rule_id, f.location.path, f.package.name, f.package.version, f.suppressed) for f in findings]
    assert got == [
        ("CVE-2020-10683", "/build/app.war/WEB-INF/lib/dom4j-2.1.1.jar", "org.dom4j:dom4j", "2.1.1", False),
        ("CVE-2020-10683", "/build/admin.war/WEB-INF/lib/dom4j-2.1.1.jar", "org.dom4j:dom4j", "2.1.1", False),
        ("CVE-2018-1000632", "/build/app.war/WEB-INF/lib/dom4j-2.1.1.jar", "org.dom4j:dom4j", "2.1.1", True),
        ("CVE-2018-1000632", "/build/admin.war/WEB-INF/lib/dom4j-2.1.1.jar", "org.dom4j:dom4j", "2.1.1", True),
        ("CVE-2015-9251", "/build/app.war/js/jquery.min.js", "jquery:jquery", "1.11.0", False),
    ]
    assert findings[1].extra["related_to"] == "/build/app.war/WEB-INF/lib/dom4j-2.1.1.jar"
    assert dependency_check.detect(_root(RELATED))


def _root(text):
    from defusedxml.ElementTree import fromstring

    return fromstring(text)
