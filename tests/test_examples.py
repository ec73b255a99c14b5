"""The committed outputs of real scanners run on examples/vulnerable-app (examples/regenerate.sh),
parsed the way `secai-runner parse examples/artifacts` does. Expected facts are checked against
the raw reports next to them."""

import json
from collections import Counter
from pathlib import Path, PurePosixPath

import pytest
from conftest import EXAMPLES

from secai.ingest.collect import collect

ARTIFACTS = EXAMPLES / "artifacts"
APP = EXAMPLES / "vulnerable-app"

# The fake credentials planted in the app; no finding may carry one.
FAKE_SECRETS = [
    "hunter2-FAKE-example-password",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "django-insecure-FAKE0example0key0do0not0use",
    "ghp_FAKEexampleTOKEN0000000000000000000000",
    "FAKE-example-db-password",
    "correct-horse-FAKE-fixture",
]

JSON_REPORTS = {
    "bandit": "bandit-results/bandit.json",
    "semgrep": "semgrep-results/semgrep.json",
    "checkov": "checkov-results/checkov.json",
    "trivy": "trivy-config/trivy-config.json",
    "detect-secrets": "detect-secrets/.secrets.baseline",
    "safety": "safety-results/safety.json",
}


@pytest.fixture(scope="module")
def result():
    return collect([ARTIFACTS])


@pytest.fixture(scope="module")
def findings(result):
    return result.findings


def raw(rel: str):
    return json.loads((ARTIFACTS / rel).read_text(encoding="utf-8"))


def source(rel: str) -> str:
    return f"{ARTIFACTS}/{rel}"


def of(findings, tool):
    return [f for f in findings if f.tool == tool]


def at(findings, tool, rule_id, path, line):
    [f] = [
        f for f in of(findings, tool) if (f.rule_id, f.location.path, f.location.start_line) == (rule_id, path, line)
    ]
    return f


def test_every_report_is_recognised_and_the_readme_skipped(result):
    formats = {r.path.removeprefix(f"{ARTIFACTS}/"): r.format for r in result.reports}
    assert formats == {
        "bandit-results/bandit.json": "bandit",
        "bandit-results/bandit.sarif": "sarif",
        "checkov-results/checkov.json": "checkov-json",
        "checkov-results/results_sarif.sarif": "sarif",
        "detect-secrets/.secrets.baseline": "detect-secrets",
        "safety-results/safety.json": "safety",
        "semgrep-results/semgrep.json": "semgrep-json",
        "trivy-config/trivy-config.json": "trivy-json",
        "trivy-config/trivy-config.sarif": "sarif",
    }
    assert [(p.path, p.level) for p in result.problems] == [(source("semgrep-results/README.md"), "skipped")]


def test_counts_per_tool_from_the_json_reports(findings):
    counts = Counter(f.tool for f in findings if f.source == source(JSON_REPORTS[f.tool]))
    assert counts == {"checkov": 81, "trivy": 39, "bandit": 47, "safety": 28, "semgrep": 24, "detect-secrets": 16}
    assert 100 <= len(findings) <= 300


def test_bandit_matches_the_raw_report(findings):
    report = raw("bandit-results/bandit.json")
    expected = {(r["test_id"], r["filename"].removeprefix("./"), r["line_number"]) for r in report["results"]}
    parsed = {(f.rule_id, f.location.path, f.location.start_line) for f in of(findings, "bandit")}
    assert parsed == expected and len(expected) == 47
    # Two `# nosec` lines are honoured: bandit counts them as skipped and reports nothing there.
    assert report["metrics"]["_totals"]["skipped_tests"] == 2
    assert not {("B311", "app/sync.py", 40), ("B105", "tests/fixtures.py", 4)} & parsed

    shell = at(findings, "bandit", "B602", "app/web.py", 39)
    assert (shell.cwe, shell.severity.value, shell.raw_severity) == ([78], "high", "HIGH")
    assert at(findings, "bandit", "B324", "app/web.py", 69).cwe == [327]
    assert at(findings, "bandit", "B501", "app/web.py", 77).cwe == [295]
    assert at(findings, "bandit", "B506", "app/web.py", 50).cwe == [20]
    assert at(findings, "bandit", "B105", "app/settings.py", 4).cwe == [259]
    assert at(findings, "bandit", "B201", "app/web.py", 89).severity.value == "high"


def test_bandit_json_and_sarif_of_one_scan_are_one_set(findings):
    sarif = raw("bandit-results/bandit.sarif")
    assert len(sarif["runs"][0]["results"]) == 47
    bandit = of(findings, "bandit")
    assert len(bandit) == 47
    assert all(f.source == source("bandit-results/bandit.json") for f in bandit)
    assert all(f.extra["also_in"] == [source("bandit-results/bandit.sarif")] for f in bandit)


