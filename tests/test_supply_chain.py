"""Supply chain (issue 16.8): every pip install of the action, the runner scripts, CI and make is
hash-pinned from requirements/*.txt (made by `make lock` with uv), the lock files cover
pyproject.toml's dependencies, and a prebuilt runner venv is used only when the job cannot have
changed it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from packaging.requirements import Requirement

REQS = ROOT / "requirements"
PIP_INSTALL = re.compile(r"pip install\b[^\n]*")


def _locked(path: Path) -> dict[str, list[str]]:
    """name -> hashes of a requirements file with hashes."""
    out: dict[str, list[str]] = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        spec, *opts = line.split(" --hash=")
        req = Requirement(spec.strip())
        assert str(req.specifier).startswith("=="), line
        out[req.name.lower().replace("_", "-")] = [o.strip() for o in opts]
    return out


def _declared(*extras: str) -> set[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for e in extras for r in project["optional-dependencies"][e]]
    return {Requirement(r).name.lower().replace("_", "-") for r in reqs}


@pytest.mark.parametrize(
    "lock, extras", [("collect.txt", ()), ("runner.txt", ("ml",)), ("dev.txt", ("ml", "dev"))], ids=str
)
def test_lock_files_pin_every_dependency_with_hashes(lock, extras):
    locked = _locked(REQS / lock)
    assert all(hashes and all(h.startswith("sha256:") for h in hashes) for hashes in locked.values())
    missing = (_declared(*extras) | {"setuptools", "wheel"}) - set(locked) - {"mlx"}
    assert not missing, f"{lock} lacks {missing}: run make lock"
    assert "mlx" in locked or not extras


def _commands(script: str) -> list[str]:
    return PIP_INSTALL.findall(script.replace("\\\n", " "))


def _installs() -> list[tuple[str, str]]:
    """(where, command) for every pip install the action, runner scripts, CI and make run."""
    found = []
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    for step in action["runs"]["steps"]:
        found += [(f"action.yml {step.get('name')}", m) for m in _commands(step.get("run", ""))]
    for path in [*sorted((ROOT / "runner").glob("*.sh")), ROOT / "Makefile", ROOT / ".github/workflows/ci.yml"]:
        found += [(path.name, m) for m in _commands(path.read_text())]
    return found


def test_every_pip_install_is_hash_pinned_or_installs_secai_alone():
    installs = _installs()
    assert len(installs) >= 8
    for where, cmd in installs:
        pinned = "--require-hashes" in cmd and re.search(r"-r \S*requirements/\w+\.txt", cmd)
        secai_alone = "--no-deps" in cmd and "--no-build-isolation" in cmd and "-r " not in cmd
        assert pinned or secai_alone, f"{where}: {cmd}"


def test_the_prebuilt_venv_is_used_only_when_the_job_cannot_have_changed_it(tmp_path, monkeypatch):
    """Owned by the job's user, or writable by group or others, or built from another secai:
    refused; owned by someone else, read-only to others, with this action's stamp: used."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("prebuilt_venv", ROOT / "runner" / "prebuilt_venv.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    os.symlink(sys.executable, venv / "bin" / "python")
    (venv / "secai-stamp").write_text(tool.stamp(ROOT) + "\n")
    for p in [venv, *venv.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert "owned by this job's user" in tool.problem(venv, ROOT)
    job_user = os.getuid() + 1000  # the files now belong to someone other than the job
    monkeypatch.setattr(tool.os, "getuid", lambda: job_user)
    assert tool.problem(venv, ROOT) is None
    (venv / "secai-stamp").chmod(0o666)
    assert "writable by group or others" in tool.problem(venv, ROOT)
    (venv / "secai-stamp").chmod(0o644)
    (venv / "secai-stamp").write_text("another build\n")
    assert "built from another version" in tool.problem(venv, ROOT)


def test_action_venv_refuses_a_prebuilt_venv_it_cannot_trust(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    os.symlink(sys.executable, venv / "bin" / "python")
    out = tmp_path / "out"
    proc = subprocess.run(
        ["bash", ROOT / "runner" / "action-venv.sh"],
        env={
            "PATH": os.environ["PATH"],
            "ACTION_PATH": str(ROOT),
            "INPUT_PYTHON": sys.executable,
            "SECAI_VENV": str(venv),
            "GITHUB_OUTPUT": str(out),
            "RUNNER_TEMP": str(tmp_path),
        },
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("::error::secai: refusing the prebuilt venv:") and "secai-stamp" in proc.stdout
    assert not out.exists() or "python=" not in out.read_text()
    assert shutil.which("bash")
