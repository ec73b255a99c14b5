"""History mining with each of the four scanners on one small repository (one process each)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitrepo import Repo

from secai.config import load_settings
from secai.history.mine import mine, select_scanners

RULES = Path(__file__).resolve().parent.parent / "examples" / "semgrep-rules.yml"
TF = 'resource "aws_sqs_queue" "jobs" {\n  name                       = "jobs"\n  visibility_timeout_seconds = 300\n}\n'
DOCKERFILE = 'FROM python:latest\nCOPY . /app\nCMD ["python", "/app/app.py"]\n'
APP = "import yaml\n\n\ndef load(text):\n    return yaml.load(text)\n"


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("iac-history")
    settings = load_settings(
        overrides={"home": str(tmp / "home"), "scanners": {"semgrep": {"config": str(RULES)}}}, environ={}
    )
    scanners, notes = select_scanners(settings)
    if len(scanners) < 4:
        pytest.skip("; ".join(notes))
    repo = Repo(tmp / "repo")
    repo.commit("add the service", {"main.tf": TF, "Dockerfile": DOCKERFILE, "app.py": APP})
    fix = repo.commit(
        "harden the service",
        {
            "main.tf": TF.replace("= 300\n", "= 300\n  sqs_managed_sse_enabled    = true\n"),
            "Dockerfile": DOCKERFILE.replace("python:latest", "python:3.12-slim"),
            "app.py": APP.replace("yaml.load(", "yaml.safe_load("),
        },
    )
    return settings, scanners, repo, fix, mine(repo.path, settings, scanners)


def test_each_scanner_finds_its_fix_in_one_process(mined):
    settings, scanners, repo, fix, res = mined
    assert res.scanner_processes == 4
    fixed = sorted((e.tool, e.rule_id, e.path) for e in res.events if e.kind == "fixed")
    assert fixed == [
        ("bandit", "B506", "app.py"),
        ("checkov", "CKV_AWS_27", "main.tf"),
        ("checkov", "CKV_DOCKER_7", "Dockerfile"),
        ("semgrep", "dockerfile-latest-tag", "Dockerfile"),
        ("semgrep", "python-yaml-unsafe-load", "app.py"),
        ("trivy", "AWS-0096", "main.tf"),
        ("trivy", "DS-0001", "Dockerfile"),
    ]
    assert all(e.commit == fix for e in res.events if e.kind == "fixed")
    tf = next(e for e in res.events if e.kind == "fixed" and e.rule_id == "CKV_AWS_27")
    assert tf.edit.replace.endswith("sqs_managed_sse_enabled    = true") and tf.line == 1 and tf.end_line == 4
    # Whole-file Dockerfile checks that the fix did not touch stay (no HEALTHCHECK, no USER).
    assert not any(e.kind == "fixed" and e.rule_id in ("DS-0002", "DS-0026", "CKV_DOCKER_2") for e in res.events)
    warm = mine(repo.path, settings, scanners)
    assert warm.scanner_processes == 0 and [e.id for e in warm.events] == [e.id for e in res.events]
