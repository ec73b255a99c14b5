"""The verifier with the real scanners: one batch of candidates, one process per scanner."""

from __future__ import annotations

from pathlib import Path

import pytest

from secai.config import load_settings
from secai.fix.edit import replace_lines
from secai.fix.syntax import syntax_error
from secai.fix.verify import Candidate, Verifier
from secai.scanners.registry import get_scanner

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "examples" / "semgrep-rules.yml"

PY = "import yaml\n\n\ndef load(d):\n    return yaml.load(d)\n\n\ndef total(a, b):\n    return a + b\n"
TF = 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n  acl    = "public-read"\n}\n'
DOCKER = "FROM ubuntu:latest\nRUN apt-get update\n"


def settings_for(home: Path, **scanners):
    return load_settings(
        overrides={"home": str(home), "scanners": {"semgrep": {"config": str(RULES)}, **scanners}}, environ={}
    )


SHELL = "import os\nimport shlex\nimport subprocess\n\n\ndef run(cmd):\n    return subprocess.run(cmd, shell=True)\n"

FILES = {"app/conf.py": PY, "infra/main.tf": TF, "Dockerfile": DOCKER, "app/run.py": SHELL}


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return settings_for(tmp_path_factory.mktemp("verify-home"))


@pytest.fixture(scope="module")
def reported(tmp_path_factory, settings):
    """The real findings each scanner reports on FILES (as a report would give them)."""
    tree = tmp_path_factory.mktemp("verify-tree")
    for path, text in FILES.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_text(text)
    return {
        tool: get_scanner(tool, settings).scan(tree, list(FILES)).findings
        for tool in ("bandit", "semgrep", "checkov", "trivy")
    }


def finding(reported, tool: str, path: str, rule: str):
    return next(f for f in reported[tool][path] if f.rule_id == rule)


def cand(f, text, start, end, new):
    return Candidate(f, f.location.path, text, [replace_lines(text, start, end, new)])


CASES = {
    # name: (tool, path, text, rule, start, end, new lines, expected status, reason words)
    "bandit fixed": (
        "bandit",
        "app/conf.py",
        PY,
        "B506",
        5,
        5,
        ["    return yaml.safe_load(d)"],
        "verified",
        "no longer reports B506",
    ),
    "semgrep fixed": (
        "semgrep",
        "app/conf.py",
        PY,
        "python-yaml-unsafe-load",
        5,
        5,
        ["    return yaml.safe_load(d)"],
        "verified",
        "no longer reports",
    ),
    "checkov fixed": (
        "checkov",
        "infra/main.tf",
        TF,
        "CKV_AWS_20",
        3,
        3,
        ['  acl    = "private"'],
        "verified",
        "CKV_AWS_20",
    ),
    "trivy fixed": ("trivy", "infra/main.tf", TF, "AWS-0092", 3, 3, ['  acl    = "private"'], "verified", "AWS-0092"),
    "trivy dockerfile": ("trivy", "Dockerfile", DOCKER, "DS-0001", 1, 1, ["FROM ubuntu:22.04"], "verified", "DS-0001"),
    # bandit's advice for B602 is an argument list, which bandit then notes as the milder B603
    "shell fixed, milder check on the fixed line": (
        "bandit",
        "app/run.py",
        SHELL,
        "B602",
        7,
        7,
        ["    return subprocess.run(shlex.split(cmd))"],
        "verified",
        "no longer reports B602",
    ),
    # without a shell a command string names one program by the whole string: broken, not milder
    "shell off, command still a string": (
        "bandit",
        "app/run.py",
        SHELL,
        "B602",
        7,
        7,
        ['    return subprocess.run("tool --name " + cmd, shell=False)'],
        "rejected",
        "shell=False with a command string runs a program named by the whole string",
    ),
    "shell dropped, command still a string": (
        "bandit",
        "app/run.py",
        SHELL,
        "B602",
        7,
        7,
        ['    return subprocess.run("tool --name " + cmd)'],
        "rejected",
        "introduces a new finding: bandit B603",
    ),
    "shell swapped for os.system": (
        "bandit",
        "app/run.py",
        SHELL,
        "B602",
        7,
        7,
        ["    return os.system(cmd)"],
        "rejected",
        "introduces a new finding: bandit B605",
    ),
    "nosec": (
        "bandit",
        "app/conf.py",
        PY,
        "B506",
        5,
        5,
        ["    return yaml.load(d)  # nosec"],
        "rejected",
        "suppression marker (nosec)",
    ),
    "deleted": ("bandit", "app/conf.py", PY, "B506", 5, 5, [], "rejected", "deletion-only"),
    "commented out": (
        "bandit",
        "app/conf.py",
        PY,
        "B506",
        5,
        5,
        ["    # return yaml.load(d)"],
        "rejected",
        "deletion-only",
    ),
    "broken": (
        "bandit",
        "app/conf.py",
        PY,
        "B506",
        5,
        5,
        ["    return yaml.safe_load(d"],
        "rejected",
        "no longer parses",
    ),
    "broken hcl": (
        "checkov",
        "infra/main.tf",
        TF,
        "CKV_AWS_20",
        3,
        3,
        ['  acl    = "private'],
        "rejected",
        "hcl does not parse",
    ),
    "new finding": (
        "bandit",
        "app/conf.py",
        PY,
        "B506",
        5,
        5,
        ["    return eval(d)"],
        "rejected",
        "introduces a new finding: bandit B307",
    ),
    "not fixed": (
        "bandit",
        "app/conf.py",
        PY,
        "B506",
        5,
        5,
        ["    return yaml.load(d, )"],
        "rejected",
        "still reports B506",
    ),
    # junk the base model wrote on examples/vulnerable-app that parses and silences the scanner
    "junk expression": (
        "bandit",
        "app/conf.py",
        PY,
        "B506",
        5,
        5,
        ["    return gist - python - hacker"],
        "rejected",
        "undefined names: gist, hacker, python",
    ),
    "junk decorator": (
        "bandit",
        "app/conf.py",
        PY,
        "B506",
        5,
        5,
        ["    d = str(d)", "@staticmethod"],
        "rejected",
        "changes code outside the rewritten lines",
    ),
    "definition removed": (
        "bandit",
        "app/conf.py",
        PY,
        "B506",
        4,
        5,
        ["data = yaml.safe_load('')"],
        "rejected",
        "removes the definition of d, load",
    ),
    # the tuned model's B602 'fix' on the demo: it parsed and bandit passed it, but dropped `name`
    "input ignored": (
        "bandit",
        "app/conf.py",
        PY,
        "B506",
        5,
        5,
        ['    return yaml.safe_load("d")'],
        "rejected",
        "stops using d",
    ),
    "too big": (
        "bandit",
        "app/conf.py",
        PY,
        "B506",
        5,
        5,
        ["    x = 1"] * 13 + ["    return yaml.safe_load(d)"],
        "rejected",
        "over fix.max_changed_lines",
    ),
}


