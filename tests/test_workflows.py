"""The example workflows keep fork pull requests away from the self-hosted Mac (issue 16.1, 16.9,
16 Low): parsed as YAML, every property the design relies on is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT

WORKFLOWS = sorted((ROOT / "examples" / "workflows").glob("*.yml")) + sorted(
    (ROOT / ".github" / "workflows").glob("*.yml")
)
PR_TRIGGERS = {"pull_request", "pull_request_target"}


def load(path: Path) -> dict:
    wf = yaml.safe_load(path.read_text())
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the key `on` as True
    return wf


def triggers(wf: dict) -> dict:
    on = wf["on"]
    return {on: None} if isinstance(on, str) else {k: v for k, v in on.items()}


def on_the_mac(job: dict) -> bool:
    runs_on = job.get("runs-on")
    labels = runs_on if isinstance(runs_on, list) else [runs_on]
    if isinstance(runs_on, dict):
        labels = [runs_on.get("group"), *runs_on.get("labels", [])]
    return any(label in ("self-hosted", "secai") for label in labels) or isinstance(runs_on, dict)


def mac_jobs() -> list[tuple[Path, dict, str, dict]]:
    return [
        (p, wf, name, job) for p in WORKFLOWS for wf in [load(p)] for name, job in wf["jobs"].items() if on_the_mac(job)
    ]


def test_the_examples_are_the_three_workflows():
    names = {p.name for p in WORKFLOWS}
    assert {"scan-untrusted.yml", "secai-privileged.yml", "secai-main.yml"} <= names
    assert len(mac_jobs()) == 2


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_pull_request_workflow_has_a_self_hosted_job(path):
    wf = load(path)
    if PR_TRIGGERS & set(triggers(wf)):
        assert not [name for name, job in wf["jobs"].items() if on_the_mac(job)]


def test_mac_jobs_run_only_from_workflow_run_or_pushes_to_the_default_branch():
    for path, wf, name, job in mac_jobs():
        on = triggers(wf)
        assert set(on) <= {"workflow_run", "push"}, path.name
        if "push" in on:
            assert on["push"] == {"branches": ["main"]}, path.name
        runs_on = job["runs-on"]
        assert runs_on == {"group": "secai", "labels": ["secai"]}, f"{path.name}: {name}"
        steps = job["steps"]
        assert all(str(s.get("uses", "")).startswith("secai/secai@") for s in steps), f"{path.name}: {name}"
        assert not any("run" in s for s in steps)  # nothing but the action: no checkout, no scripts
        assert job.get("timeout-minutes")


def test_pull_request_data_on_the_mac_never_trains_and_gets_no_secrets():
    [(path, wf, name, job)] = [m for m in mac_jobs() if "workflow_run" in triggers(m[1])]
    [step] = job["steps"]
    assert step["with"]["train"] == "false" and "hf-token" not in step["with"]
    assert "secrets." not in yaml.safe_dump(wf) and "environment" not in job


def test_hf_token_only_in_an_environment_on_the_push_only_job():
    uses = []
    for path in WORKFLOWS:
        wf = load(path)
        for name, job in wf["jobs"].items():
            if "secrets." in yaml.safe_dump(job):
                uses.append((path.name, name, job.get("environment"), set(triggers(wf))))
    assert uses == [("secai-main.yml", "process", "secai-publish", {"push"})]


def test_the_privileged_workflow_downloads_untrusted_artifacts_by_name_into_their_own_folders():
    wf = load(ROOT / "examples" / "workflows" / "secai-privileged.yml")
    downloads = [
        s["with"]
        for job in wf["jobs"].values()
        for s in job["steps"]
        if str(s.get("uses", "")).startswith("actions/download-artifact@")
    ]
    assert [d["name"] for d in downloads] == ["scan-results", "pr-number", "pr-source"]
    assert all("pattern" not in d and d["path"].startswith("${{ runner.temp }}/untrusted/") for d in downloads)
    assert len({d["path"] for d in downloads}) == len(downloads)
    assert all(d["run-id"] == "${{ github.event.workflow_run.id }}" for d in downloads)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_limits_concurrency_and_starts_from_no_permissions(path):
    wf = load(path)
    assert wf["permissions"] == {} and wf["concurrency"]["group"]
    for job in wf["jobs"].values():
        assert job.get("name") and isinstance(job.get("permissions"), dict)


def test_every_test_the_threat_model_names_exists():
    """docs/security.md's threat model names the test that proves each row: they all exist."""
    import re

    text = (ROOT / "docs" / "security.md").read_text()
    table = text[text.index("## Threat model") :]
    named = re.findall(r"`(test_\w+\.py)(?:::(test_\w+))?`", table)
    assert len(named) >= 15
    for module, function in named:
        source = (ROOT / "tests" / module).read_text()
        assert not function or f"def {function}(" in source, f"{module}::{function}"
