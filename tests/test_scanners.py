"""The scanners secai runs itself, with the real scanners on tiny files (one batched scan each)."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from secai.config import load_settings
from secai.errors import ScannerError
from secai.scanners import base
from secai.scanners.registry import SCANNERS, available_scanners, get_scanner, scanner_for_tool

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "examples" / "semgrep-rules.yml"

FILES = {
    "app/run.py": "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n",
    "app/clean.py": "def add(a, b):\n    return a + b\n",
    "app/broken.py": "def broken(:\n",
    "infra/main.tf": 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n  acl    = "public-read"\n}\n',
    "docker/Dockerfile": "FROM ubuntu:latest\nRUN apt-get update\n",
    "docs/readme.md": "# nothing to scan\n",
    "-rf.py": "import yaml\n\n\ndef load(d):\n    return yaml.load(d)\n",
}


def settings_for(home: Path, **scanners):
    return load_settings(
        overrides={"home": str(home), "scanners": {"semgrep": {"config": str(RULES)}, **scanners}}, environ={}
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scan-tree")
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return settings_for(tmp_path_factory.mktemp("scan-home"))


@pytest.fixture(scope="module")
def outputs(tree, settings):
    """One scan per scanner over every file (each scanner skips what it does not cover)."""
    before = base.processes_spawned()["scan"]
    outs = {name: get_scanner(name, settings).scan(tree, list(FILES), timeout=300) for name in SCANNERS}
    assert base.processes_spawned()["scan"] - before == len(SCANNERS)
    return outs


def rules_at(out, path):
    return [(f.rule_id, f.location.start_line) for f in out.findings[path]]


def test_all_four_are_installed_here(settings):
    assert [s.name for s in available_scanners(settings)] == ["bandit", "semgrep", "checkov", "trivy"]
    for name in SCANNERS:
        assert get_scanner(name, settings).version()


def test_bandit_finds_shell_true_and_reports_the_unparsable_file(outputs):
    out = outputs["bandit"]
    assert ("B602", 5) in rules_at(out, "app/run.py")
    assert ("B506", 5) in rules_at(out, "-rf.py")  # a file named like an option is still a file
    assert out.findings["app/clean.py"] == []
    assert "syntax error" in out.errors["app/broken.py"]
    assert set(out.skipped) == {"infra/main.tf", "docker/Dockerfile", "docs/readme.md"}
    assert out.processes == 1 and out.version and out.config_id == ""
    f = out.findings["app/run.py"][0]
    assert f.tool == "bandit" and f.location.path == "app/run.py" and f.fingerprint


def test_semgrep_uses_the_local_rules(outputs):
    out = outputs["semgrep"]
    assert rules_at(out, "app/run.py") == [("python-subprocess-shell-true", 5)]
    assert rules_at(out, "-rf.py") == [("python-yaml-unsafe-load", 5)]
    assert ("dockerfile-latest-tag", 1) in rules_at(out, "docker/Dockerfile")  # the rules have a dockerfile rule
    assert "infra/main.tf" in out.skipped and len(out.config_id) == 64


def test_checkov_and_trivy_find_the_public_bucket(outputs):
    assert ("CKV_AWS_20", 1) in rules_at(outputs["checkov"], "infra/main.tf")
    assert any(r == "CKV_DOCKER_7" for r, _ in rules_at(outputs["checkov"], "docker/Dockerfile"))
    assert ("AWS-0092", 3) in rules_at(outputs["trivy"], "infra/main.tf")
    assert ("DS-0001", 1) in rules_at(outputs["trivy"], "docker/Dockerfile")
    for name in ("checkov", "trivy"):
        assert set(outputs[name].findings) == {"infra/main.tf", "docker/Dockerfile"}
        assert all(f.tool == name for fs in outputs[name].findings.values() for f in fs)


def test_covers_by_file_name(settings):
    expect = {
        "bandit": {"a/b.py": True, "x.pyw": True, "main.tf": False, "Dockerfile": False},
        "semgrep": {"a/b.py": True, "web.js": False, "Dockerfile": True, "main.tf": False},
        "checkov": {"main.tf": True, "k8s/deploy.yaml": True, "Dockerfile.prod": True, "package.json": False},
        "trivy": {"main.tf": True, "api.Dockerfile": True, "cfn.json": True, "x.py": False},
    }
    for name, cases in expect.items():
        s = get_scanner(name, settings)
        assert {p: s.covers(p) for p in cases} == cases, name
    # a scanner's own configuration is never a scan target, so a tree cannot reconfigure it
    assert not get_scanner("checkov", settings).covers(".checkov.yaml")
    assert not get_scanner("trivy", settings).covers("sub/trivy.yaml")


def test_paths_outside_the_root_are_not_scanned(tree, settings):
    out = get_scanner("bandit", settings).scan(tree, ["../x.py", "/etc/x.py", "app/./run.py", "missing.py"])
    assert out.findings == {} and out.processes == 0
    assert set(out.skipped) == {"../x.py", "/etc/x.py", "app/./run.py", "missing.py"}


def test_same_rule(settings):
    semgrep = get_scanner("semgrep", settings)
    assert semgrep.same_rule("work.main.examples.python-os-popen", "python-os-popen")
    assert not semgrep.same_rule("python-os-popen", "os-popen-x")
    assert get_scanner("trivy", settings).same_rule("AVD-AWS-0092", "AWS-0092")
    assert scanner_for_tool("Semgrep OSS", settings).name == "semgrep"
    assert scanner_for_tool("gitleaks", settings) is None
    with pytest.raises(ValueError, match="cannot run"):
        get_scanner("zap", settings)


def test_missing_executable_is_not_available(tmp_path):
    s = settings_for(tmp_path, bandit={"path": str(tmp_path / "nope" / "bandit")})
    scanner = get_scanner("bandit", s)
    assert not scanner.available()
    assert "scanners.bandit.path" in scanner.unavailable_reason()
    assert scanner.version() is None
    with pytest.raises(ScannerError, match="not an executable"):
        scanner.scan(tmp_path, ["a.py"])


def test_semgrep_without_local_rules_is_not_available(tmp_path):
    s = load_settings(overrides={"home": str(tmp_path)}, environ={})
    scanner = get_scanner("semgrep", s)
    assert not scanner.available() and "scanners.semgrep.config" in scanner.unavailable_reason()
    assert not scanner.covers("a.py")


def test_broken_rules_are_errors_that_name_the_file(tree, tmp_path):
    bad_yaml = tmp_path / "bad-yaml.yml"
    bad_yaml.write_text("rules: [unclosed\n")
    scanner = get_scanner("semgrep", settings_for(tmp_path, semgrep={"config": str(bad_yaml)}))
    assert str(bad_yaml) in scanner.unavailable_reason()
    with pytest.raises(ScannerError, match="bad-yaml.yml is not valid YAML"):
        scanner.scan(tree, ["app/run.py"])
    bad_rule = tmp_path / "bad-rule.yml"
    bad_rule.write_text(
        "rules:\n  - id: x\n    languages: [python]\n    severity: ERROR\n    message: m\n    pattern: foo(\n"
    )
    scanner = get_scanner("semgrep", settings_for(tmp_path, semgrep={"config": str(bad_rule)}))
    assert scanner.available()  # valid YAML; only semgrep itself can tell the pattern is broken
    with pytest.raises(ScannerError) as e:
        scanner.scan(tree, ["app/run.py"])
    assert str(bad_rule) in str(e.value) and "Rule parse error" in str(e.value)
    assert len(str(e.value).splitlines()) == 1


def test_rules_config_id_follows_the_content(tmp_path):
    rules = tmp_path / "r.yml"
    rules.write_text(RULES.read_text())
    s = settings_for(tmp_path, semgrep={"config": str(rules)})
    first = get_scanner("semgrep", s).config_id()
    rules.write_text(RULES.read_text() + "\n# changed\n")
    assert get_scanner("semgrep", s).config_id() != first


def _fake_scanner(tmp_path: Path, body: str) -> Path:
    """An executable standing in for a broken bandit (a real process, so timeouts are real)."""
    exe = tmp_path / "fake-bandit"
    head = "import sys, time\nargs = sys.argv[1:]\nif args == ['--version']:\n    sys.exit(print('fake 0.1'))\n"
    exe.write_text(f"#!{sys.executable}\n{head}{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("open(args[args.index('-o') + 1], 'w').write('not json at all')", "output is not its JSON report"),
        ("open(args[args.index('-o') + 1], 'w').write('{\"a\": 1}')", "output is not a bandit report"),
        ("sys.stderr.write('Traceback\\nKeyError: boom\\n'); sys.exit(3)", "exited with status 3: KeyError: boom"),
        ("pass", "wrote no report"),
        ("time.sleep(30)", "timed out after 0.5s"),
    ],
)
def test_crash_timeout_and_garbage_are_errors(tmp_path, body, message):
    (tmp_path / "a.py").write_text("x = 1\n")
    s = settings_for(tmp_path, bandit={"path": str(_fake_scanner(tmp_path, body))})
    scanner = get_scanner("bandit", s)
    with pytest.raises(ScannerError, match=message):
        scanner.scan(tmp_path, ["a.py"], timeout=0.5 if "sleep" in body else 60)


def test_version_is_remembered_on_disk(settings):
    scanner = get_scanner("bandit", settings)
    base._VERSIONS.clear()  # another test in this process may have asked already (another data home)
    version = scanner.version()
    base._VERSIONS.clear()  # a new process
    before = base.processes_spawned()["version"]
    assert get_scanner("bandit", settings).version() == version
    assert base.processes_spawned()["version"] == before
