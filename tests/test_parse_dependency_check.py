"""OWASP Dependency-Check XML (DefectDojo sample, plus the newer schema's shape)."""

from conftest import DOJO, requires_corpus

from secai.ingest.collect import parse_file


@requires_corpus
def test_single_vuln():
    findings, fmt = parse_file(DOJO / "dependency_check" / "single_vuln.xml")
    assert fmt == "dependency-check"
    # Two dependencies, only component2.dll has a vulnerability (DefectDojo: 1).
    assert len(findings) == 1
    (f,) = findings
    assert f.rule_id == "CVE-0000-0001" and f.vulnerability_ids == ["CVE-0000-0001"]
    assert f.severity.value == "medium" and f.raw_severity == "Moderate"
    assert f.cwe == []  # "CWE-00 Bad Vulnerability" is no CWE
    assert f.package.ecosystem == "Maven" and f.package.name == "org.owasp:library" and f.package.version == "6.7.8"
    assert f.description == "Description of a bad vulnerability."
    assert f.references == [
        "http://localhost/badvulnerability.htm",
        "http://localhost2/reference_for_badvulnerability.pdf",
    ]
    assert f.extra["file_path"].endswith("component2.dll")
    assert f.category.value == "dependency" and f.tool == "dependency-check"


NEWER = """<?xml version="1.0"?>
<analysis xmlns="https://jeremylong.github.io/DependencyCheck/dependency-check.2.5.xsd">
  <scanInfo><engineVersion>8.4.0</engineVersion></scanInfo>
  <projectInfo><name>demo</name></projectInfo>
  <dependencies>
    <dependency isVirtual="false">
      <fileName>log4j-core-2.14.1.jar</fileName>
      <filePath>/src/lib/log4j-core-2.14.1.jar</filePath>
      <identifiers>
        <package confidence="HIGH"><id>pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1</id></package>
      </identifiers>
      <vulnerabilities>
        <vulnerability source="NVD">
          <name>CVE-2021-44228</name>
          <cvssV3><baseScore>10.0</baseScore><baseSeverity>CRITICAL</baseSeverity></cvssV3>
          <cwes><cwe>CWE-502</cwe><cwe>CWE-400</cwe><cwe>CWE-20</cwe></cwes>
          <description>Apache Log4j2 JNDI features do not protect against attacker controlled LDAP.</description>
          <references><reference><url>https://logging.apache.org/log4j/2.x/security.html</url></reference></references>
        </vulnerability>
      </vulnerabilities>
      <suppressedVulnerabilities>
        <suppressedVulnerability source="NVD"><name>CVE-2021-45046</name>
          <cvssV2><score>5.1</score></cvssV2></suppressedVulnerability>
      </suppressedVulnerabilities>
    </dependency>
    <dependency><fileName>clean.jar</fileName></dependency>
  </dependencies>
</analysis>
"""


def test_newer_schema_with_purl_cwes_and_suppressed(tmp_path):
    path = tmp_path / "dependency-check-report.xml"
    path.write_text(NEWER)
    findings, _ = parse_file(path)
    assert [f.rule_id for f in findings] == ["CVE-2021-44228", "CVE-2021-45046"]
    log4shell, suppressed = findings
    assert log4shell.severity.value == "critical" and log4shell.cwe == [20, 400, 502]
    assert log4shell.package.name == "org.apache.logging.log4j:log4j-core"
    assert log4shell.package.version == "2.14.1" and log4shell.package.ecosystem == "Maven"
    assert log4shell.package.purl == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    assert log4shell.tool_version == "8.4.0" and log4shell.extra["source_db"] == "NVD"
    assert suppressed.suppressed and suppressed.severity.value == "medium"


def test_dependency_without_any_name_is_skipped_with_a_note(tmp_path):
    path = tmp_path / "dc.xml"
    path.write_text(
        '<analysis xmlns="https://jeremylong.github.io/DependencyCheck/dependency-check.2.5.xsd"><dependencies>'
        "<dependency><vulnerabilities><vulnerability><name>CVE-2020-0001</name></vulnerability>"
        "</vulnerabilities></dependency></dependencies></analysis>"
    )
    findings, _ = parse_file(path)
    assert findings == [] and findings.skipped == [
        "dependencies[0]: ValueError: dependency without identifiers or fileName"
    ]
