import json

from conftest import DOJO, requires_corpus

from secai.ingest.collect import parse_file
from secai.ingest.parsers import Document, checkov, run_parser


def parse(name):
    findings, fmt = parse_file(DOJO / "checkov" / name)
    assert fmt == "checkov-json"
    return findings


@requires_corpus
def test_zero_vulns():
    assert parse("checkov-report-0-vuln.json") == []


@requires_corpus
def test_many_vulns_null_severity_is_medium():
    fs = parse("checkov-report-many-vuln.json")
    assert [f.rule_id for f in fs] == ["CKV_AZURE_41", "CKV_AZURE_42", "CKV_AZURE_43"]  # DefectDojo: 3
    f = fs[0]
    assert f.severity.value == "medium" and f.raw_severity is None
    assert f.category.value == "iac" and f.tool == "checkov" and f.tool_version == "1.0.467"
    assert (f.location.path, f.location.start_line, f.location.end_line) == ("file_path", 1, 16)
    assert f.references == ["https://docs.bridgecrew.io/docs/ensure-the-key-vault-is-recoverable"]
    assert "azurerm_key_vault.main" in f.message and f.extra["resource"] == "azurerm_key_vault.main"
    assert f.extra["check_type"] == "terraform"


@requires_corpus
def test_severity_and_repo_relative_paths():
    fs = parse("checkov-report-severity.json")
    assert [(f.rule_id, f.severity.value) for f in fs] == [
        ("CKV_GCP_29", "medium"),
        ("CKV_GCP_62", "medium"),
        ("CKV_GCP_78", "low"),
        ("CKV_GCP_28", "high"),
    ]
    assert fs[0].location.path == "gcs.tf"  # "/gcs.tf" made repo-relative
    assert (fs[3].location.start_line, fs[3].location.end_line) == (17, 21)
    assert fs[0].extra["bc_check_id"] == "BC_GCP_GCS_2"


def _report(check_type, failed, passed=()):
    return {
        "check_type": check_type,
        "results": {"failed_checks": list(failed), "passed_checks": list(passed)},
        "summary": {"failed": len(failed), "checkov_version": "3.2.0"},
    }


def test_list_of_check_types_only_failed():
    doc = [
        _report(
            "terraform",
            [
                {
                    "check_id": "CKV_AWS_20",
                    "check_name": "S3 public",
                    "repo_file_path": "/infra/s3.tf",
                    "file_line_range": [3, 9],
                    "resource": "aws_s3_bucket.b",
                    "severity": "HIGH",
                }
            ],
            passed=[{"check_id": "CKV_AWS_1"}],
        ),
        _report(
            "dockerfile",
            [
                {
                    "check_id": "CKV_DOCKER_2",
                    "check_name": "Healthcheck",
                    "file_path": "/Dockerfile",
                    "file_line_range": [1, 1],
                }
            ],
        ),
        {"check_type": "github_actions", "summary": {"passed": 0, "failed": 0}},
    ]
    assert checkov.detect(doc)
    fs = run_parser(checkov, Document("json", doc, "c.json"), "c.json")
    assert [(f.rule_id, f.location.path, f.severity.value) for f in fs] == [
        ("CKV_AWS_20", "infra/s3.tf", "high"),
        ("CKV_DOCKER_2", "Dockerfile", "medium"),
    ]
    assert [f.extra["check_type"] for f in fs] == ["terraform", "dockerfile"]


@requires_corpus
def test_malformed_check_is_skipped_with_a_note():
    doc = json.loads((DOJO / "checkov" / "checkov-report-many-vuln.json").read_text())
    del doc["results"]["failed_checks"][1]["check_id"]
    fs = run_parser(checkov, Document("json", doc, "c.json"), "c.json")
    assert [f.rule_id for f in fs] == ["CKV_AZURE_41", "CKV_AZURE_43"]
    assert fs.skipped == ["terraform failed_checks[1]: Checkov terraform check lacks check_id"]


def test_skipped_checks_are_kept_suppressed_with_their_reason():
    doc = _report("terraform", [{"check_id": "CKV_AWS_18", "file_path": "/s3.tf", "file_line_range": [1, 4]}])
    doc["results"]["skipped_checks"] = [
        {
            "check_id": "CKV_AWS_20",
            "check_name": "S3 public read",
            "check_result": {"result": "SKIPPED", "suppress_comment": "public website bucket by design"},
            "file_path": "/s3.tf",
            "file_line_range": [6, 9],
        },
        {"check_id": "CKV_AWS_21", "check_result": {"result": "SKIPPED"}, "file_path": "/s3.tf"},
        {"check_result": {"result": "SKIPPED"}},
    ]
    fs = run_parser(checkov, Document("json", doc, "c.json"), "c.json")
    assert [(f.rule_id, f.location.start_line, f.suppressed) for f in fs] == [
        ("CKV_AWS_18", 1, False),
        ("CKV_AWS_20", 6, True),
        ("CKV_AWS_21", None, True),
    ]
    assert fs[1].extra["suppress_comment"] == "public website bucket by design"
    assert "suppress_comment" not in fs[0].extra and "suppress_comment" not in fs[2].extra
    assert fs.skipped == ["terraform skipped_checks[2]: Checkov terraform check lacks check_id"]
