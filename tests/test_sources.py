"""The bundle carries the source files findings point to (20.8) and a SARIF for code scanning
(17.4): text files inside the checkout only, no links, capped, redacted; dependency findings at
their manifest line; snippets without line-number margins."""

from __future__ import annotations

import json
import os

import pytest
from conftest import EXAMPLES
from test_sarif_export import _check_structure

from secai.cli import main
from secai.config import load_settings
from secai.exitcodes import Exit
from secai.ingest.sources import copy_sources, safe_relpath, unpack_sources

ARTIFACTS = EXAMPLES / "artifacts"
APP = EXAMPLES / "vulnerable-app"


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/webapp")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
    monkeypatch.setenv("GITHUB_SHA", "a" * 40)
    out = tmp_path / "bundle"
    assert main(["collect", "--out", str(out), "--source", str(APP), "--", str(ARTIFACTS)]) == Exit.OK
    return out


def test_collect_carries_the_redacted_sources_and_a_sarif(bundle):
    listed = json.loads((bundle / "sources.json").read_text())
    carried = {f["path"] for f in listed["files"]}
    assert {"app/web.py", "app/jobs.py", "Dockerfile", "terraform/main.tf", "requirements.txt"} <= carried
    for f in listed["files"]:
        assert (bundle / "sources" / f["path"]).read_text() and not (bundle / "sources" / f["path"]).is_symlink()
    settings_py = next(f for f in listed["files"] if f["path"] == "app/settings.py")
    assert settings_py["redacted"] is True
    text = (bundle / "sources" / "app" / "settings.py").read_text()
    original = (APP / "app" / "settings.py").read_text()
    assert text != original and "[REDACTED" in text
    assert (bundle / "sources" / "app" / "web.py").read_text() == (APP / "app" / "web.py").read_text()

    sarif = json.loads((bundle / "findings.sarif").read_text())
    _check_structure(sarif)
    results = [r for run in sarif["runs"] for r in run["results"]]
    assert len(results) == 235
    # the 2 `#checkov:skip=` checks stay in, marked suppressed
    assert sum(bool(r.get("suppressions")) for r in results) == 2
    deps = [r for r in results if r["properties"]["category"] == "dependency"]
    where = {
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in deps
    }
    # Safety names no file: every one of its 28 findings points at the requirements line pinning it
    assert len(deps) == 28 and {uri for uri, _ in where} == {"requirements.txt"}
    req = (APP / "requirements.txt").read_text().splitlines()
    for r in deps:
        name = r["properties"]["package"]["name"].lower()
        line = r["locations"][0]["physicalLocation"]["region"]["startLine"]
        assert req[line - 1].lower().startswith(name + "==")
    # bandit's snippets without their line-number margin
    bandit = next(run for run in sarif["runs"] if run["tool"]["driver"]["name"] == "bandit")
    snippets = [r["locations"][0]["physicalLocation"]["region"]["snippet"]["text"] for r in bandit["results"]]
    assert "import random\nimport subprocess\nimport tempfile" in snippets
    assert not any(s.split("\n")[0][:1].isdigit() and " " in s and s.split(" ")[0].isdigit() for s in snippets)


def test_the_action_outputs_the_sarif_file(bundle, tmp_path, monkeypatch):
    out_file = tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out_file))
    assert main(["collect", "--out", str(tmp_path / "b2"), "--source", str(APP), "--", str(ARTIFACTS)]) == Exit.OK
    outputs = dict(line.split("=", 1) for line in out_file.read_text().splitlines())
    assert outputs["sarif-file"] == str((tmp_path / "b2" / "findings.sarif").resolve())


