"""runner/: the macOS setup script lints clean and refuses clearly on this (Linux) host; the
launchd template is a valid property list that never holds the token."""

from __future__ import annotations

import platform
import plistlib
import shutil
import subprocess

import pytest
from conftest import ROOT

RUNNER = ROOT / "runner"
SETUP = RUNNER / "setup-macos.sh"


def shellcheck() -> str:
    path = shutil.which("shellcheck")
    if not path:
        pytest.fail("shellcheck is not installed (make system-deps, or apt-get install shellcheck)")
    return path


@pytest.mark.parametrize("script", sorted(RUNNER.glob("*.sh")), ids=lambda p: p.name)
def test_shellcheck_clean(script):
    proc = subprocess.run([shellcheck(), str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.skipif(platform.system() == "Darwin", reason="checks the refusal on a non-macOS host")
def test_refuses_on_a_non_macos_host(tmp_path):
    proc = subprocess.run(
        ["bash", str(SETUP), "--repo", "acme/webapp"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"setup-macos.sh: refusing to run: this sets up a macOS (Apple Silicon) runner, "
        f"and this host is {platform.system()}"
    ]
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == []  # touched nothing


def test_unknown_option_is_one_line(tmp_path):
    proc = subprocess.run(
        ["bash", str(SETUP), "--frobnicate"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == "setup-macos.sh: unknown option --frobnicate (see --help)"


def test_help_lists_the_options():
    proc = subprocess.run(["bash", str(SETUP), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for opt in ("--repo", "--venv", "--python", "--launchd", "--skip-model", "--runner-venv", "--models"):
        assert opt in proc.stdout


def test_script_registers_the_runner_in_a_restricted_group_without_default_labels():
    """Issue 16.1: a runner group limited to the privileged workflow on the default branch, no
    default labels (no `runs-on: self-hosted` job lands on it), ephemeral, approval for outside
    collaborators; packages hash-pinned; the watch agent never shares a user with a runner."""
    text = SETUP.read_text()
    assert "./config.sh --url https://github.com/$org --token <TOKEN> --runnergroup secai" in text
    assert "--no-default-labels --labels secai --ephemeral --unattended" in text
    assert "secai-privileged.yml@refs/heads/main" in text and "Require approval for all outside collaborators" in text
    assert "--labels self-hosted" not in text and '"${src}[ml]"' not in text
    assert '--require-hashes --no-deps \\\n    -r "$src/requirements/runner.txt"' in text
    assert "refusing --launchd: an Actions runner runs as" in text


def test_launchd_template_is_a_valid_plist_without_secrets():
    raw = (RUNNER / "com.secai.watch.plist").read_bytes()
    filled = raw
    for key, value in {
        "SECAI_RUNNER": "/Users/ci/.secai/venv/bin/secai-runner",
        "REPO": "acme/webapp",
        "LOG_DIR": "/Users/ci/Library/Logs/secai",
        "HOME": "/Users/ci",
    }.items():
        assert f"@{key}@".encode() in raw
        filled = filled.replace(f"@{key}@".encode(), value.encode())
    plist = plistlib.loads(filled)
    assert plist["Label"] == "com.secai.watch"
    args = plist["ProgramArguments"]
    assert args[:2] == ["/bin/sh", "-c"] and args[3:] == ["/Users/ci/.secai/venv/bin/secai-runner", "acme/webapp"]
    assert 'exec "$0" watch --repo "$1"' in args[2]
    assert "security find-generic-password -s secai-github -w" in args[2]
    assert "GITHUB_TOKEN" not in plist.get("EnvironmentVariables", {})
    # The wrapper is valid sh.
    subprocess.run(["sh", "-n", "-c", args[2]], check=True)
