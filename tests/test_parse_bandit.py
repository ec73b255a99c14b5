"""Bandit JSON (DefectDojo samples)."""

import json

from conftest import DOJO, requires_corpus

from secai.ingest.collect import collect, parse_file

BANDIT = DOJO / "bandit"


@requires_corpus
def test_one_vuln():
    (f,), fmt = parse_file(BANDIT / "one_vuln.json")
    assert fmt == "bandit"
    assert f.rule_id == "B101" and f.tool == "bandit" and f.category.value == "code"
    assert f.title.startswith("Use of assert detected.")
    assert f.severity.value == "low" and f.raw_severity == "LOW"
    assert f.extra == {"confidence": "HIGH", "test_name": "assert_used"}
    assert f.location.path == "one/one.py" and f.location.start_line == 2 and f.location.end_line == 2
    assert f.location.snippet == "1 import os\n2 assert False"
    assert f.references == ["https://bandit.readthedocs.io/en/latest/plugins/b101_assert_used.html"]


@requires_corpus
def test_many_vulns():
    findings, _ = parse_file(BANDIT / "many_vulns.json")
    assert len(findings) == 214  # DefectDojo: 214
    first = findings[0]
    assert first.rule_id == "B110" and first.location.path == "dojo/benchmark/views.py"  # backslashes normalized
    assert (first.location.start_line, first.location.end_line) == (26, 27)
    by_rule = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    assert len(by_rule["B703"]) == 47 and len(by_rule["B308"]) == 54
    sql = by_rule["B608"][0]
    assert sql.severity.value == "medium" and sql.extra["confidence"] == "LOW"
    assert sum(f.severity.value == "medium" for f in findings) == 155


@requires_corpus
def test_exact_repeats_merged_by_ingest():
    # Bandit reports B608 at migrate_surveys.py:51 twice, byte for byte; the ingest dedupe keeps one.
    result = collect([BANDIT / "many_vulns.json"])
    assert len(result.findings) == 213
    assert len({f.fingerprint for f in result.findings}) == 213


@requires_corpus
def test_no_vuln():
    findings, fmt = parse_file(BANDIT / "no_vuln.json")
    assert fmt == "bandit" and findings == []


def test_cwe_from_newer_bandit(tmp_path):
    doc = {
        "errors": [],
        "generated_at": "2024-05-01T00:00:00Z",
        "metrics": {},
        "results": [
            {
                "code": "4 subprocess.call(cmd, shell=True)\n",
                "col_offset": 0,
                "filename": "./app/run.py",
                "issue_confidence": "HIGH",
                "issue_cwe": {"id": 78, "link": "https://cwe.mitre.org/data/definitions/78.html"},
                "issue_severity": "HIGH",
                "issue_text": "subprocess call with shell=True identified, security issue.",
                "line_number": 4,
                "line_range": [4],
                "more_info": "https://bandit.readthedocs.io/b602",
                "test_id": "B602",
                "test_name": "subprocess_popen_with_shell_equals_true",
            }
        ],
    }
    path = tmp_path / "bandit.json"
    path.write_text(json.dumps(doc))
    (f,), _ = parse_file(path)
    assert f.cwe == [78] and f.severity.value == "high" and f.location.path == "app/run.py"
    assert f.references == ["https://bandit.readthedocs.io/b602", "https://cwe.mitre.org/data/definitions/78.html"]


@requires_corpus
def test_malformed_result_is_skipped_with_a_note(tmp_path):
    doc = json.loads((DOJO / "bandit" / "many_vulns.json").read_text())
    total = len(parse_file(DOJO / "bandit" / "many_vulns.json")[0])
    del doc["results"][2]["filename"]
    path = tmp_path / "bandit.json"
    path.write_text(json.dumps(doc))
    findings, _ = parse_file(path)
    assert len(findings) == total - 1
    assert findings.skipped == ["results[2]: ValueError: result without test_id or filename"]