def test_hostile_source_trees_give_nothing_outside(tmp_path):
    root = tmp_path / "checkout"
    (root / "app").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[remote]\n")
    (root / "app" / "ok.py").write_text("print('ok')\n")
    (root / "app" / "bin.py").write_bytes(b"\x00\x01binary")
    (root / "app" / "latin1.py").write_bytes("caf\xe9".encode("latin-1"))
    (root / "app" / "big.py").write_text("x = 1\n" * 200_000)
    outside = tmp_path / "secret.txt"
    outside.write_text("TOKEN")
    os.symlink(outside, root / "app" / "link.py")
    os.symlink(tmp_path, root / "linked-dir")
    (root / "fifo").mkdir()
    wanted = [
        "app/ok.py",
        "app/bin.py",
        "app/latin1.py",
        "app/big.py",
        "app/link.py",
        "linked-dir/secret.txt",
        "../secret.txt",
        "/etc/passwd",
        ".git/config",
        "fifo",
        "app/missing.py",
    ]
    rec = copy_sources(wanted, root, tmp_path / "out", load_settings().limits)
    assert [f.path for f in rec.files] == ["app/ok.py"]
    assert rec.skipped == {
        "app/bin.py": "binary (NUL bytes)",
        "app/latin1.py": "not UTF-8 text",
        "app/big.py": "1200000 bytes, over the 524288 byte limit per file",
        "app/link.py": "a symbolic link on the path",
        "linked-dir/secret.txt": "a symbolic link on the path",
        "../secret.txt": "not a path inside the repository",
        "/etc/passwd": "not a path inside the repository",
        ".git/config": "not a path inside the repository",
        "fifo": "not a regular file",
        "app/missing.py": "not in the source folder",
    }
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")) == [
        "app",
        "app/ok.py",
    ]
    assert safe_relpath("a/./b") == "a/b" and safe_relpath("C:/x") is None and safe_relpath("a/b.py") == "a/b.py"


def test_the_total_cap_holds(tmp_path, monkeypatch):
    root = tmp_path / "c"
    root.mkdir()
    for i in range(5):
        (root / f"f{i}.py").write_text("y = 2\n" * 40_000)  # 240 kB each
    limits = load_settings(environ={"SECAI_LIMITS__MAX_SOURCES_MB": "0.5"}).limits
    rec = copy_sources([f"f{i}.py" for i in range(5)], root, tmp_path / "out", limits)
    assert [f.path for f in rec.files] == ["f0.py", "f1.py"]
    assert set(rec.skipped) == {"f2.py", "f3.py", "f4.py"}


def test_run_bundle_uses_the_carried_sources_and_checks_them_again(bundle, tmp_path):
    run_dir = tmp_path / "run"
    assert main(["run", "--bundle", str(bundle), "--out", str(run_dir), "--stages", "report", "--no-progress"]) == 0
    assert (run_dir / "source" / "app" / "web.py").read_text() == (bundle / "sources" / "app" / "web.py").read_text()
    versions = json.loads((run_dir / "scanners.json").read_text())
    assert versions["bandit"]["report"] == ["1.9.4"] and versions["trivy"]["report"] == ["0.76.0"]
    assert versions["safety"] == {"report": []}  # secai verifies nothing with safety
    sarif = json.loads((run_dir / "findings.sarif").read_text())
    deps = [r for run in sarif["runs"] for r in run["results"] if r["properties"]["category"] == "dependency"]
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in deps} == {"requirements.txt"}
    # a tampered bundle: a listed path that escapes, a link planted among the sources
    listed = json.loads((bundle / "sources.json").read_text())
    listed["files"].append({"path": "../../bundle.json", "bytes": 1, "sha256": "0" * 64})
    listed["files"].append({"path": "app/evil.py", "bytes": 1, "sha256": "0" * 64})
    (bundle / "sources.json").write_text(json.dumps(listed))
    os.symlink(tmp_path / "bundle" / "bundle.json", bundle / "sources" / "app" / "evil.py")
    rec = unpack_sources(bundle, tmp_path / "again", load_settings().limits)
    assert rec.skipped == {
        "../../bundle.json": "not a path inside the repository",
        "app/evil.py": "a symbolic link on the path",
    }
    assert not (tmp_path / "again" / "app" / "evil.py").exists()
