from conftest import DOJO, MPO, requires_corpus

from secai.ingest.collect import collect, parse_file
from secai.ingest.parsers import Document, osv, run_parser

OSV = MPO / "osv-scanner-results-workflow_dispatch-392" / "osv-results.json"


def parse(path):
    findings, fmt = parse_file(path)
    assert fmt == "osv-scanner"
    return findings


@requires_corpus
def test_mpo_counts():
    fs = parse(OSV)
    # 4 lockfiles, 32 vulnerable packages, 46 package/vulnerability entries. Every group here holds
    # one id (aliases are listed per group, not merged across groups), so groups do not reduce 46.
    assert len(fs) == 46
    assert len({f.location.path for f in fs}) == 4
    assert len({(f.location.path, f.package.name, f.package.version) for f in fs}) == 32
    assert {f.location.path for f in fs} == {
        "android-test-client/app/gradle.lockfile",
        "webauthn-server/gradle.lockfile",
        "webauthn-test-credentials-service/gradle.lockfile",
        "webauthn-test-lib/gradle.lockfile",
    }
    assert all(f.package.fixed_versions for f in fs)
    assert len(collect([OSV]).findings) == 46


@requires_corpus
def test_fixed_version_belongs_to_the_same_package():
    fs = parse(OSV)
    bc = [f for f in fs if f.package.name == "org.bouncycastle:bcpkix-jdk18on"]
    assert len(bc) == 3
    for f in bc:
        # the advisory also lists bcpkix-fips (1.0.8, 2.0.8) and the jdk15on artifacts
        assert f.package.fixed_versions == ["1.79"]
        assert f.vulnerability_ids == ["GHSA-4cx2-fc23-5wg6", "CVE-2025-8916"]
        assert f.severity.value == "medium" and f.raw_severity == "6.3" and f.cwe == [770]
    # an advisory for logback-classic that also names logback-core: each gets its own fixes
    core = next(f for f in fs if f.rule_id == "GHSA-vmq6-5m68-f53m" and f.package.name == "ch.qos.logback:logback-core")
    assert core.package.version == "1.3.5" and core.package.fixed_versions == ["1.3.12", "1.4.12", "1.2.13"]
    # commons-lang3 fix is 3.18.0, never commons-lang's range
    lang3 = next(f for f in fs if f.package.name == "org.apache.commons:commons-lang3")
    assert lang3.package.fixed_versions == ["3.18.0"]
    # netty-codec: the advisory's netty-codec-compression 4.2.5.Final is another package
    codec = next(f for f in fs if f.package.name == "io.netty:netty-codec")
    assert codec.package.fixed_versions == ["4.1.125.Final"]


@requires_corpus
def test_smallest_fix_above_installed_first():
    fs = parse(OSV)
    lb = {
        (f.package.version, f.rule_id): f.package.fixed_versions
        for f in fs
        if f.package.name == "ch.qos.logback:logback-core" and f.location.path.startswith("webauthn-server/")
    }
    assert lb[("1.3.5", "GHSA-6v67-2wr5-gvf4")] == ["1.3.15", "1.5.13"]
    assert lb[("1.4.14", "GHSA-6v67-2wr5-gvf4")] == ["1.5.13", "1.3.15"]
    http2 = next(
        f for f in fs if f.package.name == "io.netty:netty-codec-http2" and f.package.version == "4.1.101.Final"
    )
    assert http2.package.fixed_versions == ["4.1.124.Final", "4.2.4.Final"]


@requires_corpus
def test_severity_falls_back_to_advisory_word():
    fs = parse(OSV)
    f = next(f for f in fs if f.rule_id == "GHSA-fghv-69vj-qj49")  # group max_severity is ""
    assert f.severity.value == "low" and f.raw_severity == "LOW" and f.cwe == [444]
    jackson = next(f for f in fs if f.package.name == "com.fasterxml.jackson.core:jackson-core")
    assert jackson.severity.value == "high" and jackson.package.version == "2.14.0-rc2"
    assert jackson.package.fixed_versions == ["2.15.0"]


@requires_corpus
def test_dojo_samples():
    [f] = parse(DOJO / "osv_scanner" / "some_findings.json")
    assert (f.rule_id, f.package.name, f.package.version, f.package.ecosystem) == (
        "MAL-2023-1035",
        "flot-axis",
        "0.0.0",
        "npm",
    )
    assert f.vulnerability_ids == ["MAL-2023-1035", "GHSA-8348-2q94-ffjx"]
    assert f.package.fixed_versions == [] and f.location.path == "/tmp/components/yarn.lock"
    assert f.title == "Malicious code in flot-axis (npm)"
    # an empty file is an empty report
    assert parse_file(DOJO / "osv_scanner" / "no_findings.json") == ([], None)


def test_reports_without_groups():
    doc = {
        "results": [
            {
                "source": {"path": "/github/workspace/requirements.txt", "type": "lockfile"},
                "packages": [
                    {
                        "package": {"name": "jinja2", "version": "2.10", "ecosystem": "PyPI"},
                        "vulnerabilities": [
                            {
                                "id": "PYSEC-2019-217",
                                "aliases": ["CVE-2019-10906"],
                                "database_specific": {"severity": "HIGH"},
                                "affected": [
                                    {
                                        "package": {"name": "jinja2", "ecosystem": "PyPI"},
                                        "ranges": [
                                            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.10.1"}]}
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    assert osv.detect(doc)
    [f] = run_parser(osv, Document("json", doc, "o.json"), "o.json")
    assert f.location.path == "requirements.txt" and f.severity.value == "high"
    assert f.package.fixed_versions == ["2.10.1"] and f.vulnerability_ids == ["PYSEC-2019-217", "CVE-2019-10906"]


def test_package_without_name_is_skipped_with_a_note():
    doc = {"results": [{"source": {}, "packages": [{"package": {}}]}]}
    found = run_parser(osv, Document("json", doc, "o.json"), "o.json")
    assert found == [] and found.skipped == ["results[0].packages[0]: lacks package.name"]
