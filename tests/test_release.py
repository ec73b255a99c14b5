"""A versioned action: one version in pyproject, the package, action.yml and the CHANGELOG; the
README's first screen shows the two-job workflow exactly as examples/workflows/ has it."""

from __future__ import annotations

import re
import tomllib

import yaml
from conftest import ROOT

import secai


def test_one_version_everywhere():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert secai.__version__ == version
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["description"].startswith(f"secai {version}. ")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.findall(r"^## (\d+\.\d+\.\d+)", changelog, re.M)[0] == version
    assert "vX.Y.Z" in (ROOT / "docs" / "release.md").read_text()


def test_the_readme_shows_the_two_job_workflow_verbatim():
    readme = (ROOT / "README.md").read_text()
    workflow = (ROOT / "examples" / "workflows" / "secai-privileged.yml").read_text()
    first = readme.index("```yaml\n")
    assert readme[first + len("```yaml\n") :].startswith(workflow + "```")
    assert first < 3000  # on the first screen, before anything else long
    jobs = yaml.safe_load(workflow)["jobs"]
    assert set(jobs) == {"collect", "process"}
    assert jobs["collect"]["runs-on"] == "ubuntu-latest" and jobs["process"]["runs-on"]["group"] == "secai"
    # the permissions table names every permission the two jobs have
    table = readme[readme.index("| job | runs on | permissions | for |") :].split("\n\n")[0]
    for job in jobs.values():
        for perm, level in job["permissions"].items():
            assert f"`{perm}: {level}`" in table


def test_the_readme_shows_the_code_scanning_upload():
    readme = (ROOT / "README.md").read_text()
    step = readme[readme.index("upload-sarif@") :][:400]
    assert "sarif_file: ${{ steps.secai.outputs.sarif-file }}" in step and "category: secai" in step
    assert "security-events: write" in readme[: readme.index("upload-sarif@")]
    outputs = yaml.safe_load((ROOT / "action.yml").read_text())["outputs"]
    assert outputs["sarif-file"]["value"] == "${{ steps.collect.outputs.sarif-file }}"
