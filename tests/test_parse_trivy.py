import copy
import json

import pytest
from conftest import DOJO, requires_corpus

from secai.errors import ParseError
from secai.ingest.collect import parse_file
from secai.ingest.parsers import Document, run_parser, trivy


def parse(name):
    findings, fmt = parse_file(DOJO / "trivy" / name)
    assert fmt == "trivy-json"
    return findings


def run_doc(doc):
    return run_parser(trivy, Document("json", doc, "mem.json"), "mem.json")


@requires_corpus
def test_legacy_many_vulns():
    fs = parse("legacy_many_vulns.json")
    assert len(fs) == 93  # DefectDojo: 93
    f = fs[0]
    assert (f.rule_id, f.vulnerability_ids, f.cwe) == ("CVE-2011-3374", ["CVE-2011-3374"], [347])
    assert f.severity.value == "low" and f.raw_severity == "LOW"
    assert (f.package.name, f.package.version, f.package.ecosystem) == ("apt", "1.8.2.2", "Debian")
    assert f.package.fixed_versions == []
    # the path Trivy's SARIF would give this OS package ("debian (debian 10.8)" -> Docker Hub repo)
    assert f.location.path == "library/debian"
    assert f.extra["cvss_v3_score"] == 3.7


@requires_corpus
def test_schema_2_many_vulns():
    fs = parse("scheme_2_many_vulns.json")
    assert len(fs) == 5  # DefectDojo: 5
    f = fs[0]
    assert f.rule_id == "CVE-2020-15999" and f.severity.value == "medium" and f.cwe == [787]
    assert (f.package.name, f.package.version, f.package.fixed_versions) == ("freetype", "2.9.1-r2", ["2.9.1-r3"])
    assert f.package.ecosystem == "Alpine" and f.location.path == "app/libs/freetype-2.9.1-r2"
    assert f.extra["cvss_v3"] == "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H"
    assert f.remediation == "Upgrade freetype to 2.9.1-r3 or later."
    assert fs[1].severity.value == "high" and fs[1].package.name == "krb5-libs" and fs[1].cwe == [674]
    jar = fs[3]
    assert jar.package.name == "org.apache.commons:commons-compress" and jar.package.ecosystem == "Maven"
    assert jar.package.fixed_versions == ["1.18"]


@requires_corpus
def test_schema_2_no_vuln():
    assert parse("scheme_2_no_vuln.json") == []


@requires_corpus
def test_misconfigurations_and_secrets():
    fs = parse("misconfigurations_and_secrets.json")
    assert len(fs) == 5  # DefectDojo: 5
    assert [f.category.value for f in fs] == ["dependency", "dependency", "iac", "secret", "secret"]
    urllib3 = fs[0]
    assert (urllib3.package.name, urllib3.package.ecosystem, urllib3.package.fixed_versions) == (
        "urllib3",
        "PyPI",
        ["1.26.5"],
    )
    assert urllib3.location.path == "requirements.txt"
    ds = fs[2]
    assert (ds.rule_id, ds.title, ds.severity.value) == ("DS002", "Image user should not be 'root'", "high")
    assert ds.remediation == "Add 'USER <non root user name>' line to the Dockerfile"
    assert ds.location.path == "Dockerfile"
    assert ds.references == [
        "https://avd.aquasec.com/misconfig/ds002",
        "https://docs.docker.com/develop/develop-images/dockerfile_best-practices/",
    ]
    secret = fs[3]
    assert (secret.rule_id, secret.severity.value, secret.location.path, secret.location.start_line) == (
        "github-pat",
        "critical",
        "Dockerfile",
        24,
    )
    dumped = json.dumps([f.model_dump(mode="json") for f in fs])
    assert "GITHUB_PAT=*****" not in dumped  # the matched line never survives, even masked


def _vuln(**kw):
    return {
        "VulnerabilityID": "CVE-2024-1",
        "PkgName": "lib",
        "InstalledVersion": "1.4.14",
        "FixedVersion": "1.5.13, 1.3.15",
        "Severity": "HIGH",
        **kw,
    }


def test_k8s_cluster_report_and_licenses():
    doc = {
        "ClusterName": "kind-kind",
        "Resources": [
            {
                "Namespace": "default",
                "Kind": "Deployment",
                "Name": "web",
                "Results": [
                    {
                        "Target": "docker.io/library/nginx:1.25 (debian 12.1)",
                        "Class": "os-pkgs",
                        "Type": "debian",
                        "Vulnerabilities": [
                            _vuln(PkgName="openssl", InstalledVersion="3.0.9-1", FixedVersion="3.0.11-1~deb12u1")
                        ],
                    },
                    {
                        "Target": "Deployment/web",
                        "Class": "config",
                        "Type": "kubernetes",
                        "Misconfigurations": [
                            {
                                "ID": "KSV001",
                                "Title": "Process can elevate its own privileges",
                                "Severity": "MEDIUM",
                                "Status": "FAIL",
                                "Resolution": "Set allowPrivilegeEscalation to false",
                                "CauseMetadata": {"StartLine": 132, "EndLine": 141},
                            },
                            {"ID": "KSV002", "Title": "ok", "Severity": "LOW", "Status": "PASS"},
                        ],
                    },
                    {
                        "Target": "OS Packages",
                        "Class": "license",
                        "Licenses": [
                            {"Severity": "HIGH", "Category": "restricted", "PkgName": "bash", "Name": "GPL-3.0"}
                        ],
                    },
                ],
            },
            {"Namespace": "default", "Kind": "Deployment", "Name": "empty"},
        ],
    }
    assert trivy.detect(doc)
    fs = run_doc(doc)
    assert [f.category.value for f in fs] == ["dependency", "iac", "license"]
    vuln, misconf, lic = fs
    assert vuln.location.path == "library/nginx" and vuln.package.ecosystem == "Debian"
    assert vuln.package.fixed_versions == ["3.0.11-1~deb12u1"]
    assert vuln.extra["workload"] == "default / Deployment / web"
    assert (misconf.rule_id, misconf.location.start_line, misconf.location.end_line) == ("KSV001", 132, 141)
    assert lic.rule_id == "license:GPL-3.0" and lic.package.name == "bash" and lic.severity.value == "high"