@pytest.fixture(scope="module")
def verdicts(settings, reported):
    cands = []
    for tool, path, text, rule, start, end, new, *_ in CASES.values():
        cands.append(cand(finding(reported, tool, path, rule), text, start, end, new))
    verifier = Verifier(settings)
    out = verifier.verify(cands)
    return dict(zip(CASES, out)), verifier


@pytest.mark.parametrize("name", list(CASES))
def test_verdicts(verdicts, name):
    verdict = verdicts[0][name]
    status, words = CASES[name][-2:]
    assert (verdict.status, words in verdict.reason) == (status, True), verdict.reason


def test_one_scanner_process_per_scanner_for_the_batch(verdicts):
    assert verdicts[1].scanner_processes == 4


def test_ignore_file_and_missing_scanner_and_unreproduced(tmp_path, settings, reported):
    f = finding(reported, "bandit", "app/conf.py", "B506")
    ignore = Candidate(f, ".semgrepignore", "tests/\n", [replace_lines("tests/\n", 1, 1, ["tests/", "app/"])])
    assert "ignore or configuration file" in Verifier(settings).verify([ignore])[0].reason

    no_bandit = settings_for(tmp_path, bandit={"path": str(tmp_path / "missing" / "bandit")})
    v = Verifier(no_bandit).verify([cand(f, PY, 5, 5, ["    return yaml.safe_load(d)"])])[0]
    assert v.status == "unverifiable" and "bandit is not available" in v.reason

    # the report says B506 at a line where the scanner, run here, reports nothing
    moved = f.model_copy(deep=True)
    moved.location.start_line = moved.location.end_line = 9
    v = Verifier(settings).verify([cand(moved, PY, 9, 9, ["    return b + a"])])[0]
    assert v.status == "unverifiable" and "does not report B506" in v.reason


