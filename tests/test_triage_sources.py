"""Verdict labels from the real scanners' own suppression records and from markers in the code.

One small tree with suppressions the way a team writes them, scanned once by the real bandit
(`--ignore-nosec`: the findings a `# nosec` would hide), semgrep (SARIF, a local rules file),
checkov (JSON, `#checkov:skip=ID:reason`) and trivy (`--show-suppressed` with a
`.trivyignore.yaml` carrying statements); the four run at once.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from secai.config import load_settings
from secai.fix.source import SourceTree
from secai.ingest.collect import collect
from secai.scanners.registry import get_scanner
from secai.triage.build import build_labels
from secai.triage.labels import Label, read_labels, write_labels
from secai.triage.resolve import resolve
from secai.triage.scanners import scanner_labels
from secai.triage.verdicts import clean_reason, from_alert, from_justification

APP = """import hashlib
import random

PASSWORD = "hunter2secret"  # nosec B105 - test fixture, not a credential


def key(data):
    return hashlib.md5(data).hexdigest()  # nosemgrep: weak-md5 -- cache key, not security


def jitter():
    return random.random()


def run(cmd):
    # the input is our own constant
    return eval(cmd)  # nosec B307
"""
RULES = """rules:
  - id: weak-md5
    pattern: hashlib.md5(...)
    message: MD5 is a weak hash
    languages: [python]
    severity: WARNING
"""
TERRAFORM = """resource "aws_s3_bucket" "site" {
  #checkov:skip=CKV_AWS_18:access logs not needed for a static site
  bucket = "site"
  acl    = "public-read"
}

resource "aws_security_group_rule" "ssh" {
  type              = "ingress"
  description       = "ssh"
  from_port         = 22
  to_port           = 22
  protocol          = "tcp"
  cidr_blocks       = ["0.0.0.0/0"]
  security_group_id = "sg-123"
}
"""
DOCKERFILE = "FROM python:3.11\nRUN pip install flask\n"
TRIVYIGNORE = """misconfigurations:
  - id: DS-0002
    statement: false positive - the image runs as root only in the test stage
  - id: AWS-0107
    paths:
      - "infra/main.tf"
    statement: accepted risk, bastion host
