import json

import pytest
from conftest import DOJO, MPO, requires_corpus
from hypothesis import given, settings
from hypothesis import strategies as st

from secai.ingest.collect import collect, parse_file
from secai.ingest.parsers import Document, run_parser, sarif

TRIVY = MPO / "docker-security-scan-results-trivy-action"


def parse(path):
    findings, fmt = parse_file(path)
    assert fmt == "sarif"
    return findings


def run_doc(doc):
    return run_parser(sarif, Document("json", doc, "mem.sarif"), "mem.sarif")


# -- DefectDojo samples (counts match DefectDojo's unittests/tools/test_sarif_parser.py) ----------


@requires_corpus
def test_codeql():
    fs = parse(DOJO / "sarif" / "codeQL-output.sarif")
    assert len(fs) == 72
    f = fs[7]
    assert (f.tool, f.tool_version, f.rule_id) == ("codeql", "2.5.4", "py/call/wrong-named-argument")
    assert f.location.path == "good/mod_user.py" and f.location.start_line == 33
    assert f.severity.value == "high" and f.raw_severity == "error"  # rule default level
    assert f.title == "Wrong name for an argument in a call"
    assert f.cwe == [628] and f.category.value == "code"
    assert "libsession.create(request=request" in f.location.snippet
    path_injection = next(x for x in fs if x.rule_id == "py/path-injection")
    assert {22, 23, 36, 73, 99} <= set(path_injection.cwe)  # external/cwe/cwe-022 tags


@requires_corpus
def test_gitleaks_7_secrets_redacted():
    fs = parse(DOJO / "sarif" / "gitleaks_7.5.0.sarif")
    assert len(fs) == 8
    assert all(f.category.value == "secret" and f.severity.value == "medium" for f in fs)
    assert fs[0].rule_id == "AWS Access Key"  # gitleaks 7 has no ruleId; the message names the rule
    assert (
        fs[0].location.path
        == "dojo/unittests/scans/gitlab_secret_detection_report/gitlab_secret_detection_report_1_vuln.json"
    )
    assert fs[0].location.start_line == 13
    assert (fs[3].location.start_line, fs[7].location.start_line) == (44, 37)
    assert fs[7].location.path == "dojo/unittests/tools/test_gitlab_secret_detection_report_parser.py"
    dumped = json.dumps([f.model_dump(mode="json") for f in fs])
    assert "AKIAIOSFODNN7EXAMPLE" not in dumped and "[REDACTED:" in dumped
    assert "_secrets" not in dumped


@requires_corpus
def test_gitleaks_7_same_secret_in_several_commits_dedupes():
    # The report lists the same file line once per commit; across commits it is one finding.
    result = collect([DOJO / "sarif" / "gitleaks_7.5.0.sarif"])
    keys = {(f.location.path, f.location.start_line) for f in result.findings}
    assert len(result.findings) == len(keys) == 4


@requires_corpus
def test_no_runs():
    assert parse(DOJO / "sarif" / "no_runs.sarif") == []


@requires_corpus
def test_spotbugs_message_strings():
    fs = parse(DOJO / "sarif" / "spotbugs.sarif")
    assert len(fs) == 56
    f = fs[0]
    assert f.tool == "spotbugs" and f.tool_version == "4.4.0"
    assert f.message == "Hard coded reference to an absolute pathname in Boot.main(String[])."
    assert f.location.path == "Boot.java" and f.location.start_line == 23
    assert f.severity.value == "low"
    assert f.references == [
        "https://spotbugs.readthedocs.io/en/latest/bugDescriptions.html#DMI_HARDCODED_ABSOLUTE_FILENAME"
    ]


@requires_corpus
def test_taint_paths_relative_to_working_directory():
    fs = parse(DOJO / "sarif" / "taint-python-report.sarif")
    assert len(fs) == 11
    assert fs[0].location.path == "dojo/tools/veracode/parser.py"  # file:///home/damien/dd/ stripped
    assert fs[2].location.path == "dojo/tools/qualys_infrascan_webgui/parser.py"
    assert fs[2].location.start_line == 169
    assert fs[6].severity.value == "high"
    assert fs[6].message.startswith("XML injection with user data from `filename in parser_helper.py:167`")
    assert fs[0].references == ["https://cwe.mitre.org/data/definitions/91.html"]


# -- mpo-api-authn-server artifacts -----------------------------------------------------------------