def test_semgrep_local_rules(findings):
    report = raw("semgrep-results/semgrep.json")
    assert report["errors"] == []
    expected = {(r["check_id"], r["path"], r["start"]["line"]) for r in report["results"]}
    semgrep = of(findings, "semgrep")
    assert {(f.rule_id, f.location.path, f.location.start_line) for f in semgrep} == expected
    assert len(semgrep) == 24

    sqli = at(findings, "semgrep", "python-sqli-string-format", "app/web.py", 25)
    assert (sqli.cwe, sqli.severity.value) == ([89], "high")
    yaml_load = at(findings, "semgrep", "python-yaml-unsafe-load", "app/web.py", 50)
    assert yaml_load.cwe == [502]
    assert "yaml.safe_load(request.data)" in yaml_load.remediation
    injection = at(findings, "semgrep", "github-actions-script-injection", ".github/workflows/pr.yml", 16)
    assert injection.cwe == [78]
    assert at(findings, "semgrep", "dockerfile-latest-tag", "Dockerfile", 2).cwe == [1357]


def checkov_keys(checks):
    return Counter((c["check_id"], c["file_path"].lstrip("/"), c["file_line_range"][0] or None) for c in checks)


def test_checkov_failed_and_skipped_checks(findings):
    report = raw("checkov-results/checkov.json")
    failed = [c for r in report for c in r["results"]["failed_checks"]]
    skipped = [c for r in report for c in r["results"]["skipped_checks"]]
    passed = [c for r in report for c in r["results"]["passed_checks"]]
    assert (len(failed), len(skipped)) == (79, 2) and len(passed) > len(failed)
    checkov = of(findings, "checkov")
    assert Counter((f.rule_id, f.location.path, f.location.start_line) for f in checkov) == checkov_keys(
        failed + skipped
    )
    assert sum(not f.suppressed for f in checkov) == 79
    # Passed checks are not findings: no finding sits where only a passed check does.
    only_passed = checkov_keys(passed).keys() - checkov_keys(failed + skipped).keys()
    assert only_passed and not only_passed & {(f.rule_id, f.location.path, f.location.start_line) for f in checkov}

    # `#checkov:skip=ID:reason` comments: kept, flagged suppressed, with the reason.
    suppressed = {(f.rule_id, f.location.start_line): f for f in checkov if f.suppressed}
    assert {k: f.extra["suppress_comment"] for k, f in suppressed.items()} == {
        (c["check_id"], c["file_line_range"][0]): c["check_result"]["suppress_comment"] for c in skipped
    }
    assert suppressed[("CKV_AWS_20", 71)].extra["suppress_comment"] == "public website bucket by design"
    assert suppressed[("CKV_AWS_144", 33)].location.path == "terraform/storage.tf"

    public_acl = at(findings, "checkov", "CKV_AWS_20", "terraform/main.tf", 7)
    assert public_acl.location.end_line == 9
    assert public_acl.category.value == "iac"
    assert at(findings, "checkov", "CKV_DOCKER_7", "Dockerfile", 2).title.startswith(
        "Ensure the base image uses a non latest"
    )
    assert at(findings, "checkov", "CKV_GHA_2", ".github/workflows/pr.yml", 15).location.end_line == 18
    assert at(findings, "checkov", "CKV_SECRET_2", "Dockerfile", 8).title == "AWS Access Key"


def test_trivy_config_misconfigurations(findings):
    report = raw("trivy-config/trivy-config.json")
    failed = [m for r in report["Results"] for m in r.get("Misconfigurations", []) if m["Status"] == "FAIL"]
    assert len(failed) == 39
    trivy = [f for f in of(findings, "trivy") if f.source == source("trivy-config/trivy-config.json")]
    assert Counter(f.rule_id for f in trivy) == Counter(m["ID"] for m in failed)

    secret_env = at(findings, "trivy", "DS-0031", "Dockerfile", 8)
    assert (secret_env.severity.value, secret_env.raw_severity) == ("critical", "CRITICAL")
    open_ingress = sorted(f.location.start_line for f in trivy if f.rule_id == "AWS-0107")
    assert open_ingress == [32, 39]
    assert at(findings, "trivy", "AWS-0180", "terraform/main.tf", 57).title == "RDS Publicly Accessible"
    # `#trivy:ignore:AVD-AWS-0089` and `AVD-AWS-0092` on the website bucket: trivy drops both.
    site = {
        m["ID"]
        for r in report["Results"]
        for m in r.get("Misconfigurations", [])
        if m["CauseMetadata"].get("Resource") == "aws_s3_bucket.site"
    }
    assert site and not {"AWS-0089", "AWS-0092"} & site


