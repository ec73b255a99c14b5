"""The one trust rule (`secai.run.meta.may_train`) over every event x fork x branch x pull request
case, and the places that used to decide on their own: fetch, dataset, `run --bundle`, the
action's process step."""

from __future__ import annotations

import itertools
import json
import sys

import pytest
from ghserver import github_fixture, make_zip

from secai.config import load_settings
from secai.dataset.build import build_dataset
from secai.github.fetch import fetch_runs
from secai.ingest.bundle import BundleMeta
from secai.run.files import read_run_meta
from secai.run.meta import RunMeta, is_fork, may_train

EVENTS = [
    "push",
    "schedule",
    "workflow_dispatch",
    "local",
    "pull_request",
    "pull_request_target",
    "workflow_run",
    "issue_comment",
    "repository_dispatch",
    "merge_group",
    "release",
    None,
]
FORKS = {"same repository": "acme/app", "fork": "mallory/app", "deleted fork": None}
BRANCHES = ["main", "master", "feature", "MAIN", None]
PRS = [None, 12]


@pytest.mark.parametrize(
    "event, fork, branch, pr", list(itertools.product(EVENTS, FORKS, BRANCHES, PRS)), ids=lambda v: str(v)
)
def test_the_trust_rule(event, fork, branch, pr):
    """Trusted exactly when: push, schedule or workflow_dispatch on a listed branch (or the
    operator's local files, on a listed branch or none), of the repository itself, no pull request."""
    settings = load_settings()
    meta = RunMeta(repo="acme/app", event=event, branch=branch, pr=pr, is_fork=is_fork("acme/app", FORKS[fork]))
    listed = branch in ("main", "master") or (event == "local" and branch is None)
    expected = event in ("push", "schedule", "workflow_dispatch", "local") and fork == "same repository"
    expected = expected and pr is None and listed
    trusted, why = may_train(meta, settings)
    assert trusted is expected, why
    assert why


def test_a_deleted_fork_is_a_fork_and_names_are_compared_without_case():
    assert is_fork("acme/app", None) and is_fork("acme/app", "mallory/app")
    assert not is_fork("acme/app", "Acme/App")


@pytest.fixture
def gh(monkeypatch):
    server, settings, client = github_fixture(monkeypatch)
    server.state.add_repo("acme/app")
    yield server, settings, client
    client.close()
    server.__exit__(None, None, None)


REPORT = json.dumps({"results": [{"filename": "a.py", "test_id": "B101", "issue_text": "assert"}]}).encode()


@pytest.mark.parametrize(
    "kw",
    [
        {"event": "pull_request", "branch": "main", "deleted_fork": True},
        {"event": "push", "branch": "main", "deleted_fork": True},
        {"event": "workflow_run", "branch": "main"},
        {"event": "issue_comment", "branch": "main"},
        {"event": "repository_dispatch", "branch": "main"},
        {"event": "merge_group", "branch": "main"},
    ],
    ids=lambda kw: "-".join(str(v) for v in kw.values()),
)
def test_fetched_runs_that_used_to_count_as_trusted_do_not_train(gh, tmp_path, kw):
    """fetch took a run from a deleted fork for one of the base repository, and any non-PR event
    on main for a trusted one."""
    server, settings, client = gh
    run = server.state.add_run("acme/app", **kw)
    server.state.add_artifact("acme/app", run, "bandit", make_zip({"bandit.json": REPORT}))
    [fetched] = fetch_runs("acme/app", settings, client=client, out=tmp_path / "run").runs
    meta = read_run_meta(fetched.run_dir)
    assert meta.is_fork is kw.get("deleted_fork", False)
    assert may_train(meta, settings)[0] is False


def test_a_push_to_main_of_the_repository_itself_trains(gh, tmp_path):
    server, settings, client = gh
    run = server.state.add_run("acme/app", event="push", branch="main")
    server.state.add_artifact("acme/app", run, "bandit", make_zip({"bandit.json": REPORT}))
    [fetched] = fetch_runs("acme/app", settings, client=client, out=tmp_path / "run").runs
    assert may_train(read_run_meta(fetched.run_dir), settings)[0] is True


def _fix_examples(n: int):
    """Fix examples as the dataset stage makes them (a verified requests bump per manifest)."""
    from secai.dataset.fixes import examples_from_fixes
    from secai.findings import Category, Finding, Location, Severity
    from secai.fix.edit import LineEdit

    fixed = []
    for i in range(n):
        f = Finding(
            tool="trivy",
            rule_id=f"CVE-2024-{1000 + i}",
            title="t",
            severity=Severity.high,
            category=Category.dependency,
            location=Location(path=f"svc{i}/requirements.txt", start_line=1),
        )
        f.fingerprint = f"fp{i}"
        edit = LineEdit(start=1, end=1, old=["requests==2.19.1"], new=["requests==2.31.0"])
        fixed.append((f, "requests==2.19.1\nflask==2.0.0\n", edit, "dependency", "bump requests"))
    examples, _ = examples_from_fixes(fixed, load_settings())
    return examples


def test_dataset_ignores_a_pull_request_head_branch_named_main(tmp_path):
    settings = load_settings()
    examples = _fix_examples(10)
    assert build_dataset(examples, tmp_path / "ok", settings, run_meta={"branch": "main", "event": "push"}).counts[
        "train"
    ] == len(examples)
    for meta in (
        {"branch": "main", "pr": 7, "event": "pull_request"},
        {"branch": "main", "event": "workflow_run"},
        RunMeta(branch="main", event="push", is_fork=True),
    ):
        res = build_dataset(examples, tmp_path / "d", settings, run_meta=meta)
        assert not res.trusted and res.counts["train"] == 0, res.decision


def test_the_process_step_asks_the_one_rule(tmp_path):
    """action-process.sh: a bundle from a workflow_run on main is untrusted (no training, no
    publishing), as is one of a pull request whose head branch is main."""
    import subprocess

    from conftest import ROOT

    from secai.ingest.bundle import write_bundle

    script = (ROOT / "runner" / "action-process.sh").read_text()
    probe = script[script.index('info="$(') : script.index("IFS=")]
    for meta, kind in [
        (BundleMeta(repo="acme/app", branch="main", event="push"), "trusted"),
        (BundleMeta(repo="acme/app", branch="main", event="workflow_run"), "untrusted"),
        (BundleMeta(repo="acme/app", branch="main", event="pull_request", pr=3), "untrusted"),
        (BundleMeta(repo="acme/app", branch="main", event="push", is_fork=True), "untrusted"),
    ]:
        bundle = tmp_path / kind / (meta.event or "x")
        write_bundle(bundle, meta, [], {})
        proc = subprocess.run(
            ["bash", "-c", f'set -euo pipefail\n{probe}\necho "$info"', "x"],
            env={"PATH": "/usr/bin:/bin", "SECAI_PY": sys.executable, "bundle": str(bundle), **_pythonpath()},
            capture_output=True,
            text=True,
        )
        assert proc.stdout.strip().endswith("|" + kind), proc.stderr


def _pythonpath() -> dict[str, str]:
    import os

    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