def test_legacy_list_and_fixed_version_order():
    doc = [
        {
            "Target": "app/package-lock.json",
            "Type": "npm",
            "Vulnerabilities": [_vuln(PkgName="lodash", InstalledVersion="4.17.15", FixedVersion="4.17.21, 4.17.19")],
        }
    ]
    assert trivy.detect(doc)
    [f] = run_doc(doc)
    assert f.package.ecosystem == "npm" and f.package.fixed_versions == ["4.17.19", "4.17.21"]
    assert f.location.path == "app/package-lock.json"


def test_target_path_matches_trivy_sarif():
    assert (
        trivy.target_path("ghcr.io/hitoshura25/webauthn-server:latest (ubuntu 24.04)", True)
        == "hitoshura25/webauthn-server"
    )
    assert trivy.target_path("alpine:3.19 (alpine 3.19.1)", True) == "library/alpine"
    assert trivy.target_path("localhost:5000/team/app@sha256:abc (debian 12)", True) == "team/app"
    assert trivy.target_path("./src/requirements.txt", False) == "src/requirements.txt"


def test_malformed_report_shape_is_a_parse_error():
    doc = {"SchemaVersion": 2, "Results": {}}
    assert trivy.detect(doc)
    with pytest.raises(ParseError, match="'Results' is not a list"):
        run_doc(doc)


@requires_corpus
def test_legacy_report_keeps_the_rest_when_one_vulnerability_lacks_its_id():
    """Legacy Trivy JSON (a list of targets, before SchemaVersion): one malformed vulnerability
    is skipped with a note naming it; the other vulnerabilities of the report are kept."""
    doc = json.loads((DOJO / "trivy" / "legacy_many_vulns.json").read_text())
    total = len(run_doc(copy.deepcopy(doc)))
    del doc[0]["Vulnerabilities"][1]["VulnerabilityID"]
    doc[0]["Vulnerabilities"][3].pop("PkgName")
    found = run_doc(doc)
    assert len(found) == total - 2
    assert found.skipped == [
        "[0].Vulnerabilities[1]: vulnerability lacks VulnerabilityID or PkgName",
        "[0].Vulnerabilities[3]: vulnerability lacks VulnerabilityID or PkgName",
    ]
    doc = {"SchemaVersion": 2, "Results": [{"Target": "x", "Secrets": ["s"]}]}
    assert run_doc(doc).skipped == ["Results[0].Secrets[0]: secret is not an object"]


@requires_corpus
def test_json_and_sarif_of_one_scan_dedupe():
    from conftest import MPO

    from secai.findings import dedupe

    sarif_findings, _ = parse_file(MPO / "docker-security-scan-results-trivy-action" / "webauthn-comprehensive.sarif")
    doc = {
        "SchemaVersion": 2,
        "ArtifactName": "ghcr.io/hitoshura25/webauthn-server:latest",
        "Results": [
            {
                "Target": "ghcr.io/hitoshura25/webauthn-server:latest (ubuntu 24.04)",
                "Class": "os-pkgs",
                "Type": "ubuntu",
                "Vulnerabilities": [
                    _vuln(
                        VulnerabilityID="CVE-2016-2781",
                        PkgName="coreutils",
                        InstalledVersion="9.4-3ubuntu6",
                        FixedVersion="",
                        Severity="LOW",
                    )
                ],
            },
            {
                "Target": "Java",
                "Class": "lang-pkgs",
                "Type": "jar",
                "Vulnerabilities": [
                    _vuln(
                        VulnerabilityID="CVE-2025-55163",
                        PkgName="io.netty:netty-codec-http2",
                        PkgPath="app/app.jar",
                        InstalledVersion="4.1.101.Final",
                        FixedVersion="4.2.4.Final, 4.1.124.Final",
                    )
                ],
            },
        ],
    }
    json_findings = run_doc(doc)
    sarif_keys = {f.dedupe_key() for f in sarif_findings}
    assert all(f.dedupe_key() in sarif_keys for f in json_findings)
    assert len(dedupe(sarif_findings + json_findings)) == len(sarif_findings)


def test_vulnerabilities_with_one_cwe_list_keep_their_own_lists():
    vulns = [
        {"VulnerabilityID": f"CVE-2024-000{i}", "PkgName": "p", "InstalledVersion": "1.0", "CweIDs": cwes}
        for i, cwes in enumerate((["CWE-79", "CWE-20"], ["CWE-79", "CWE-20"], ["CWE-79"], "CWE-22", [79, "x"]))
    ]
    fs = run_doc(
        {"SchemaVersion": 2, "Results": [{"Target": "requirements.txt", "Type": "pip", "Vulnerabilities": vulns}]}
    )
    assert [f.cwe for f in fs] == [[20, 79], [20, 79], [79], [22], [79]]
    fs[0].cwe.append(1)
    assert fs[1].cwe == [20, 79]