@requires_corpus
def test_mpo_checkov_sarif():
    fs = parse(MPO / "checkov-results-workflow_dispatch-392" / "checkov-results.sarif")
    assert len(fs) == 10
    assert {f.rule_id for f in fs} == {"CKV2_GHA_1"}
    assert all(f.category.value == "iac" and f.tool == "checkov" and f.tool_version == "3.2.470" for f in fs)
    assert (fs[0].location.path, fs[0].location.start_line, fs[0].location.end_line) == (
        ".github/workflows/android-e2e-tests.yml",
        166,
        167,
    )
    assert fs[0].remediation is None  # Checkov's help text only restates the check


@requires_corpus
def test_mpo_gitleaks_empty():
    assert parse(MPO / "gitleaks-results.sarif" / "results.sarif") == []


@requires_corpus
def test_trivy_sarif_package_facts():
    fs = parse(TRIVY / "webauthn-comprehensive.sarif")
    assert len(fs) == 44
    assert sum(1 for f in fs if f.package.fixed_versions) == 13
    assert all(f.category.value == "dependency" and f.tool == "trivy" for f in fs)
    http2 = next(f for f in fs if f.rule_id == "CVE-2025-55163")
    assert http2.package.name == "io.netty:netty-codec-http2" and http2.package.ecosystem == "Maven"
    assert http2.package.version == "4.1.101.Final"
    assert http2.package.fixed_versions == ["4.1.124.Final", "4.2.4.Final"]  # smallest above first
    assert http2.severity.value == "high" and http2.raw_severity == "7.5"  # the rule's security-severity
    assert http2.location.path == "app/app.jar" and http2.location.start_line is None
    assert http2.vulnerability_ids == ["CVE-2025-55163"]
    assert http2.remediation == "Upgrade io.netty:netty-codec-http2 to 4.1.124.Final or later."
    coreutils = fs[0]
    assert coreutils.package.name == "coreutils" and coreutils.package.version == "9.4-3ubuntu6"
    assert coreutils.package.ecosystem == "Ubuntu" and coreutils.package.fixed_versions == []
    assert coreutils.location.path == "hitoshura25/webauthn-server"
    # the rule is shared by curl and libcurl4t64: the package comes from each result, not the rule
    curl = [f.package.name for f in fs if f.rule_id == "CVE-2025-0167"]
    assert curl == ["curl", "libcurl4t64"]


@requires_corpus
def test_trivy_merged_sarif_adds_nothing():
    parts = [TRIVY / "webauthn-comprehensive.sarif", TRIVY / "test-credentials-comprehensive.sarif"]
    keys = [{f.dedupe_key() for f in collect([p]).findings} for p in parts]
    assert [len(k) for k in keys] == [44, 40]
    # Both images ship the same app/app.jar with logback-core 1.4.14: its two CVEs are the same
    # finding (same path, package and version) in both files, so the union is 44 + 40 - 2 = 82.
    assert len(keys[0] & keys[1]) == 2
    merged = parse(TRIVY / "docker-security-scan-results.sarif")
    assert len(merged) == 84
    folder = collect([TRIVY])
    assert not folder.errors
    assert {f.dedupe_key() for f in folder.findings} == keys[0] | keys[1]
    assert len(folder.findings) == 82
    with_fix = [f for f in folder.findings if f.package.fixed_versions]
    assert len(with_fix) == 20  # 13 + 9 - the 2 shared logback-core ones
    assert len(folder.findings) - len(with_fix) == 62  # findings without a fix are kept
    logback = next(f for f in with_fix if f.rule_id == "CVE-2024-12798")
    assert logback.package.fixed_versions == ["1.5.13", "1.3.15"]
    assert logback.extra.get("also_in")


# -- semantics on small documents -------------------------------------------------------------------


def _doc(results, rules=None, **run):
    return {
        "version": "2.1.0",
        "runs": [
            {"tool": {"driver": {"name": "Demo", "version": "1.0", "rules": rules or []}}, "results": results, **run}
        ],
    }


def _loc(uri, line=None, **art):
    region = {"startLine": line} if line else {}
    return {"physicalLocation": {"artifactLocation": {"uri": uri, **art}, "region": region}}


