"""History mining on small generated repositories, with a fake line scanner (the event logic)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from gitrepo import Repo, tree_digest

from secai.config import load_settings
from secai.errors import SecaiError
from secai.findings import Finding, build_finding
from secai.history.mine import mine
from secai.run.store import Store

# (rule, text that triggers it, CWE): a stand-in for bandit that flags lines by their text and,
# like bandit, does not report a line marked `# nosec`.
RULES = [("B307", re.compile(r"\beval\("), 78), ("B602", re.compile("shell=True"), 78)]


class LineScanner:
    name = "bandit"

    def __init__(self, version: str = "fake-1", config: str = "rules-1"):
        self._version, self._config = version, config
        self.calls: list[list[str]] = []

    def version(self) -> str:
        return self._version

    def config_id(self) -> str:
        return self._config

    def covers(self, path: str) -> bool:
        return path.endswith(".py")

    def scan(self, root: Path, files: list[str], timeout: float):
        self.calls.append(list(files))
        found: dict[str, list[Finding]] = {}
        for rel in files:
            for n, line in enumerate((root / rel).read_text(encoding="utf-8").splitlines(), 1):
                if "nosec" in line:
                    continue
                for rule, needle, cwe in RULES:
                    if needle.search(line):
                        found.setdefault(rel, []).append(
                            build_finding(
                                {
                                    "tool": "bandit",
                                    "rule_id": rule,
                                    "title": f"rule {rule}",
                                    "severity": "high",
                                    "category": "code",
                                    "cwe": [cwe],
                                    "message": f"{rule} at {n}",
                                    "location": {"path": rel, "start_line": n, "end_line": n},
                                }
                            )
                        )
        return found, {}


APP = """import subprocess


def run(cmd):
    return subprocess.call(cmd, shell=True)


def calc(expr):
    return eval(expr)


def other():
    return 1
