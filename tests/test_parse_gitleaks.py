"""Gitleaks JSON v8 and legacy (DefectDojo samples); gitleaks SARIF only through ingest."""

import json

from conftest import DOJO, MPO, requires_corpus

from secai.ingest.collect import collect, parse_file
from secai.ingest.redact import secret_hash

GITLEAKS = DOJO / "gitleaks"
V8_SECRETS = ["secretAWSsecret", "-----BEGIN RSA PRIVATE KEY-----", "dfjksdjfs3294dfjlsdaf213"]
V8_MATCHES = ['apikey = "dfjksdjfs3294dfjlsdaf213"']


@requires_corpus
def test_v8_duplicates_across_commits_merged():
    findings, fmt = parse_file(GITLEAKS / "gitleaks8_many.json")
    assert fmt == "gitleaks"
    # Four entries; the AWS one is the same rule, file, line and secret in two commits.
    assert len(findings) == 3
    aws, rsa, api = findings
    assert aws.rule_id == "aws-access-token" and aws.title == "AWS"
    assert aws.location.path == "/conf/aws.tf" and aws.location.start_line == 2 and aws.location.end_line == 2
    assert aws.extra["commits"] == [
        "74d53286c550630f80847d37f68aa3065554ac813544072ccd1278da71fafe31",
        "9619c91b3fd2998be5d9ce198833d7ac9489d9bc378ad7cd28963d5a967f8699",
    ]
    assert aws.extra["secret_sha256"] == secret_hash("secretAWSsecret")
    assert rsa.rule_id == "RSA-PK" and rsa.location.path == "conf/rsa.pk" and rsa.location.start_line == 57
    assert api.rule_id == "generic-api-key" and api.location.start_line == 21
    assert api.extra["entropy"] == "4.132944"
    for f in findings:
        assert f.category.value == "secret" and f.severity.value == "high"
        assert "_secrets" not in f.extra


@requires_corpus
def test_no_raw_secret_survives_anywhere():
    findings, _ = parse_file(GITLEAKS / "gitleaks8_many.json")
    dumped = "".join(f.model_dump_json() for f in findings)
    for value in V8_SECRETS + V8_MATCHES:
        assert value not in dumped


@requires_corpus
def test_legacy_redacted_report():
    findings, fmt = parse_file(GITLEAKS / "redacted_data_many.json")
    assert fmt == "gitleaks" and len(findings) == 6
    first = findings[0]
    assert first.rule_id == "AWS Access Key"
    assert first.location.path == "overlays/server/config/server-config.yml" and first.location.start_line == 224
    assert first.extra["commits"] == ["b13740279fb0145e4dce1d5bae6dfcc08a7767bb"]
    # Gitleaks already wrote REDACTED; there is no value to hash.
    assert first.extra["redacted_by_scanner"] is True and "secret_sha256" not in first.extra
    assert [f.location.start_line for f in findings[2:]] == [1025, 1089, 1121, 1339]
    assert all(f.location.path == "terraform/terraform.tfstate.backup" for f in findings[2:])


def test_legacy_with_real_values_is_redacted(tmp_path):
    secret = "AKIAIOSFODNN7EXAMPLE"
    line = f'aws_key = "{secret}"  # in commit message too'
    doc = [
        {
            "line": line,
            "lineNumber": 3,
            "offender": secret,
            "commit": "abc",
            "rule": "AWS Access Key",
            "commitMessage": f"oops {secret}",
            "file": "app/settings.py",
            "tags": "key, AWS",
        },
        {
            "line": line,
            "lineNumber": 3,
            "offender": secret,
            "commit": "def",
            "rule": "AWS Access Key",
            "file": "app/settings.py",
        },
    ]
    path = tmp_path / "gitleaks.json"
    path.write_text(json.dumps(doc))
    (f,), _ = parse_file(path)
    assert f.extra["commits"] == ["abc", "def"]
    assert f.extra["secret_sha256"] == secret_hash(secret)
    assert secret not in f.model_dump_json() and line not in f.model_dump_json()


@requires_corpus
def test_empty_reports():
    findings, fmt = parse_file(GITLEAKS / "no_findings.json")  # a JSON null
    assert findings == [] and fmt is None
    result = collect([MPO / "gitleaks-results.sarif"])
    assert result.findings == [] and not result.errors


@requires_corpus
def test_gitleaks_sarif_through_ingest_is_redacted_and_deduplicated():
    path = DOJO / "sarif" / "gitleaks_7.5.0.sarif"
    raw = json.loads(path.read_text())
    offenders = {r["properties"]["offender"] for r in raw["runs"][0]["results"]}
    result = collect([path])
    assert not result.errors
    # Eight results: four leaks, each found in two commits.
    assert len(raw["runs"][0]["results"]) == 8 and len(result.findings) == 4
    dumped = "".join(f.model_dump_json() for f in result.findings)
    for value in offenders:
        assert value not in dumped
