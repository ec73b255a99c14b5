"""History mining on generated repositories with the real bandit.

One repository holds every case (a fix, a rename with a fix, a deletion, moves within and across
files, suppressions, a scanner config change, a merge, files that would run code if executed) and
is mined once for the module: one bandit process. A fake line scanner stands in where a scanner has
to fail on purpose.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from gitrepo import Repo, tree_digest

from secai.config import load_settings
from secai.errors import ScannerError, SecaiError
from secai.findings import Finding, build_finding
from secai.history.mine import MineResult, mine
from secai.run.store import Store
from secai.scanners import base
from secai.scanners.bandit import Bandit
from secai.scanners.base import ScanOutput

APP = """import subprocess


def run(cmd):
    return subprocess.call(cmd, shell=True)


def calc(expr):
    return eval(expr)


def other():
    return 1
"""
RUNNER = """import yaml


def load(text):
    return yaml.load(text)


def compute(expr):
    return eval(expr)
"""
EXTRA = """def keep():
    return 0


def legacy(expr):
    value = expr.strip()
    if not value:
        return None
    return eval(value)
"""
UTIL = """def first():
    return 1


def risky(expr):
    return eval(expr)


def last():
    return 2
"""


@dataclass
class History:
    repo: Repo
    sha: dict[str, str]
    settings: object
    cold: MineResult
    canary: Path
    digest_before: str
    digest_after: str

    def events(self, commit: str, kind: str | None = None):
        return [e for e in self.cold.events if e.commit == self.sha[commit] and (kind is None or e.kind == kind)]


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> History:
    tmp = tmp_path_factory.mktemp("history")
    settings = load_settings(environ={"SECAI_HOME": str(tmp / "home")})
    if not Bandit(settings).available():
        pytest.skip("bandit is not installed")
    repo = Repo(tmp / "repo")
    canary = tmp / "canary"
    payload = f"open({str(canary)!r}, 'w').write('ran')\n"
    sha = {}
    sha["add"] = repo.commit(
        "add app",
        {"app.py": APP, "lib/run.py": RUNNER, "old.py": "def f(x):\n    return eval(x)\n", "util.py": UTIL}
        | {"setup.py": payload, "conftest.py": payload, "extra.py": EXTRA},
    )
    fixed = APP.replace("return eval(expr)", "return ast.literal_eval(expr)").replace(
        "import subprocess", "import ast\nimport subprocess"
    )
    sha["fix"] = repo.commit("calc: parse literals only (no eval)", {"app.py": fixed})
    sha["rename"] = repo.commit(
        "move the runner and drop eval",
        {"lib/runner.py": RUNNER.replace("eval(expr)", "int(expr)")},
        renames={"lib/run.py": "lib/runner.py"},
    )
    sha["delete"] = repo.commit("delete old", {"old.py": None})
    moved = (
        UTIL.replace("def risky(expr):\n    return eval(expr)\n\n\n", "")
        + "\n\ndef risky(expr):\n    return eval(expr)\n"
    )
    sha["reorder"] = repo.commit("reorder", {"util.py": moved})
    sha["split"] = repo.commit(
        "split module",
        {
            "util.py": UTIL.replace("def risky(expr):\n    return eval(expr)\n\n\n", ""),
            "risky.py": "def risky(expr):\n    return eval(expr)\n",
        },
    )
    silenced = fixed.replace("shell=True)", "shell=True)  # nosec B602 - cmd is a constant from settings")
    sha["silence"] = repo.commit("silence the scanner", {"app.py": silenced})
    sha["marker"] = repo.commit(
        "new code",
        {"app.py": silenced + "\n\ndef h(c):\n    # the input is our own constant\n    return eval(c)  # nosec B307\n"},
    )
    sha["config"] = repo.commit(
        "skip B506", {".bandit": "[bandit]\nskips = B506\n", "pyproject.toml": "[tool.bandit]\nskips = ['B506']\n"}
    )
    sha["drop"] = repo.commit("drop the legacy helper", {"extra.py": "def keep():\n    return 0\n"})
    doc = '"""Run commands. A `# nosec B602` comment is how bandit is told; not here."""\n'
    sha["mention"] = repo.commit("document", {"lib/runner.py": doc + RUNNER.replace("eval(expr)", "int(expr)")})
    repo.git("checkout", "-q", "-b", "feature")
    sha["side"] = repo.commit(
        "safe yaml",
        {"lib/runner.py": doc + RUNNER.replace("eval(expr)", "int(expr)").replace("yaml.load(", "yaml.safe_load(")},
    )
    repo.git("checkout", "-q", "main")
    sha["unrelated"] = repo.commit("docs", {"README.md": "hi\n"})
    repo.git("merge", "-q", "--no-ff", "feature", "-m", "Merge feature", date=40)
    sha["merge"] = repo.git("rev-parse", "HEAD")
    # A hook, a filter and a textconv driver the repository's own config asks for: none may run.
    hook = repo.path / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {canary}\n")
    hook.chmod(0o755)
    repo.git("config", "filter.evil.smudge", f"touch {canary}")
    repo.git("config", "diff.evil.textconv", f"touch {canary}")
    (repo.path / ".gitattributes").write_text("*.py filter=evil diff=evil\n")
    digest = tree_digest(repo.path)
    cold = mine(repo.path, settings, [Bandit(settings)])
    return History(repo, sha, settings, cold, canary, digest, tree_digest(repo.path))


def test_one_scanner_process_mines_the_whole_history(history):
    res = history.cold
    assert res.commits_scanned == 13 and res.scanner_processes == 1 and res.blobs_cached == 0
    assert res.branch == "main" and res.head == history.sha["merge"]


def test_fix_found_with_windows_edit_and_commit_facts(history):
    introduced = history.events("add", "introduced")
    assert [(e.rule_id, e.path) for e in introduced if e.path in ("setup.py", "conftest.py")] == [
        ("B108", "conftest.py"),  # the canary's path in /tmp
        ("B108", "setup.py"),
    ]
    assert [(e.rule_id, e.path, e.line) for e in introduced if e.path not in ("setup.py", "conftest.py")] == [
        ("B404", "app.py", 1),
        ("B602", "app.py", 5),
        ("B307", "app.py", 9),
        ("B307", "extra.py", 9),
        ("B506", "lib/run.py", 5),
        ("B307", "lib/run.py", 9),
        ("B307", "old.py", 2),
        ("B307", "util.py", 6),
    ]
    [fix] = history.events("fix")
    assert (fix.kind, fix.tool, fix.rule_id, fix.path, fix.line, fix.after_line) == (
        "fixed",
        "bandit",
        "B307",
        "app.py",
        9,
        10,
    )
    assert fix.cwe == [78] and fix.severity == "medium" and fix.subject == "calc: parse literals only (no eval)"
    assert fix.date == "2023-11-17T00:13:20+02:00" and fix.parent == history.sha["add"]
    assert "return eval(expr)" in fix.before and "literal_eval" in fix.after and "return eval(" not in fix.after
    assert fix.edit.search == "    return eval(expr)" and fix.edit.replace == "    return ast.literal_eval(expr)"
    assert fix.edit.start_line == fix.edit.end_line == 9
    before = history.repo.git("cat-file", "-p", fix.before_blob)
    assert before == APP.rstrip("\n") and fix.before == "\n".join(APP.splitlines()[2:13])
    assert fix.author and "dev" not in fix.author.lower() and "@" not in fix.author
    assert len(fix.fingerprint) == 32 and len(fix.id) == 16 and not fix.redacted


def test_rename_with_a_fix_is_followed(history):
    [fix] = history.events("rename")
    assert (fix.kind, fix.path, fix.before_path, fix.rule_id, fix.line) == (
        "fixed",
        "lib/runner.py",
        "lib/run.py",
        "B307",
        9,
    )


def test_deletion_and_moves_are_not_fixes(history):
    assert history.events("delete") == [] and history.events("reorder") == [] and history.events("split") == []
    assert history.cold.skipped["file deleted (not a fix)"] == 1
    assert history.cold.skipped["moved to another file (not a fix)"] == 1
    # Deleting the function that holds the flagged line removes code; it does not fix it (twice: the
    # dropped helper, and the function that moved to risky.py).
    assert history.events("drop") == [] and history.cold.skipped["disappeared, not a fix: code removed around it"] == 2


def test_a_marker_quoted_in_a_docstring_is_no_suppression(history):
    assert history.events("mention") == []


def test_nosec_is_a_suppression_with_its_justification(history):
    [sup] = history.events("silence")
    assert (sup.kind, sup.rule_id, sup.line, sup.marker) == ("suppressed", "B602", 6, "nosec")
    assert sup.justification == "cmd is a constant from settings" and sup.fingerprint
    # A marker on new code that bandit never reported is a suppression of the rule it names.
    assert [(e.kind, e.rule_id, e.line, e.justification, e.fingerprint) for e in history.events("marker")] == [
        ("suppressed", "B307", 19, "the input is our own constant", "")
    ]


def test_scanner_config_change_in_the_repository_is_not_a_fix(history):
    assert history.events("config") == []


def test_merge_commit_is_mined_against_its_first_parent(history):
    assert history.events("side") == [] and history.events("unrelated") == []
    [fix] = history.events("merge")
    assert (fix.kind, fix.rule_id, fix.path, fix.merge, fix.parent) == (
        "fixed",
        "B506",
        "lib/runner.py",
        True,
        history.sha["unrelated"],
    )


def test_nothing_from_the_history_runs_and_the_source_is_unchanged(history):
    assert not history.canary.exists()
    assert history.digest_after == history.digest_before


def test_second_run_uses_the_cache_and_spawns_no_scanner(history):
    spawned = base.processes_spawned()
    warm = mine(history.repo.path, history.settings, [Bandit(history.settings)])
    assert warm.scanner_processes == 0 and base.processes_spawned() == spawned
    assert warm.blobs_cached == history.cold.blobs_scanned and warm.blobs_scanned == 0
    assert [e.model_dump() for e in warm.events] == [e.model_dump() for e in history.cold.events]

    class OtherRules(Bandit):
        def config_id(self) -> str:
            return "other rules"

    # max_commits and since take the newest commits; another rules config is another cache entry.
    res = mine(history.repo.path, history.settings, [OtherRules(history.settings)], max_commits=2)
    assert (
        res.commits_scanned == 2
        and res.scanner_processes == 1
        and [e.commit for e in res.events] == [history.sha["merge"]]
    )
    res = mine(history.repo.path, history.settings, [Bandit(history.settings)], since="2023-11-22")
    assert res.commits_scanned == 6 and res.scanner_processes == 0  # marker ... merge


def test_shallow_clone_mines_what_it_can(history, tmp_path):
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "4", f"file://{history.repo.path}", str(clone)], check=True)
    res = mine(clone, history.settings, [Bandit(history.settings)])
    assert any("shallow clone: history before" in n and str(clone) in n for n in res.notes)
    assert 0 < res.commits_scanned < history.cold.commits_scanned and res.scanner_processes == 0
    assert [e.id for e in res.events] == [e.id for e in history.cold.events if e.commit == history.sha["merge"]]


def test_bad_inputs_are_one_line_errors(history, tmp_path):
    settings = history.settings
    with pytest.raises(SecaiError, match=r"not a git repository") as e:
        mine(tmp_path, settings, [Bandit(settings)])
    assert "\n" not in str(e.value)
    empty = Repo(tmp_path / "empty")
    with pytest.raises(SecaiError, match=r"empty: the repository has no commits"):
        mine(empty.path, settings, [Bandit(settings)])
    with pytest.raises(SecaiError, match=r"repo: branch 'nope' does not exist"):
        mine(history.repo.path, settings, [Bandit(settings)], branch="nope")
    with pytest.raises(SecaiError, match=r"not a branch name"):
        mine(history.repo.path, settings, [Bandit(settings)], branch="--output=/tmp/x")
    with pytest.raises(SecaiError, match=r"--since 'yesterday'"):
        mine(history.repo.path, settings, [Bandit(settings)], since="yesterday")
    # A folder inside a repository is not that repository.
    (tmp_path / "inner").mkdir()
    subprocess.run(["git", "init", "-q", str(tmp_path / "outer")], check=True)
    (tmp_path / "outer" / "sub").mkdir()
    with pytest.raises(SecaiError, match="not a git repository"):
        mine(tmp_path / "outer" / "sub", settings, [Bandit(settings)])


# -- a scanner that misbehaves, and the size cap (the fake scanner: no real process) -------------

RULES = [("B307", re.compile(r"\beval\("), 78)]


class LineScanner:
    """Flags `eval(` lines like bandit's B307; raises ScannerError on a batch holding `crash.py`."""

    name = "bandit"

    def __init__(self):
        self.calls: list[list[str]] = []

    def version(self) -> str:
        return "fake-1"

    def config_id(self) -> str:
        return "fake rules"

    def covers(self, path: str) -> bool:
        return path.endswith(".py")

    def scan(self, root: Path, files: list[str], *, timeout: float | None = None) -> ScanOutput:
        self.calls.append(list(files))
        if any(f.endswith("/crash.py") for f in files):
            raise ScannerError(self.name, "exited with status 2: boom")
        found: dict[str, list[Finding]] = {f: [] for f in files}
        for rel in files:
            for n, line in enumerate((root / rel).read_text(encoding="utf-8").splitlines(), 1):
                for rule, pattern, cwe in RULES:
                    if pattern.search(line):
                        loc = {"path": rel, "start_line": n, "end_line": n}
                        found[rel].append(
                            build_finding(
                                {
                                    "tool": "bandit",
                                    "rule_id": rule,
                                    "title": rule,
                                    "severity": "medium",
                                    "category": "code",
                                    "cwe": [cwe],
                                    "location": loc,
                                }
                            )
                        )
        return ScanOutput(self.name, "fake-1", "fake rules", findings=found, processes=1)