def test_syntax_checks_by_kind():
    assert syntax_error("a.py", "def f(:\n").startswith("Python syntax error at line 1")
    # parses, but the compiler refuses it (a tuned model's answer on the demo)
    repeated = syntax_error("a.py", 'subprocess.run(["rm", path], check=True, check=True)\n')
    assert repeated == "Python syntax error at line 1: keyword argument repeated: check"
    assert syntax_error("x.json", "{") and syntax_error("x.yaml", "a: [") and syntax_error("main.tf", 'a = "')
    assert syntax_error("Dockerfile", "FROM x\nRUNN y\n") == "Dockerfile line 2: unknown instruction 'RUNN'"
    # a junk model answer seen on the demo app: a valid instruction, but no stage to run it in
    assert syntax_error("Dockerfile", "# c\ncopy /app /app\nRUN x\n") == "Dockerfile line 2: COPY before the first FROM"
    assert syntax_error("Dockerfile", "ARG V=1\nFROM x:$V\n") is None
    assert syntax_error("Dockerfile", "# only a comment\n") == "Dockerfile has no FROM instruction"
    ok = "FROM x\n# c\nRUN a \\\n  # inside\n  && b\nRUN <<EOF\nnot an instruction\nEOF\n"
    assert syntax_error("Dockerfile", ok) is None
    assert syntax_error("notes.md", "anything") is None


def test_junk_that_parses_but_is_not_a_dockerfile_or_terraform():
    # the tuned model's 'fixes' of the demo's hard-coded AWS key and open egress rule (trivy passed both)
    assert syntax_error("Dockerfile", "FROM x\n    env --read-only\n") == (
        "Dockerfile line 2: ENV needs a name first, not '--read-only'"
    )
    named = 'FROM x\nENV A=1 B=2\nENV C d\nARG X\nARG Y=1\nLABEL org.opencontainers.image.title="x"\n'
    assert syntax_error("Dockerfile", named) is None
    nested = (
        'resource "aws_security_group" "web" {\n  egress {\n    from_port = 0\n'
        'resource "aws_db_instance" "main" {\n  cidr_blocks = ["0.0.0.0/0"]\n}\n  }\n}\n'
    )
    assert syntax_error("main.tf", nested) == "Terraform does not allow a resource block inside another block"
    fine = (
        'resource "aws_iam_policy" "p" {\n  provider = aws.west\n  dynamic "x" {\n    for_each = []\n'
        "    content {}\n  }\n}\n"
        'module "m" {\n  source = "./m"\n}\n'
    )
    assert syntax_error("main.tf", fine) is None


def test_a_terraform_block_that_refers_to_itself_is_refused():
    # the tuned model's "fix" in the demo: trivy's evaluator grew to 21 GB on it
    selfref = 'resource "aws_s3_bucket" "exports" {\n  bucket = aws_s3_bucket.exports\n}\n'
    assert syntax_error("main.tf", selfref) == "Terraform does not allow aws_s3_bucket.exports to refer to itself"
    data = 'data "aws_iam_policy_document" "p" {\n  source_json = data.aws_iam_policy_document.p.json\n}\n'
    assert syntax_error("x.tf", data) == "Terraform does not allow data.aws_iam_policy_document.p to refer to itself"
    others = (
        'resource "aws_s3_bucket" "exports" {\n  bucket = "x"\n}\n'
        'resource "aws_s3_bucket_versioning" "exports" {\n  bucket = aws_s3_bucket.exports.id\n}\n'
        'resource "aws_s3_bucket" "exports_logs" {\n  bucket = aws_s3_bucket.exports.id\n}\n'
        'resource "aws_s3_bucket" "logs" {\n  bucket = data.aws_s3_bucket.logs.id\n}\n'
    )
    assert syntax_error("main.tf", others) is None


class _Fake:
    """A scanner that reports rule R on every line holding 'bad', and crashes on any batch that
    holds a file with 'BOOM' (as trivy runs out of memory on a self-referencing block)."""

    name = "fake"

    def __init__(self):
        self.runs = []

    def same_rule(self, a, b):
        return a == b

    def version(self):
        return "1"

    def scan(self, root, files):
        from secai.errors import ScannerError
        from secai.findings import Category, Finding, Location, Severity
        from secai.scanners.base import ScanOutput

        texts = {f: (root / f).read_text() for f in files}
        self.runs.append(len(files))
        if any("BOOM" in t for t in texts.values()):
            raise ScannerError("fake", "exited with status 2: out of memory")
        found = {
            f: [
                Finding(
                    tool="fake",
                    rule_id="R",
                    title="t",
                    severity=Severity.medium,
                    category=Category.code,
                    location=Location(path=f, start_line=n, end_line=n),
                )
                for n, line in enumerate(t.split("\n"), 1)
                if "bad" in line
            ]
            for f, t in texts.items()
        }
        return ScanOutput(scanner="fake", version="1", config_id="", findings=found, processes=1)


