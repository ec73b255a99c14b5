"""`secai-runner fix` end to end (dependency + codemod providers, real scanners), bad input, and
the pipeline's fix stage."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from secai.cli import main
from secai.fix.task import PUBLIC_KEYS

ROOT = Path(__file__).resolve().parent.parent

APP = {
    "app/conf.py": "import yaml\n\n\ndef load(d):\n    return yaml.load(d)\n",
    "app/other.py": "import yaml\n\n\ndef other(d):\n    return yaml.load(d)\n",
    "app/blob.py": "import yaml\n\n\ndef blob(d):\n    return yaml.load(d)\n",
    "app/link.py": "import yaml\n\n\ndef link(d):\n    return yaml.load(d)\n",
    "requirements.txt": "PyYAML==5.3\n",
}


def _bandit() -> str:
    from secai.config import load_settings
    from secai.scanners.registry import get_scanner

    exe = get_scanner("bandit", load_settings(environ={})).executable()
    if exe is None:
        pytest.fail("bandit is not installed: run `make scanners`")
    return str(exe)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A scanned app, then a --source copy where some files are missing, binary or links."""
    base = tmp_path_factory.mktemp("fixproj")
    scanned = base / "scanned"
    for rel, text in APP.items():
        (scanned / rel).parent.mkdir(parents=True, exist_ok=True)
        (scanned / rel).write_text(text)
    reports = base / "reports"
    reports.mkdir()
    subprocess.run([_bandit(), "-q", "-r", ".", "-f", "json", "-o", str(reports / "bandit.json")], cwd=scanned)
    data = json.loads((reports / "bandit.json").read_text())
    # a hostile report line pointing outside the source folder
    escape = dict(next(r for r in data["results"] if r["filename"].endswith("conf.py")), filename="../outside.py")
    data["results"].append(escape)
    (reports / "bandit.json").write_text(json.dumps(data))
    # the real safety report of examples/ (PyYAML 5.3 among its pins)
    shutil.copy(ROOT / "examples" / "artifacts" / "safety-results" / "safety.json", reports / "safety.json")
    source = base / "source"
    shutil.copytree(scanned, source)
    (source / "app" / "other.py").unlink()  # not in --source
    (source / "app" / "blob.py").write_bytes(b"\x00\x01binary")
    outside = base / "outside-secret.py"
    outside.write_text(APP["app/link.py"])
    (source / "app" / "link.py").unlink()
    (source / "app" / "link.py").symlink_to(outside)
    (base / "outside.py").write_text(APP["app/conf.py"])
    return base, reports, source


@pytest.fixture(scope="module")
def fixed(project, tmp_path_factory):
    base, reports, source = project
    run_dir = base / "run"
    out = base / "fixes.json"
    home = tmp_path_factory.mktemp("home")
    import os

    old = os.environ.get("SECAI_HOME")
    os.environ["SECAI_HOME"] = str(home)
    try:
        rc = main(
            [
                "fix",
                str(reports),
                "--source",
                str(source),
                "--provider",
                "dependency",
                "--provider",
                "codemod",
                "--format",
                "json",
                "-o",
                str(out),
                "--out",
                str(run_dir),
            ]
        )
    finally:
        if old is None:
            os.environ.pop("SECAI_HOME", None)
        else:
            os.environ["SECAI_HOME"] = old
    return rc, json.loads(out.read_text()), run_dir


def by_path(results):
    return {(r["path"], r["rule_id"]): r for r in results}


def test_json_output_has_the_fixed_keys(fixed):
    rc, results, _ = fixed
    assert rc == 0
    assert results and all(tuple(r) == PUBLIC_KEYS for r in results)


def test_statuses_for_good_and_bad_input(fixed):
    _, results, _ = fixed
    r = by_path(results)
    assert r[("app/conf.py", "B506")]["status"] == "verified"
    assert r[("app/conf.py", "B506")]["provider"] == "codemod"
    assert (
        r[("app/other.py", "B506")]["status"] == "no_source"
        and "not in --source" in r[("app/other.py", "B506")]["reason"]
    )
    assert r[("app/blob.py", "B506")]["status"] == "no_source" and "binary" in r[("app/blob.py", "B506")]["reason"]
    assert "outside --source; refused" in r[("app/link.py", "B506")]["reason"]
    assert "escapes --source; refused" in r[("../outside.py", "B506")]["reason"]
    dep = next(x for x in results if x["tool"] == "safety" and x["status"] == "verified")
    assert dep["status"] == "verified" and dep["provider"] == "dependency" and "+PyYAML==5.4" in dep["diff"]
    for x in results:
        assert (x["status"] == "verified") == bool(x["diff"])