def test_detect_secrets_keeps_only_hashes(findings):
    baseline = raw("detect-secrets/.secrets.baseline")
    expected = {(s["type"], path, s["line_number"]) for path, items in baseline["results"].items() for s in items}
    secrets = of(findings, "detect-secrets")
    assert {(f.rule_id, f.location.path, f.location.start_line) for f in secrets} == expected
    assert len(secrets) == 16
    token = at(findings, "detect-secrets", "GitHub Token", "app/settings.py", 8)
    assert token.category.value == "secret"
    assert token.extra["hashed_secret"] == next(
        s["hashed_secret"] for s in baseline["results"]["app/settings.py"] if s["type"] == "GitHub Token"
    )


def test_safety_dependencies_with_fixed_versions(findings):
    safety = of(findings, "safety")
    assert Counter(f.package.name for f in safety) == {
        "django": 17,
        "urllib3": 3,
        "pyyaml": 2,
        "flask": 2,
        "requests": 1,
        "jinja2": 1,
        "werkzeug": 1,
        "pyjwt": 1,
    }
    pyyaml = sorted(f.package.fixed_versions[0] for f in safety if f.package.name == "pyyaml")
    assert pyyaml == ["5.3.1", "5.4"]
    urllib3 = {f.rule_id: f.package.fixed_versions for f in safety if f.package.name == "urllib3"}
    assert urllib3 == {"pyup.io-37071": ["1.24.2"], "pyup.io-38834": ["1.25.9"], "pyup.io-37055": []}
    # Installed versions are the pins of the app's requirements.txt.
    pins = dict(line.split("==") for line in (APP / "requirements.txt").read_text().splitlines() if "==" in line)
    assert {f.package.name: f.package.version for f in safety} == {k.lower(): v for k, v in pins.items()}
    # Only the two advisories whose range ends inclusively (`<=`) name no fix.
    inclusive = [row for row in raw("safety-results/safety.json") if "<=" in row[1]]
    assert [(r[0], r[1]) for r in inclusive] == [("requests", "<=2.19.1"), ("urllib3", "<=1.24.1")]
    assert sum(1 for f in safety if f.package.fixed_versions) == 28 - 2


def test_checkov_and_trivy_json_and_sarif_of_one_scan_are_one_set(findings):
    # Whole-file checks have no line in the JSON reports and line 1 in the SARIF; dedupe treats
    # them as the same finding, so every SARIF result merges into its JSON twin.
    checkov_sarif = raw("checkov-results/results_sarif.sarif")["runs"][0]["results"]
    assert len(checkov_sarif) == 81 == len(of(findings, "checkov"))
    assert len(raw("trivy-config/trivy-config.sarif")["runs"][0]["results"]) == 39 == len(of(findings, "trivy"))
    # Checkov's SARIF lists the skipped checks as suppressed results; its JSON as skipped_checks.
    sarif_suppressed = {
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["suppressions"][0]["justification"],
        )
        for r in checkov_sarif
        if r.get("suppressions")
    }
    assert sarif_suppressed == {
        (f.rule_id, f.location.start_line, f.extra["suppress_comment"]) for f in of(findings, "checkov") if f.suppressed
    }
    for tool, json_report in (("checkov", "checkov-results/checkov.json"), ("trivy", "trivy-config/trivy-config.json")):
        assert all(f.source == source(json_report) for f in of(findings, tool)), tool
        assert all(any(s.endswith(".sarif") for s in f.extra.get("also_in", [])) for f in of(findings, tool)), tool


def test_locations_are_inside_the_app(findings):
    for f in findings:
        if f.package:
            assert f.location is None
            continue
        p = PurePosixPath(f.location.path)
        assert not p.is_absolute() and ".." not in p.parts, f.short()
        real = APP / Path(*p.parts)
        assert real.is_file(), f.short()
        if f.location.start_line:
            assert f.location.start_line <= len(real.read_text().splitlines()), f.short()


def test_no_fake_secret_survives_parsing(findings):
    blob = "\n".join(f.model_dump_json() for f in findings)
    raw_reports = "".join((ARTIFACTS / rel).read_text() for rel in JSON_REPORTS.values())
    assert any(s in raw_reports for s in FAKE_SECRETS)  # the scanners did report them
    for secret in FAKE_SECRETS:
        assert secret not in blob, secret
