"""The GitHub Actions files pass zizmor, the JSON schemas, actionlint and shellcheck — offline.

The linters come with the `dev` extra (shellcheck from `make system-deps`), so a missing one is a
failure, not a skip. Every linter runs with the network cut off by pointing the proxies at a
closed port, which proves it needs none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

BIN = Path(sys.executable).parent
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml")) + sorted(
    (ROOT / "examples" / "workflows").glob("*.yml")
)
SCRIPTS = sorted((ROOT / "runner").glob("*.sh"))
OFFLINE_ENV = {
    **{k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")},
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
}


def tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed (pip install -e '.[dev]'; shellcheck: make system-deps)")
    return str(path)


def lint(*cmd: str, cwd: Path = ROOT) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=OFFLINE_ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"


def test_there_is_something_to_lint():
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "secai-main.yml", "scan-untrusted.yml", "secai-privileged.yml"} <= names
    assert {"setup-macos.sh", "action-venv.sh", "action-process.sh"} <= {p.name for p in SCRIPTS}


def test_zizmor():
    lint(tool("zizmor"), "--offline", "--no-progress", "--no-config", str(ACTION), *map(str, WORKFLOWS))


def test_zizmor_auditor_finds_only_the_two_mac_jobs():
    """Issue 16: with the auditor persona and no config, the only findings are the self-hosted
    runner of the two privileged workflows' Mac jobs (the design; docs/security.md says why)."""
    import json

    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--no-config", "--persona=auditor", "--format", "json"]
        + [str(ACTION), *map(str, WORKFLOWS)],
        cwd=ROOT,
        env=OFFLINE_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    found = json.loads(proc.stdout)
    where = sorted(
        (f["ident"], Path(loc["symbolic"]["key"]["Local"]["verbatim_path"]).name)
        for f in found
        for loc in f["locations"]
        if loc["symbolic"]["kind"] == "Primary"
    )
    assert where == [("self-hosted-runner", "secai-main.yml"), ("self-hosted-runner", "secai-privileged.yml")]


def test_zizmor_catches_an_injection(tmp_path):
    """The linter really audits: a template injection in a copy of the action is reported."""
    bad = tmp_path / "action.yml"
    text = ACTION.read_text()
    assert 'rm -rf "$out"' in text
    bad.write_text(text.replace('rm -rf "$out"', 'rm -rf "$out"\n        echo "${{ inputs.paths }}"', 1))
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", str(bad)],
        cwd=tmp_path,
        env=OFFLINE_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0 and "template-injection" in proc.stdout + proc.stderr


def test_json_schema_action():
    lint(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION))


def test_json_schema_workflows():
    lint(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))


def test_actionlint_workflows():
    tool("shellcheck")  # actionlint runs it over every run: script when it is on PATH
    lint(tool("actionlint"), "-no-color", "-config-file", ".github/actionlint.yaml", *map(str, WORKFLOWS))


def test_actionlint_over_the_action_steps(tmp_path):
    """actionlint reads workflows, not action metadata; so the composite action's steps are
    linted as the steps of a reusable workflow whose inputs are the action's inputs."""
    spec = yaml.safe_load(ACTION.read_text())
    inputs = {
        k: {
            "type": "string",
            "required": False,
            "default": "" if "${{" in str(v.get("default", "")) else str(v.get("default", "")),
        }
        for k, v in spec["inputs"].items()
    }
    workflow = {
        "name": "action steps",
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": spec["runs"]["steps"]}},
    }
    wf_dir = tmp_path / ".github" / "workflows"
    wf_dir.mkdir(parents=True)
    (wf_dir / "action.yml").write_text(yaml.safe_dump(workflow, sort_keys=False))
    tool("shellcheck")
    lint(
        tool("actionlint"),
        "-no-color",
        "-config-file",
        str(ROOT / ".github" / "actionlint.yaml"),
        str(wf_dir / "action.yml"),
        cwd=tmp_path,
    )


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script):
    lint(tool("shellcheck"), "--shell=bash", str(script))
