"""Grype JSON (DefectDojo samples)."""

import json

from conftest import DOJO, requires_corpus

from secai.ingest.collect import parse_file

GRYPE = DOJO / "anchore_grype"


@requires_corpus
def test_check_all_fields_merges_same_vulnerability_package_version():
    findings, fmt = parse_file(GRYPE / "check_all_fields.json")
    assert fmt == "grype"
    # Six matches; the two Django GHSA-v6rh-hp5x-86rv matches are one finding (DefectDojo: 5).
    assert len(findings) == 5
    by_key = {(f.rule_id, f.package.name): f for f in findings}

    django = by_key[("GHSA-v6rh-hp5x-86rv", "Django")]
    assert django.vulnerability_ids == ["GHSA-v6rh-hp5x-86rv", "CVE-2021-44420"]
    assert django.severity.value == "high" and django.raw_severity == "High"
    assert django.package.ecosystem == "PyPI"
    assert django.package.version == "3.2.9"
    assert django.package.fixed_versions == ["3.2.10"]
    assert django.package.purl == "pkg:pypi/Django@3.2.9"
    assert django.extra["fix_state"] == "fixed"
    assert django.extra["locations"][0] == "/usr/local/lib/python3.8/site-packages/Django-3.2.9.dist-info/METADATA"
    assert len(django.extra["locations"]) == 3
    assert django.category.value == "dependency" and django.tool_version == "0.28.0"
    assert "https://nvd.nist.gov/vuln/detail/CVE-2021-44420" in django.references

    krb = by_key[("CVE-2004-0971", "libgssapi-krb5-2")]
    assert krb.severity.value == "info" and krb.raw_severity == "Negligible"
    assert krb.package.ecosystem == "Debian" and krb.package.version == "1.17-3+deb10u3"
    assert krb.package.fixed_versions == [] and krb.extra["fix_state"] == "not-fixed"

    # Same CVE in two different packages stays two findings.
    assert by_key[("CVE-2021-33574", "libc-bin")].severity.value == "critical"
    assert by_key[("CVE-2021-33574", "libc6")].package.version == "2.28-10"

    redis = by_key[("CVE-2021-32626", "redis")]
    assert redis.package.fixed_versions == ["fix_1", "fix_2"] and redis.extra["fix_state"] == "wont-fix"


@requires_corpus
def test_fix_available():
    (f,), _ = parse_file(GRYPE / "fix_available.json")
    assert f.rule_id == "CVE-2009-3882" and f.severity.value == "high"
    assert f.package.name == "java" and f.package.fixed_versions == ["1.2.3"]
    assert f.extra["locations"] == ["/opt/java/openjdk/bin/java"]
    assert f.tool_version == "0.75.0"


@requires_corpus
def test_no_vuln():
    findings, fmt = parse_file(GRYPE / "no_vuln.json")
    assert fmt == "grype" and findings == []


def _match(vid, name, version, path, fixed=()):
    return {
        "vulnerability": {
            "id": vid,
            "severity": "Unknown",
            "fix": {"versions": list(fixed), "state": "fixed"},
            "cvss": [{"metrics": {"baseScore": 9.8}}],
            "cwes": [{"cwe": "CWE-502"}],
        },
        "relatedVulnerabilities": [],
        "artifact": {"name": name, "version": version, "type": "npm", "locations": [{"path": path}]},
    }


def test_paths_merged_fixes_ordered_unknown_severity_from_cvss_and_ignored_kept(tmp_path):
    doc = {
        "descriptor": {"name": "grype", "version": "0.80.0"},
        "source": {"type": "directory", "target": "."},
        "matches": [
            _match("GHSA-aaaa-bbbb-cccc", "lodash", "4.17.10", "a/package-lock.json", ["3.0.0", "4.17.21", "4.17.12"]),
            _match("GHSA-aaaa-bbbb-cccc", "lodash", "4.17.10", "b/package-lock.json", ["4.17.21"]),
        ],
        "ignoredMatches": [_match("CVE-2020-0001", "minimist", "1.2.0", "a/package-lock.json")],
    }
    path = tmp_path / "grype.json"
    path.write_text(json.dumps(doc))
    findings, _ = parse_file(path)
    assert len(findings) == 2
    lodash, minimist = findings
    assert lodash.extra["locations"] == ["a/package-lock.json", "b/package-lock.json"]
    assert lodash.package.fixed_versions == ["4.17.12", "4.17.21", "3.0.0"]
    assert lodash.severity.value == "critical" and lodash.cwe == [502]
    assert not lodash.suppressed and minimist.suppressed


@requires_corpus
def test_malformed_match_is_skipped_with_a_note(tmp_path):
    doc = json.loads((GRYPE / "check_all_fields.json").read_text())
    doc["matches"][0]["vulnerability"] = "x"
    path = tmp_path / "grype.json"
    path.write_text(json.dumps(doc))
    findings, _ = parse_file(path)
    assert len(findings) == 4  # the five of check_all_fields.json but the first match's
    assert findings.skipped == ["matches[0]: ValueError: match without 'vulnerability' and 'artifact' objects"]
