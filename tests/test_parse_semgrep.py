from conftest import DOJO, MPO, requires_corpus

from secai.findings import dedupe
from secai.ingest.collect import parse_file
from secai.ingest.parsers import Document, run_parser, semgrep


def parse(path):
    findings, fmt = parse_file(path)
    assert fmt == "semgrep-json"
    return findings


def run_doc(doc):
    return run_parser(semgrep, Document("json", doc, "s.json"), "s.json")


@requires_corpus
def test_mpo_semgrep_merges_same_rule_path_line_column():
    fs = parse(MPO / "semgrep-results-workflow_dispatch-392" / "semgrep-results.json")
    # 107 results; (rule, path, line) repeats twice, but at line 122 the rule matched two columns
    # (9 and 45): two issues (issue 18), so 106 findings and one merge left
    assert len(fs) == 106
    merged = sorted((f.rule_id, f.location.path, f.location.start_line) for f in fs if f.extra.get("merged_results"))
    assert merged == [
        (
            "semgrep-rules.webauthn-challenge-storage-without-expiry",
            "webauthn-server/src/main/kotlin/com/vmenon/mpo/api/authn/di/MonitoringModule.kt",
            60,
        ),
    ]
    same_line = [f for f in fs if f.location.start_line == 122 and "QuantumSafe" in f.location.path]
    assert sorted(f.location.start_column for f in same_line) == [9, 45]
    assert len({f.fingerprint for f in dedupe(same_line)}) == 2
    f = fs[0]
    assert f.rule_id == "java.android.security.exported_activity.exported_activity"
    assert (f.location.path, f.location.start_line, f.location.end_line) == (
        "android-test-client/app/src/main/AndroidManifest.xml",
        21,
        26,
    )
    assert f.location.snippet is None  # "requires login"
    assert f.severity.value == "medium" and f.cwe == [926] and f.tool_version == "1.135.0"
    assert f.extra["confidence"] == "MEDIUM"
    assert f.references == [
        "https://cwe.mitre.org/data/definitions/926.html",
        "https://semgrep.dev/r/java.android.security.exported_activity.exported_activity",
    ]


@requires_corpus
def test_dojo_samples():
    assert parse(DOJO / "semgrep" / "empty.json") == []
    [csrf] = parse(DOJO / "semgrep" / "cwe_list.json")
    assert csrf.cwe == [352] and csrf.severity.value == "low" and csrf.location.snippet == "const app = express();"
    many = parse(DOJO / "semgrep" / "many_findings.json")
    assert len(many) == 3  # DefectDojo: 3
    f = many[0]
    assert f.rule_id == "java.lang.security.audit.cbc-padding-oracle.cbc-padding-oracle"
    assert f.location.path == "src/main/java/org/owasp/benchmark/testcode/BenchmarkTest02194.java"
    assert f.location.start_line == 64 and f.severity.value == "medium" and f.cwe == [696]
    assert 'Cipher.getInstance("AES/GCM/NoPadding")' in f.remediation
    assert parse(DOJO / "semgrep" / "repeated_findings.json")[0].extra["merged_results"] == 2  # DefectDojo: 1


def test_supply_chain_result_is_a_dependency_finding():
    doc = {
        "version": "1.50.0",
        "errors": [{"message": "timeout"}],
        "results": [
            {
                "check_id": "ssc-gin-cve",
                "path": "go.mod",
                "start": {"line": 5},
                "end": {"line": 5},
                "extra": {
                    "message": "gin before 1.9.1 ...",
                    "severity": "WARNING",
                    "lines": "requires login",
                    "metadata": {
                        "cve": "CVE-2023-29401",
                        "ghsa": "GHSA-2c4m-59x9-fr2g",
                        "sca-severity": "MODERATE",
                        "cwe": ["CWE-494: Download of Code Without Integrity Check"],
                        "sca-fix-versions": [{"github.com/gin-gonic/gin": "1.9.1"}, {"other/pkg": "9.9"}],
                    },
                    "sca_info": {
                        "reachable": False,
                        "dependency_match": {
                            "dependency_pattern": {"ecosystem": "gomod", "package": "github.com/gin-gonic/gin"},
                            "found_dependency": {
                                "package": "github.com/gin-gonic/gin",
                                "version": "v1.9.0",
                                "ecosystem": "gomod",
                                "transitivity": "direct",
                            },
                            "lockfile": "go.mod",
                        },
                    },
                },
            }
        ],
    }
    assert semgrep.detect(doc)
    [f] = run_doc(doc)
    assert f.category.value == "dependency" and f.severity.value == "medium"
    assert (f.package.ecosystem, f.package.name, f.package.version) == ("Go", "github.com/gin-gonic/gin", "v1.9.0")
    assert f.package.fixed_versions == ["1.9.1"]  # only this package's fix
    assert f.vulnerability_ids == ["CVE-2023-29401", "GHSA-2c4m-59x9-fr2g"]
    assert f.extra["reachable"] is False


def test_fix_regex_and_secret_rules():
    doc = {
        "errors": [],
        "results": [
            {
                "check_id": "generic.secrets.security.detected-aws-key",
                "path": "a.py",
                "start": {"line": 1},
                "end": {"line": 1},
                "extra": {
                    "message": "AWS key",
                    "severity": "ERROR",
                    "fix_regex": {"regex": "AKIA.*", "replacement": "os.environ['KEY']"},
                },
            }
        ],
    }
    [f] = run_doc(doc)
    assert f.category.value == "secret" and f.severity.value == "high"
    assert "os.environ['KEY']" in f.remediation


def test_result_without_path_is_skipped_with_a_note():
    doc = {"errors": [], "results": [{"check_id": "x", "extra": {}}]}
    found = run_doc(doc)
    assert found == [] and found.skipped == ["results[0]: lacks check_id or path"]


def test_results_of_one_rule_keep_their_own_metadata():
    """Rule facts are worked out once per rule, but a result whose metadata differs (two configs
    with one rule id) gets its own, and no two findings share a list."""

    def result(line, meta):
        return {
            "check_id": "rules.sqli",
            "path": "app.py",
            "start": {"line": line},
            "end": {"line": line},
            "extra": {"message": "SQL injection", "severity": "ERROR", "metadata": meta},
        }

    meta_a = {"cwe": ["CWE-89: SQL Injection"], "owasp": ["A03:2021 - Injection"], "references": ["https://a.example"]}
    meta_b = {"cwe": ["CWE-564"], "owasp": ["A1:2017 - Injection"], "category": "security"}
    fs = run_doc(
        {"errors": [], "results": [result(1, meta_a), result(2, meta_a), result(3, meta_b), result(4, meta_a)]}
    )
    assert [f.cwe for f in fs] == [[89], [89], [564], [89]]
    assert [f.extra.get("owasp") for f in fs] == [["A03:2021 - Injection"]] * 2 + [["A1:2017 - Injection"]] + [
        ["A03:2021 - Injection"]
    ]
    assert [f.references for f in fs] == [["https://a.example"]] * 2 + [[]] + [["https://a.example"]]
    assert [f.extra.get("category") for f in fs] == [None, None, "security", None]
    fs[0].extra["owasp"].append("changed")
    fs[0].references.append("https://changed.example")
    assert fs[1].extra["owasp"] == ["A03:2021 - Injection"] and fs[1].references == ["https://a.example"]