def test_locations_kind_suppression_and_severity():
    rules = [
        {
            "id": "R1",
            "shortDescription": {"text": "Rule one"},
            "defaultConfiguration": {"level": "note"},
            "properties": {"tags": ["external/cwe/cwe-079", "CWE-89"]},
        },
        {"id": "R2", "properties": {"security-severity": "9.1"}},
    ]
    results = [
        {"ruleId": "R1", "message": {"text": "two places"}, "locations": [_loc("a.py", 3), _loc("b.py", 4)]},
        {"ruleId": "R1", "kind": "pass", "message": {"text": "not a finding"}},
        {"ruleId": "R1", "kind": "fail", "message": {"text": "no location"}},
        {"ruleIndex": 1, "level": "note", "message": {"text": "score wins"}, "locations": [_loc("c.py", 1)]},
        {
            "ruleId": "R1",
            "level": "error",
            "message": {"text": "suppressed"},
            "locations": [_loc("d.py", 9)],
            "suppressions": [{"kind": "inSource"}],
        },
        {
            "ruleId": "R1",
            "message": {"text": "rejected suppression"},
            "locations": [_loc("e.py", 9)],
            "suppressions": [{"kind": "external", "status": "rejected"}],
        },
    ]
    fs = run_doc(_doc(results, rules))
    assert [f.message for f in fs] == [
        "two places",
        "two places",
        "no location",
        "score wins",
        "suppressed",
        "rejected suppression",
    ]
    assert [f.location.path if f.location else None for f in fs[:3]] == ["a.py", "b.py", None]
    assert fs[0].severity.value == "low" and fs[0].title == "Rule one" and fs[0].cwe == [79, 89]
    assert fs[3].rule_id == "R2" and fs[3].severity.value == "critical"
    assert fs[4].suppressed and fs[4].severity.value == "high"
    assert not fs[5].suppressed


def test_uri_base_ids_and_taxa():
    run = {
        "originalUriBaseIds": {"SRCROOT": {"uri": "file:///home/runner/work/app/app/"}},
        "taxonomies": [{"name": "CWE", "taxa": [{"id": "22"}]}],
    }
    rules = [{"id": "T", "relationships": [{"target": {"id": "22", "toolComponent": {"name": "CWE"}}}]}]
    results = [
        {
            "ruleId": "T",
            "message": {"text": "m"},
            "locations": [
                _loc("src/x.py", 5, uriBaseId="SRCROOT"),
                _loc("file:///home/runner/work/app/app/src/y%20z.py", 6),
            ],
        }
    ]
    fs = run_doc(_doc(results, rules, **run))
    assert [f.location.path for f in fs] == ["src/x.py", "src/y z.py"]
    assert fs[0].cwe == [22]


def test_gitleaks_8_snippet_is_redacted():
    doc = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "gitleaks", "rules": [{"id": "generic-api-key"}]}},
                "results": [
                    {
                        "ruleId": "generic-api-key",
                        "message": {"text": "generic-api-key has detected secret for file cfg.py."},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": "cfg.py"},
                                    "region": {"startLine": 2, "snippet": {"text": "Zx9qLmN4pR7sT2vW"}},
                                }
                            }
                        ],
                    }
                ],
            }
        ],
    }
    [f] = run_doc(doc)
    assert f.category.value == "secret"
    assert "Zx9qLmN4pR7sT2vW" not in f.model_dump_json()
    assert f.location.snippet.startswith("[REDACTED:")


@pytest.mark.parametrize(
    "doc, problem",
    [
        ({"version": "2.1.0", "runs": [1]}, "runs[0]: run is not an object"),
        ({"version": "2.1.0", "runs": [{"tool": {}}]}, "runs[0]: tool.driver.name is missing"),
        ({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": {}}]}, "runs[0]: results is not"),
        ({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [7]}]}, "runs[0].results[0]: "),
    ],
)
def test_malformed_runs_and_results_are_skipped_with_a_note(doc, problem):
    assert sarif.detect(doc)
    found = run_doc(doc)
    assert found == [] and len(found.skipped) == 1 and found.skipped[0].startswith(problem)


def test_detect_is_by_content():
    assert sarif.detect({"version": "2.1.0", "runs": []})
    assert not sarif.detect({"results": []})
    assert not sarif.detect([{"runs": []}])


# -- Trivy message fields: the fast parse against a plain line-by-line one -------------------------


def _reference_trivy_fields(text):
    fields = {}
    for line in text.splitlines():
        m = sarif._TRIVY_FIELD.match(line.strip())
        if m and m.group(1) not in fields:
            fields[m.group(1)] = m.group(2).strip()
    return fields


_FIELD_PARTS = [
    "Package",
    "Installed Version",
    "Fixed Version",
    "Vulnerability",
    "PkgPath",
    "Link",
    "Type",
    "Match",
    "Packages",
    ":",
    " : ",
    "\t",
    " ",
    "1.2-3",
    "CVE-2024-1",
    "[x](https://a.b/c)",
    "\u3000",
    "\x1f",
    "\x85",
    "\u2028",
    "\r",
    "\r\n",
    "\n",
    "\v",
    "\f",
    "\x1c",
    "\x1e",
    "\xa0",
    "é",
]


@settings(max_examples=600, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(_FIELD_PARTS), max_size=16) | st.text(max_size=40).map(lambda t: [t]))
def test_trivy_fields_match_a_line_by_line_parse(parts):
    text = "".join(parts)
    assert sarif._trivy_fields(text) == _reference_trivy_fields(text)