def test_a_file_that_breaks_the_scanner_costs_only_its_own_results(tmp_path):
    settings = load_settings(environ={"SECAI_HOME": str(tmp_path / "home")})
    repo = Repo(tmp_path / "r")
    repo.commit("add", {f"m{i}.py": "x = eval('1')\n" for i in range(6)} | {"crash.py": "y = 1\n"})
    scanner = LineScanner()
    res = mine(repo.path, settings, [scanner])
    assert sorted(e.path for e in res.events) == [f"m{i}.py" for i in range(6)]
    assert res.skipped == {"file not scanned: bandit: exited with status 2: boom": 1}
    assert res.notes == ["bandit: bandit: exited with status 2: boom"]
    # The failed batch was halved until crash.py was alone; each good file passed once.
    assert res.scanner_processes == len(scanner.calls) and len(scanner.calls[0]) == 7
    assert sorted(f for c in scanner.calls if not any("crash" in x for x in c) for f in c) == sorted(
        f for f in scanner.calls[0] if "crash" not in f
    )
    scanner = LineScanner()
    mine(repo.path, settings, [scanner])  # the good files come from the cache; crash.py is tried again
    assert len(scanner.calls) == 1 and len(scanner.calls[0]) == 1 and scanner.calls[0][0].endswith("/crash.py")