"""


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("suppressed")
    src = root / "src"
    for rel, text in {
        "app/conf.py": APP,
        "infra/main.tf": TERRAFORM,
        "Dockerfile": DOCKERFILE,
        ".trivyignore.yaml": TRIVYIGNORE,
    }.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    (root / "rules.yml").write_text(RULES)
    out = root / "reports"
    out.mkdir()
    settings = load_settings(environ={})
    exe = {n: str(get_scanner(n, settings).executable()) for n in ("bandit", "semgrep", "checkov", "trivy")}
    exe["detect-secrets"] = str(Path(exe["bandit"]).with_name("detect-secrets"))
    commands = [
        [exe["bandit"], "-q", "-r", "app", "--ignore-nosec", "-f", "json", "-o", str(out / "bandit.json")],
        [exe["semgrep"], "--metrics=off", "--disable-version-check", "-q", "--config", str(root / "rules.yml")]
        + ["--sarif", "-o", str(out / "semgrep.sarif"), "app"],
        [exe["checkov"], "-d", "infra", "--framework", "terraform", "--skip-download", "-o", "json"],
        [exe["trivy"], "fs", "--scanners", "misconfig", "--show-suppressed", "--skip-version-check", "-q"]
        + ["--cache-dir", str(root / "trivy-cache"), "--ignorefile", ".trivyignore.yaml"]
        + ["-f", "json", "-o", str(out / "trivy.json"), "."],
        [exe["detect-secrets"], "scan", "--all-files", "app"],
    ]
    procs = [
        subprocess.Popen(c, cwd=src, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for c in commands
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    (out / "checkov.json").write_text(outputs[2])
    baseline = json.loads(outputs[4])
    for found in baseline["results"]["app/conf.py"]:
        found["is_secret"] = False  # what `detect-secrets audit` writes when the team says "not a secret"
    (out / "detect-secrets.json").write_text(json.dumps(baseline))
    res = collect([out], settings.limits)
    assert not res.errors, res.errors
    return src, res.findings


def tail(rule_id: str) -> str:
    """A rule id without semgrep's prefix (the rules file's folder, dotted)."""
    return rule_id.rsplit(".", 1)[-1]


def by_rule(labels: list[Label]) -> dict[str, Label]:
    return {tail(lb.rule_id): lb for lb in labels}


def test_reports_keep_each_suppression_with_its_words(scanned):
    _, findings = scanned
    sup = {(f.tool, tail(f.rule_id)): f for f in findings if f.suppressed}
    # semgrep's SARIF marks the nosemgrep result inSource (no words: those are in the code)
    assert sup[("semgrep", "weak-md5")].extra["suppression"] == {"kind": "inSource"}
    assert sup[("checkov", "CKV_AWS_18")].extra["suppress_comment"] == "access logs not needed for a static site"
    assert sup[("trivy", "DS-0002")].extra["suppression"] == {
        "kind": "external",
        "status": "ignored",
        "justification": "false positive - the image runs as root only in the test stage",
        "source": ".trivyignore.yaml",
    }
    assert sup[("trivy", "AWS-0107")].location.start_line == 13
    # bandit never marks a finding suppressed: --ignore-nosec reports them as any other
    assert not any(f.suppressed for f in findings if f.tool == "bandit")


def test_every_source_labels_its_findings(scanned):
    src, findings = scanned
    res = build_labels(findings, tree=SourceTree(src, 1 << 20))
    got = by_rule(res.labels)
    assert set(got) == {"B105", "B307", "weak-md5", "CKV_AWS_18", "DS-0002", "AWS-0107", "Secret Keyword"}, got
    assert (got["Secret Keyword"].verdict, got["Secret Keyword"].source) == ("false positive", "detect-secrets-audit")
    assert (got["B105"].verdict, got["B105"].reason, got["B105"].source) == (
        "false positive",
        "test fixture, not a credential",
        "inline-marker",
    )
    assert got["B105"].origin == "app/conf.py:4"
    # the justification on the comment line above a bare marker
    assert (got["B307"].verdict, got["B307"].reason) == ("accepted risk", "the input is our own constant")
    # the SARIF suppression and the marker it comes from are one decision: the worded one, no contradiction
    assert (got["weak-md5"].verdict, got["weak-md5"].source) == ("false positive", "inline-marker")
    assert got["weak-md5"].reason == "cache key, not security" and not got["weak-md5"].overridden
    assert (got["CKV_AWS_18"].verdict, got["CKV_AWS_18"].source) == ("accepted risk", "checkov-skip")
    assert got["CKV_AWS_18"].reason == "access logs not needed for a static site"
    assert (got["DS-0002"].verdict, got["DS-0002"].source) == ("false positive", "trivy-ignored")
    assert got["DS-0002"].origin.endswith("trivy.json (.trivyignore.yaml)")
    assert (got["AWS-0107"].verdict, got["AWS-0107"].reason) == ("accepted risk", "accepted risk, bastion host")
    assert res.contradicted == 0
    fps = {f.fingerprint for f in findings}
    assert all(lb.fingerprint in fps for lb in res.labels)
    # an unsuppressed finding with no marker (B311 random, B324 md5 of bandit) has no label
    assert not {"B311", "B324"} & set(got)


def test_without_a_source_tree_the_snippet_is_the_window(scanned):
    _, findings = scanned
    got = by_rule(build_labels(findings, tree=None).labels)
    assert got["weak-md5"].reason == "cache key, not security"  # semgrep's SARIF snippet holds the line


def test_hand_written_sarif_statuses_and_justifications(tmp_path):
    def result(rule, line, suppressions):
        return {
            "ruleId": rule,
            "message": {"text": rule},
            "locations": [
                {"physicalLocation": {"artifactLocation": {"uri": "src/a.py"}, "region": {"startLine": line}}}
            ],
            "suppressions": suppressions,
        }

    sarif = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "CodeQL", "rules": []}},
                "results": [
                    result("py/a", 1, [{"kind": "external", "status": "accepted", "justification": "Used in tests"}]),
                    result("py/b", 2, [{"kind": "external", "justification": "won't fix: legacy endpoint"}]),
                    result("py/c", 3, [{"kind": "external", "status": "underReview", "justification": "looking"}]),
                    result("py/d", 4, [{"kind": "inSource", "status": "rejected"}]),
                    result("py/e", 5, [{"kind": "inSource", "justification": "token=ghp_" + "a" * 36}]),
                ],
            }
        ],
    }
    (tmp_path / "r.sarif").write_text(json.dumps(sarif))
    findings = collect([tmp_path / "r.sarif"], load_settings(environ={}).limits).findings
    got = by_rule(scanner_labels(findings))
    assert got["py/a"].verdict == "false positive" and got["py/a"].source == "sarif-suppression"
    assert got["py/b"].verdict == "accepted risk" and got["py/b"].reason == "won't fix: legacy endpoint"
    assert "py/c" not in got  # under review: nothing decided yet
    assert "py/d" not in got and not next(f for f in findings if f.rule_id == "py/d").suppressed
    assert "ghp_" not in got["py/e"].reason and "REDACTED" in got["py/e"].reason


def test_grype_ignore_rules(tmp_path):
    match = {
        "vulnerability": {"id": "CVE-2024-0001", "severity": "High"},
        "artifact": {"name": "libfoo", "version": "1.0", "type": "python"},
    }
    grype = {
        "matches": [],
        "ignoredMatches": [
            {
                **match,
                "appliedIgnoreRules": [{"vulnerability": "CVE-2024-0001", "reason": "not reachable from our code"}],
            },
            {
                "vulnerability": {"id": "CVE-2024-0002", "severity": "Low"},
                "artifact": {"name": "libbar", "version": "2.0", "type": "python"},
                "appliedIgnoreRules": [{"vulnerability": "CVE-2024-0002", "fix-state": "wont-fix"}],
            },
        ],
        "descriptor": {"name": "grype", "version": "0.80.0"},
    }
    (tmp_path / "grype.json").write_text(json.dumps(grype))
    findings = collect([tmp_path], load_settings(environ={}).limits).findings
    got = by_rule(scanner_labels(findings))
    assert (got["CVE-2024-0001"].verdict, got["CVE-2024-0001"].source) == ("false positive", "grype-ignored")
    assert got["CVE-2024-0001"].reason == "not reachable from our code"
    assert got["CVE-2024-0002"].verdict == "accepted risk"


def test_verdict_mapping_rule():
    assert from_justification("test fixture, not a credential") == "false positive"
    assert from_justification("False-positive: sanitized upstream") == "false positive"
    assert from_justification("cache key, not security") == "false positive"
    assert from_justification("public website bucket by design") == "accepted risk"
    assert from_justification("") == "accepted risk"
    assert from_justification("fixtures for contest") == "accepted risk"  # no whole-word hit
    assert from_alert("dismissed", "used in tests") == "false positive"
    assert from_alert("dismissed", "won't fix", "tracked in JIRA-1") == "accepted risk"
    assert from_alert("fixed", None) == "true positive"
    assert from_alert("open", None) is None
    assert clean_reason("line one\nline\ttwo\x00") == "line one line two"
    assert len(clean_reason("x" * 5000)) == 300


def test_contradicting_labels_latest_wins_and_is_recorded(tmp_path):
    base = dict(fingerprint="f1", tool="bandit", rule_id="B105", path="a.py", line=3)
    old = Label(
        **base, verdict="false positive", reason="test only", source="code-scanning", date="2025-01-05T10:00:00Z"
    )
    new = Label(**base, verdict="true positive", reason="Read it from the environment", source="history")
    new.date = "2025-03-01T09:00:00+01:00"
    same_day_fix = Label(**base, verdict="true positive", source="history", date="2025-03-01T08:00:00Z")
    resolved, contradicted = resolve([old, new, same_day_fix])
    assert contradicted == 1 and len(resolved) == 1
    win = resolved[0]
    assert (win.verdict, win.reason, win.date) == ("true positive", "Read it from the environment", new.date)
    assert [(lb.source, lb.verdict) for lb in win.overridden] == [("code-scanning", "false positive")]
    # ties on the date: the documented source priority (the ignore file over a mined commit)
    tie = [
        Label(**base, verdict="true positive", source="history", date="2025-03-01T08:00:00Z"),
        Label(**base, verdict="accepted risk", reason="ok", source="ignore-file", date="2025-03-01T08:00:00Z"),
    ]
    assert resolve(tie)[0][0].source == "ignore-file"
    # the record survives labels.jsonl
    write_labels(tmp_path, resolved)
    assert read_labels(tmp_path) == resolved


def test_labels_stage_and_command(scanned, tmp_path, capsys):
    from secai.cli import main
    from secai.pipeline import run_pipeline

    src, _ = scanned
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, environ={})
    reports = src.parent / "reports"
    res = run_pipeline(tmp_path / "run", settings, artifacts=[reports], stages=["parse", "labels"], source=src)
    stage = next(s for s in res.stages if s.stage == "labels")
    assert stage.status == "done" and stage.note.startswith("7 labels:"), stage
    assert res.labels["by_source"] == {
        "checkov-skip": 1,
        "detect-secrets-audit": 1,
        "inline-marker": 3,
        "trivy-ignored": 2,
    }
    again = run_pipeline(tmp_path / "run", settings, artifacts=[reports], stages=["parse", "labels"], source=src)
    assert [s.status for s in again.stages] == ["cached", "cached"]
    assert main(["labels", str(tmp_path / "run"), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["labels"] == 7 and out["by_verdict"] == {"accepted risk": 3, "false positive": 4}
    assert main(["labels", str(tmp_path)]) == 2