def test_fixes_patch_applies_with_git_and_apply_writes_only_verified_files(fixed, project, tmp_path):
    _, results, run_dir = fixed
    _, reports, source = project
    assert (run_dir / "fixes.jsonl").read_text().count("\n") == len(results)
    patch = (run_dir / "fixes.patch").read_text()
    assert patch.count("diff --git") == 2  # app/conf.py and requirements.txt
    work = tmp_path / "work"
    shutil.copytree(source, work, symlinks=True)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    res = subprocess.run(
        ["git", "apply", "--check", str(run_dir / "fixes.patch")], cwd=work, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file() and ".git" not in p.parts}
    rc = main(
        [
            "fix",
            str(reports),
            "--source",
            str(work),
            "--provider",
            "dependency",
            "--provider",
            "codemod",
            "--apply",
            "--format",
            "json",
            "-o",
            str(tmp_path / "again.json"),
            "--out",
            str(tmp_path / "run2"),
        ]
    )
    assert rc == 0
    changed = {p.relative_to(work).as_posix() for p, data in before.items() if p.read_bytes() != data}
    assert changed == {"app/conf.py", "requirements.txt"}
    assert "Loader=yaml.SafeLoader" in (work / "app" / "conf.py").read_text()
    assert (work / "requirements.txt").read_text() == "PyYAML==5.4\n"


def test_pipeline_fix_stage(project, tmp_path):
    from secai.config import load_settings
    from secai.pipeline import run_pipeline

    _, reports, source = project
    settings = load_settings(overrides={"home": str(tmp_path), "fix": {"providers": ["dependency"]}}, environ={})
    res = run_pipeline(tmp_path / "run", settings, artifacts=[reports], stages=["parse", "fix"], source=source)
    fix = next(s for s in res.stages if s.stage == "fix")
    assert fix.status == "done" and "verified" in fix.note
    assert (tmp_path / "run" / "fixes.patch").read_text().startswith("diff --git a/requirements.txt")
    again = run_pipeline(tmp_path / "run", settings, artifacts=[reports], stages=["parse", "fix"], source=source)
    assert [s.status for s in again.stages] == ["cached", "cached"]
    none = run_pipeline(tmp_path / "run2", settings, artifacts=[reports], stages=["parse", "fix"])
    skipped = next(s for s in none.stages if s.stage == "fix")
    assert skipped.status == "skipped" and "--source" in skipped.note


def test_deterministic_outcomes_are_worked_out_once_per_run_and_again_for_changed_files(project, tmp_path, monkeypatch):
    """The dataset stage and the fix stage of one run ask the dependency provider about the same
    findings and files: with the run's `reuse` dict it runs once; a changed file runs it again."""
    from secai.config import load_settings
    from secai.fix.providers import dependency
    from secai.fix.run import fix_findings
    from secai.ingest.collect import collect

    _, reports, source = project
    src = tmp_path / "src"
    shutil.copytree(source, src, symlinks=True)
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, environ={})
    findings = collect([reports / "safety.json"]).findings
    calls = []
    real = dependency.propose
    monkeypatch.setattr(dependency, "propose", lambda tasks, ctx: calls.append(len(tasks)) or real(tasks, ctx))
    reuse: dict = {}
    first = fix_findings(findings, src, settings, providers=["dependency"], reuse=reuse)
    second = fix_findings(findings, src, settings, providers=["dependency"], reuse=reuse)
    assert len(calls) == 1 and first.patch == second.patch and "PyYAML" in second.patch
    assert [r.model_dump() for r in first.results] == [r.model_dump() for r in second.results]
    (src / "requirements.txt").write_text("PyYAML==5.3  # pinned\n")  # the manifest a bump edits changed
    third = fix_findings(findings, src, settings, providers=["dependency"], reuse=reuse)
    assert len(calls) == 2 and "# pinned" in third.patch
    fix_findings(findings, src, settings, providers=["dependency"])  # no dict: no reuse
    assert len(calls) == 3


def test_fix_memory_option_reads_a_memory_file_and_names_a_missing_one(project, tmp_path, monkeypatch, capsys):
    from secai.fix import run as fix_run
    from secai.fix.memory import FixMemory, PastFix

    _, reports, source = project
    monkeypatch.setenv("SECAI_HOME", str(tmp_path / "home"))
    missing = tmp_path / "nope.jsonl"
    args = ["fix", str(reports / "safety.json"), "--source", str(source), "--provider", "dependency"]
    assert main([*args, "--memory", str(missing), "--out", str(tmp_path / "r1")]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: --memory is not a file" in err and len(err.strip().splitlines()) == 1
    memory = tmp_path / "memory.jsonl"
    FixMemory([PastFix(id="a", tool="bandit", rule_id="B506", path="a.py", before="yaml.load(d)", after="x")]).write(
        memory
    )
    seen = []
    real = fix_run.fix_findings
    monkeypatch.setattr(fix_run, "fix_findings", lambda *a, **kw: seen.append(kw["memory"]) or real(*a, **kw))
    assert main([*args, "--memory", str(memory), "--out", str(tmp_path / "r2")]) in (0, 1)
    assert [f.id for f in seen[0].fixes] == ["a"]