"""


@pytest.fixture
def settings(tmp_path):
    return load_settings(environ={"SECAI_HOME": str(tmp_path / "home")})


def _mine(repo: Repo, settings, scanner=None, **kw):
    scanner = scanner or LineScanner()
    return mine(repo.path, settings, [scanner], **kw), scanner


def _by_kind(result, kind):
    return [e for e in result.events if e.kind == kind]


def test_fix_found_with_windows_edit_and_commit_facts(tmp_path, settings):
    repo = Repo(tmp_path / "r")
    repo.commit("add app", {"app.py": APP})
    fixed = APP.replace("return eval(expr)", "return ast.literal_eval(expr)").replace(
        "import subprocess", "import ast\nimport subprocess"
    )
    sha = repo.commit("calc: parse literals only (no eval)", {"app.py": fixed})
    res, _ = _mine(repo, settings)
    assert res.commits_scanned == 2
    assert [(e.rule_id, e.line) for e in _by_kind(res, "introduced")] == [("B602", 5), ("B307", 9)]
    [fix] = _by_kind(res, "fixed")
    assert (fix.commit, fix.tool, fix.rule_id, fix.path, fix.line, fix.after_line) == (sha, "bandit", "B307", "app.py", 9, 10)
    assert fix.cwe == [78] and fix.subject == "calc: parse literals only (no eval)"
    assert fix.date.endswith("+02:00") and fix.date.startswith("2023-11-1")
    assert "return eval(expr)" in fix.before and "literal_eval" in fix.after and "return eval(" not in fix.after
    assert fix.edit.search == "    return eval(expr)" and fix.edit.replace == "    return ast.literal_eval(expr)"
    assert fix.edit.start_line == fix.edit.end_line == 9
    assert fix.before_blob and fix.after_blob and fix.parent
    assert fix.author and "dev" not in fix.author and "@" not in fix.author
    assert len(fix.fingerprint) == 32 and fix.id


def test_second_run_uses_the_cache_and_spawns_no_scanner(tmp_path, settings):
    repo = Repo(tmp_path / "r")
    repo.commit("add", {"app.py": APP, "b.py": "x = eval('1')\n"})
    repo.commit("fix", {"app.py": APP.replace("eval(expr)", "int(expr)")})
    cold, s1 = _mine(repo, settings)
    assert cold.scanner_processes == 1 and len(s1.calls) == 1  # every blob of every commit in one process
    assert sorted(s1.calls[0]) == sorted(set(s1.calls[0])) and len(s1.calls[0]) == 3
    warm, s2 = _mine(repo, settings)
    assert warm.scanner_processes == 0 and s2.calls == [] and warm.blobs_cached == 3
    assert [e.model_dump() for e in warm.events] == [e.model_dump() for e in cold.events]
    # Another scanner version or rules config is another cache entry.
    other, s3 = _mine(repo, settings, LineScanner(config="rules-2"))
    assert other.scanner_processes == 1 and len(s3.calls[0]) == 3


def test_rename_with_a_fix_is_followed(tmp_path, settings):
    repo = Repo(tmp_path / "r")
    repo.commit("add", {"src/app.py": APP})
    repo.commit("move and fix", {"lib/calc.py": APP.replace("eval(expr)", "int(expr)")}, renames={"src/app.py": "lib/calc.py"})
    res, _ = _mine(repo, settings)
    [fix] = _by_kind(res, "fixed")
    assert (fix.path, fix.before_path, fix.rule_id, fix.line) == ("lib/calc.py", "src/app.py", "B307", 9)
    assert not _by_kind(res, "introduced")[2:]  # only the first commit's two findings


def test_deletion_pure_move_and_unrelated_change_are_not_fixes(tmp_path, settings):
    repo = Repo(tmp_path / "r")
    repo.commit("add", {"app.py": APP, "old.py": "def f(x):\n    return eval(x)\n", "util.py": "def g():\n    pass\n"})
    repo.commit("delete old", {"old.py": None})
    moved = APP.replace("\ndef calc(expr):\n    return eval(expr)\n", "") + "\n\ndef calc(expr):\n    return eval(expr)\n"
    repo.commit("reorder", {"app.py": moved})
    # The flagged line moves to another file: neither fixed nor introduced.
    repo.commit(
        "split module",
        {"app.py": moved.replace("\n\ndef calc(expr):\n    return eval(expr)\n", ""), "util.py": "def g():\n    pass\n\n\ndef calc(expr):\n    return eval(expr)\n"},
    )
    res, _ = _mine(repo, settings)
    assert _by_kind(res, "fixed") == []
    assert [e.path for e in _by_kind(res, "introduced")] == ["app.py", "app.py", "old.py"]
    assert res.skipped["file deleted (not a fix)"] == 1
    assert res.skipped["moved to another file (not a fix)"] == 1


def test_nosec_is_a_suppression_with_its_justification(tmp_path, settings):
    repo = Repo(tmp_path / "r")
    repo.commit("add", {"app.py": APP})
    silenced = APP.replace("shell=True)", "shell=True)  # nosec B602 - cmd is a constant from settings")
    sha = repo.commit("silence the scanner", {"app.py": silenced})
    res, _ = _mine(repo, settings)
    assert _by_kind(res, "fixed") == []
    [sup] = _by_kind(res, "suppressed")
    assert (sup.commit, sup.rule_id, sup.line, sup.marker) == (sha, "B602", 5, "nosec")
    assert sup.justification == "cmd is a constant from settings"
    # A marker on new code that the scanner never reported is a (rule-named) suppression too.
    repo.commit("new code", {"app.py": silenced + "\n\ndef h(c):\n    # the input is our own constant\n    return eval(c)  # nosec B307\n"})
    res, _ = _mine(repo, settings)
    last = [e for e in res.events if e.commit == repo.git("rev-parse", "HEAD")]
    assert [(e.kind, e.rule_id, e.line, e.justification, e.fingerprint) for e in last] == [
        ("suppressed", "B307", 18, "the input is our own constant", "")
    ]


def test_scanner_config_change_in_the_repository_is_not_a_fix(tmp_path, settings):
    repo = Repo(tmp_path / "r")
    repo.commit("add", {"app.py": APP})
    repo.commit("skip B307", {".bandit": "[bandit]\nskips = B307\n", "pyproject.toml": "[tool.bandit]\nskips = ['B307']\n"})
    res, _ = _mine(repo, settings)
    assert _by_kind(res, "fixed") == [] and res.commits_scanned == 2


def test_merge_commit_is_mined_against_its_first_parent(tmp_path, settings):
    repo = Repo(tmp_path / "r")
    repo.commit("add", {"app.py": APP})
    repo.git("checkout", "-q", "-b", "feature")
    side = repo.commit("fix on a branch", {"app.py": APP.replace("eval(expr)", "int(expr)")})
    repo.git("checkout", "-q", "main")
    repo.commit("unrelated", {"README.md": "hi\n"})
    repo.git("merge", "-q", "--no-ff", "feature", "-m", "Merge feature", date=9)
    merge = repo.git("rev-parse", "HEAD")
    res, _ = _mine(repo, settings)
    assert res.commits_scanned == 3  # add, unrelated, merge: the branch commit itself is not walked
    [fix] = _by_kind(res, "fixed")
    assert fix.commit == merge and fix.merge and fix.commit != side


def test_since_and_max_commits(tmp_path, settings):
    repo = Repo(tmp_path / "r")
    for i in range(4):
        repo.commit(f"c{i}", {f"m{i}.py": f"x = eval('{i}')\n"})
    res, _ = _mine(repo, settings, max_commits=2)
    assert res.commits_scanned == 2 and [e.path for e in res.events] == ["m2.py", "m3.py"]
    res, _ = _mine(repo, settings, since="2023-11-17")  # day 3 and 4 of the fixed dates
    assert res.commits_scanned == 2


def test_shallow_clone_mines_what_it_can(tmp_path, settings):
    repo = Repo(tmp_path / "r")
    repo.commit("add", {"app.py": APP})
    repo.commit("more", {"b.py": "y = 1\n"})
    repo.commit("fix", {"app.py": APP.replace("eval(expr)", "int(expr)")})
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{repo.path}", str(clone)], check=True)
    res = mine(clone, settings, [LineScanner()])
    assert res.commits_scanned == 1 and [e.kind for e in res.events] == ["fixed"]
    assert any("shallow clone" in n and str(clone) in n for n in res.notes)


def test_bad_inputs_are_one_line_errors(tmp_path, settings):
    with pytest.raises(SecaiError, match=r"not a git repository") as e:
        mine(tmp_path, settings, [LineScanner()])
    assert "\n" not in str(e.value)
    empty = Repo(tmp_path / "empty")
    with pytest.raises(SecaiError, match=r"empty: the repository has no commits"):
        mine(empty.path, settings, [LineScanner()])
    repo = Repo(tmp_path / "r")
    repo.commit("add", {"app.py": APP})
    with pytest.raises(SecaiError, match=r"r: branch 'nope' does not exist"):
        mine(repo.path, settings, [LineScanner()], branch="nope")
    with pytest.raises(SecaiError, match=r"not a branch name"):
        mine(repo.path, settings, [LineScanner()], branch="--output=/tmp/x")
    # A folder inside a repository is not that repository.
    (repo.path / "sub").mkdir()
    with pytest.raises(SecaiError, match="not a git repository"):
        mine(repo.path / "sub", settings, [LineScanner()])


def test_blob_over_the_cap_is_skipped_with_a_reason(tmp_path, settings):
    repo = Repo(tmp_path / "r")
    big = "x = eval('1')\n" + "# filler line\n" * 200
    repo.commit("add", {"big.py": big, "small.py": "y = eval('2')\n"})
    settings.mine.max_blob_kb = 2
    res, scanner = _mine(repo, settings)
    assert [e.path for e in res.events] == ["small.py"]
    assert res.skipped == {"file not scanned: larger than 2 KB": 1}
    assert all("big" not in f for f in scanner.calls[0])


def test_nothing_from_the_history_runs_and_the_source_is_unchanged(tmp_path, settings):
    repo = Repo(tmp_path / "r")
    canary = tmp_path / "canary"
    payload = f"open({str(canary)!r}, 'w').write('ran')\n"
    repo.commit("add", {"setup.py": payload, "conftest.py": payload, "app.py": APP})
    repo.commit("fix", {"app.py": APP.replace("eval(expr)", "int(expr)"), "setup.py": payload + "x = eval('1')\n"})
    # A hook and a filter the repository's own config asks for must never run either.
    hooks = repo.path / ".git" / "hooks"
    (hooks / "post-checkout").write_text(f"#!/bin/sh\ntouch {canary}\n")
    (hooks / "post-checkout").chmod(0o755)
    repo.git("config", "filter.evil.smudge", f"touch {canary}")
    repo.git("config", "diff.evil.textconv", f"touch {canary}")
    (repo.path / ".gitattributes").write_text("*.py filter=evil diff=evil\n")
    before = tree_digest(repo.path)
    res, _ = _mine(repo, settings)
    assert {e.path for e in res.events} >= {"app.py", "setup.py"}
    assert not canary.exists()
    assert tree_digest(repo.path) == before


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
        assert s.schema_version() == 2
        assert s.get_analyses(["fp"], "m", "v") == {"fp": {"verdict": "x"}}
        s.put_scans("bandit", "1.9", "cfg", {"abc:app.py": {"findings": [], "error": None}})
        assert s.get_scans("bandit", "1.9", "cfg", ["abc:app.py", "zzz:b.py"]) == {
            "abc:app.py": {"findings": [], "error": None}
        }
        assert s.get_scans("bandit", "1.10", "cfg", ["abc:app.py"]) == {}
