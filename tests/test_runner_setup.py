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
    assert "./config.sh --url $github_url/$org --token <TOKEN> --runnergroup secai" in text
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


# -- --check, finding Python, the just-in-time runner loop (issue 17.7) -----------------------------


def fake_mac(tmp_path, *, pythons: dict[str, str], uv: str | None = None):
    """A PATH of a Mac with the given Python interpreters (name -> real path, or "old" for a
    Python 3.9 that secai refuses), `uname` saying Darwin/arm64, and the few tools the script uses."""
    import os
    import sys

    bin_ = tmp_path / "bin"
    bin_.mkdir(parents=True)
    (bin_ / "uname").write_text('#!/bin/sh\ncase "$1" in -m) echo arm64 ;; *) echo Darwin ;; esac\n')
    for name, target in pythons.items():
        if target == "old":
            (bin_ / name).write_text('#!/bin/sh\n[ "$1" = -V ] && { echo "Python 3.9.6"; exit 0; }\nexit 1\n')
        else:
            os.symlink(target, bin_ / name)
    if uv:
        (bin_ / "uv").write_text(f'#!/bin/sh\n[ "$1 $2" = "python find" ] && {{ echo {uv}; exit 0; }}\nexit 1\n')
    for tool in ("sed", "dirname", "id", "cat", "env", "tr", "head", "mkdir"):
        found = shutil.which(tool)
        if found:
            os.symlink(found, bin_ / tool)
    for p in bin_.iterdir():
        if not p.is_symlink():
            p.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": str(bin_), "HOME": str(home)}, home, sys.executable


def run_setup(env, *args):
    return subprocess.run(["/bin/bash", str(SETUP), *args], capture_output=True, text=True, env=env, timeout=60)


def test_check_reports_what_is_missing_and_changes_nothing(tmp_path):
    import sys

    env, home, _ = fake_mac(tmp_path, pythons={"python3": "old", "python3.12": sys.executable})
    proc = run_setup(env, "--check")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "ok       macOS on Apple Silicon (arm64)"
    assert lines[1].startswith(f"ok       Python 3.11+: {tmp_path}/bin/python3.12 (Python 3.")  # not the 3.9
    assert f"missing  secai in {home}/.secai/venv (run " in proc.stdout
    assert "note     SECAI_VENV is not set" in proc.stdout and lines[-1] == "1 missing"
    assert list(home.iterdir()) == []  # nothing created
    # once secai is there, nothing is missing
    venv_bin = home / ".secai" / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "secai-runner").write_text("#!/bin/sh\necho secai 0.2.0\n")
    (venv_bin / "secai-runner").chmod(0o755)
    proc = run_setup(env, "--check")
    assert proc.returncode == 0 and "ok       secai in" in proc.stdout and "secai 0.2.0" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "0 missing"


def test_python_from_uv_when_the_path_has_only_an_old_one(tmp_path):
    import sys

    env, _home, _ = fake_mac(tmp_path, pythons={"python3": "old"}, uv=sys.executable)
    proc = run_setup(env, "--check")
    assert f"ok       Python 3.11+: {sys.executable} (Python 3." in proc.stdout
    env, _home, _ = fake_mac(tmp_path / "none", pythons={"python3": "old"})
    proc = run_setup(env, "--check")
    assert "missing  Python 3.11 or newer (install uv or Homebrew" in proc.stdout
    proc = run_setup(env, "--python", "python3", "--check")
    assert proc.returncode == 1 and "Python 3.9.6 is too old" in proc.stderr


def test_runner_loop_template_and_ghes_urls():
    plist = plistlib.loads((RUNNER / "com.secai.runner.plist").read_bytes())
    assert plist["Label"] == "com.secai.runner" and plist["KeepAlive"] is True
    args = plist["ProgramArguments"]
    assert args[args.index("--token-file") + 1] == "/etc/secai/runner-token"
    assert not any("TOKEN=" in a or a.startswith("ghp_") for a in args)
    text = SETUP.read_text()
    assert "--runner-loop must run as root" in text and "without admin rights" in text
    assert "./config.sh --url $github_url/$org" in text


def test_jit_runner_registers_one_runner_per_job_against_the_api(tmp_path, monkeypatch):
    """jit-runner.sh on the loopback GitHub server (as GHES: its API URL): finds the group, asks
    for a just-in-time config, runs the runner once with it; the token never reaches a command line."""
    import getpass
    import os

    from ghserver import GitHubServer

    with GitHubServer() as server:
        group = server.state.add_runner_group("acme", "secai")
        server.state.add_runner_group("acme", "other")
        runner_dir = tmp_path / "actions-runner"
        runner_dir.mkdir()
        (runner_dir / "run.sh").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/args.txt"\n')
        (runner_dir / "run.sh").chmod(0o755)
        token = tmp_path / "token"
        token.write_text(server.state.token + "\n")
        token.chmod(0o644)
        cmd = [
            "/bin/bash",
            str(RUNNER / "jit-runner.sh"),
            "--url",
            "https://ghes.example.com/acme",
            "--runner-dir",
            str(runner_dir),
            "--runner-user",
            getpass.getuser(),
            "--token-file",
            str(token),
            "--labels",
            "secai",
            "--once",
        ]
        env = {**os.environ, "SECAI_GITHUB_API_URL": server.url}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 1 and "must be readable by its owner only" in proc.stderr
        token.chmod(0o600)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        (registered,) = server.state.jit_runners
        assert registered["runner_group_id"] == group["id"] and [lb["name"] for lb in registered["labels"]] == ["secai"]
        args = (runner_dir / "args.txt").read_text().split()
        assert args == ["--jitconfig", f"JIT-{registered['id']}-{registered['name']}"]
        posts = [r for r in server.requests if r.method == "POST"]
        assert len(posts) == 1 and posts[0].headers["Authorization"] == f"Bearer {server.state.token}"
        assert server.state.token not in proc.stdout + proc.stderr
        assert "registered" in proc.stdout