def _fake_candidates(n: int, poisoned: set[int]):
    from secai.findings import Category, Finding, Location, Severity

    out = []
    for i in range(n):
        text = f"x{i} = 1\nbad{i} = 2\n"
        f = Finding(
            tool="fake",
            rule_id="R",
            title="t",
            severity=Severity.medium,
            category=Category.code,
            location=Location(path=f"f{i}.txt", start_line=2, end_line=2),
        )
        new = f"BOOM{i} = 2" if i in poisoned else f"good{i} = 2"
        out.append(Candidate(f, f"f{i}.txt", text, [replace_lines(text, 2, 2, [new])]))
    return out


@pytest.mark.parametrize("poisoned", [{5}, {0, 7}, set(range(8))])
def test_a_patched_file_that_crashes_the_scanner_costs_only_its_own_verdict(tmp_path, monkeypatch, poisoned):
    verifier = Verifier(settings_for(tmp_path))
    fake = _Fake()
    monkeypatch.setattr(verifier, "scanner_for", lambda finding: (fake, ""))
    verdicts = verifier.verify(_fake_candidates(8, poisoned))
    assert [v.status for v in verdicts] == ["unverifiable" if i in poisoned else "verified" for i in range(8)]
    assert all("failed on the patched file" in v.reason for i, v in enumerate(verdicts) if i in poisoned)
    # the batch, the originals alone, then halves down to each poisoned candidate
    assert fake.runs[:2] == [16, 16] and len(fake.runs) <= 2 + 2 * 3 * len(poisoned)


def test_a_scanner_failing_on_the_files_as_they_are_fails_the_batch_without_splitting(tmp_path, monkeypatch):
    verifier = Verifier(settings_for(tmp_path))
    fake = _Fake()
    monkeypatch.setattr(verifier, "scanner_for", lambda finding: (fake, ""))
    cands = _fake_candidates(8, set())
    for c in cands:
        c.original = c.original.replace("x", "BOOM")
    verdicts = verifier.verify(cands)
    assert all(v.status == "unverifiable" and "the scanner failed: " in v.reason for v in verdicts)
    assert fake.runs == [16, 16]


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="the cap is Linux only")
def test_a_scanner_process_over_the_memory_cap_fails_at_once():
    import subprocess
    import sys

    from secai.scanners.base import memory_capped

    hog = [sys.executable, "-c", "b = bytearray(2 * 1024**3)"]
    assert memory_capped(hog, 0) == hog
    res = subprocess.run(memory_capped(hog, 512), capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "MemoryError" in res.stderr
    ok = subprocess.run(memory_capped([sys.executable, "-c", "print('fine')"], 512), capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == "fine\n"


def test_a_secret_is_fixed_by_removing_it_not_by_changing_a_few_letters(tmp_path):
    """The tuned model's verified 'fix' of the demo's AWS key: checkov's pattern stopped matching
    once EXAMPLEKEY became ECAMKEY."""
    from secai.findings import Category, Finding, Location, Severity
    from secai.fix.verify import static_problem

    settings = settings_for(tmp_path)
    text = "FROM python:3.12-slim\nENV AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nCOPY . /app\n"
    loc = Location(path="Dockerfile", start_line=2, end_line=2)
    key = Finding(
        tool="checkov",
        rule_id="CKV_SECRET_2",
        title="AWS Access Key",
        severity=Severity.critical,
        category=Category.iac,
        location=loc,
    )
    mangled = Candidate(
        key,
        "Dockerfile",
        text,
        [replace_lines(text, 2, 2, ["ENV AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYECAMKEY"])],
    )
    assert "keeps part of a secret-looking value" in static_problem(mangled, settings)
    removed = Candidate(key, "Dockerfile", text, [replace_lines(text, 2, 2, ["ARG AWS_SECRET_ACCESS_KEY"])])
    assert static_problem(removed, settings) is None
    other = Finding(
        tool="trivy",
        rule_id="DS-0001",
        title="latest tag",
        severity=Severity.medium,
        category=Category.iac,
        location=loc,
    )
    keeps_a_token = Candidate(
        other,
        "Dockerfile",
        text,
        [replace_lines(text, 2, 2, ["ENV AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "USER app"])],
    )
    assert static_problem(keeps_a_token, settings) is None  # not a finding about a secret
    py = 'SERVICE_PASSWORD_V2 = "hunter2hunter2hunter2"\n'
    password = Finding(
        tool="bandit",
        rule_id="B105",
        title="hardcoded_password_string",
        severity=Severity.low,
        category=Category.code,
        location=Location(path="a.py", start_line=1, end_line=1),
    )
    from_env = Candidate(
        password, "a.py", py, [replace_lines(py, 1, 1, ['SERVICE_PASSWORD_V2 = os.environ["SVC_PW"]'])]
    )
    assert not (static_problem(from_env, settings) or "").startswith("keeps part")  # the name may stay