def test_blob_over_the_cap_is_skipped_with_a_reason(tmp_path):
    settings = load_settings(environ={"SECAI_HOME": str(tmp_path / "home")})
    settings.mine.max_blob_kb = 2
    repo = Repo(tmp_path / "r")
    repo.commit("add", {"big.py": "x = eval('1')\n" + "# filler line\n" * 200, "small.py": "y = eval('2')\n"})
    scanner = LineScanner()
    res = mine(repo.path, settings, [scanner])
    assert [e.path for e in res.events] == ["small.py"] and res.blobs_scanned == 1
    assert res.skipped == {"file not scanned: larger than 2 KB": 1}
    assert [Path(f).name for f in scanner.calls[0]] == ["small.py"]


def test_store_from_schema_1_gains_the_scan_cache(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE analysis_cache (fingerprint TEXT NOT NULL, model_id TEXT NOT NULL, prompt_version TEXT NOT NULL,
            result TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (fingerprint, model_id, prompt_version));
        INSERT INTO analysis_cache VALUES ('fp', 'm', 'v', '{"verdict": "x"}', 0);"""
    )
    db.commit()
    db.close()
    with Store(path) as s:
        assert s.schema_version() == 3
        tables = {r[0] for r in s._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "analysis_cache" not in tables  # the fingerprint-keyed cache is gone
        s.put_scans("bandit", "1.9", "cfg", {"abc:app.py": {"findings": [], "error": None}})
        assert s.get_scans("bandit", "1.9", "cfg", ["abc:app.py", "zzz:b.py"]) == {
            "abc:app.py": {"findings": [], "error": None}
        }
        assert s.get_scans("bandit", "1.10", "cfg", ["abc:app.py"]) == {}


def test_run_pipeline_mines_a_git_source_and_skips_otherwise(history, tmp_path):
    import json

    from secai.pipeline import Pipeline

    report = Path(__file__).resolve().parent.parent / "examples" / "artifacts" / "bandit-results" / "bandit.json"
    settings = history.settings.model_copy(deep=True)
    settings.mine.scanners = ["bandit"]  # the others would only be asked their versions here
    run_dir = tmp_path / "run"
    res = Pipeline(run_dir, settings, artifacts=[report], stages=["parse", "mine"], source=history.repo.path).run()
    mine_stage = next(s for s in res.stages if s.stage == "mine")
    assert mine_stage.status == "done" and "fixed" in mine_stage.note
    from secai.history.events import read_events

    lines = (run_dir / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == [e.id for e in history.cold.events]
    assert read_events(run_dir) == history.cold.events
    summary = json.loads((run_dir / "mine.json").read_text())
    assert summary["commits_scanned"] == 13 and summary["scanner_processes"] == 0 and "events" not in summary
    again = Pipeline(run_dir, settings, stages=["parse", "mine"], source=history.repo.path).run()
    assert [s.status for s in again.stages if s.stage == "mine"] == ["cached"]
    plain = tmp_path / "plain"
    plain.mkdir()
    res = Pipeline(
        tmp_path / "run2", history.settings, artifacts=[report], stages=["parse", "mine"], source=plain
    ).run()
    [skip] = [s for s in res.stages if s.stage == "mine"]
    assert skip.status == "skipped" and "is not a git repository" in skip.note and str(plain) in skip.note


def test_cli_json_has_the_fixed_keys_and_table_prints(history, tmp_path, monkeypatch, capsys):
    import json

    from secai.cli import main

    monkeypatch.setenv("SECAI_HOME", str(history.settings.home_dir))
    out = tmp_path / "events.json"
    argv = ["mine", "--source", str(history.repo.path), "--scanners", "bandit", "--format", "json", "-o", str(out)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert list(data)[:3] == ["commits_scanned", "scanner_processes", "events"]
    assert data["commits_scanned"] == 13 and data["scanner_processes"] == 0
    first = data["events"][0]
    for key in ("kind", "commit", "date", "tool", "rule_id", "path", "line", "before", "after"):
        assert key in first
    assert main(["mine", "--source", str(history.repo.path), "--scanners", "bandit", "--max-commits", "3"]) == 0
    shown = capsys.readouterr().out
    assert "fixed" in shown and "B506" in shown and "lib/runner.py" in shown and "scanner processes: 0" in shown
    assert main(["mine", "--source", str(tmp_path), "--scanners", "bandit"]) == 2
    assert main(["mine", "--source", str(history.repo.path), "--scanners", "nosuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not a git repository" in err[0] and "nosuch" in err[1]
