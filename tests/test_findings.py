from secai.findings import (
    Category, Finding, Location, Package, Severity, assign_fingerprints, cwe_ids, dedupe,
    severity_from_score, severity_from_text, vuln_ids_in,
)


def _code(line, rule="R1", path="app/x.py", tool="semgrep"):
    return Finding(tool=tool, rule_id=rule, title="t", severity=Severity.high, category=Category.code,
                   location=Location(path=path, start_line=line))


def test_severity_scales():
    assert severity_from_text("MODERATE") is Severity.medium
    assert severity_from_text("error") is Severity.high
    assert severity_from_text("bogus") is Severity.info
    assert [severity_from_score(s) for s in (9.8, 7.0, 4.0, 0.1, 0)] == [
        Severity.critical, Severity.high, Severity.medium, Severity.low, Severity.info]


def test_id_helpers():
    assert cwe_ids("CWE-79: XSS", ["CWE-89", 22], "external/cwe/cwe-079") == [22, 79, 89]
    assert vuln_ids_in("see cve-2021-44228 and GHSA-JFH8-C2JP-5V3Q") == ["CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q"]


def test_paths_are_repo_relative():
    assert Location(path="file://./src\\a.py").path == "src/a.py"


def test_fingerprint_survives_unrelated_line_shifts():
    before = assign_fingerprints([_code(10), _code(40), _code(5, rule="R2")])
    after = assign_fingerprints([_code(13), _code(43), _code(9, rule="R2")])
    assert [f.fingerprint for f in before] == [f.fingerprint for f in after]
    assert len({f.fingerprint for f in before}) == 3


def test_dedupe_merges_copies_and_keeps_facts():
    a = Finding(tool="Trivy", rule_id="CVE-1", title="t", severity=Severity.medium, category=Category.dependency,
                package=Package(name="p", version="1.0", fixed_versions=["1.1"]), vulnerability_ids=["CVE-1"],
                source="a.sarif")
    b = a.model_copy(deep=True)
    b.tool = "trivy"
    b.source = "b.json"
    b.severity = Severity.high
    b.cwe = [79]
    out = dedupe([a, b])
    assert len(out) == 1
    assert out[0].severity is Severity.high and out[0].cwe == [79]
    assert out[0].extra["also_in"] == ["b.json"]
    assert out[0].fingerprint


def test_dedupe_keeps_distinct_lines():
    assert len(dedupe([_code(1), _code(2), _code(1)])) == 2
