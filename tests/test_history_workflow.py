"""Fixes between two processed workflow runs of a branch, from their findings.json and git."""

from __future__ import annotations

import json

from gitrepo import Repo

from secai.config import load_settings
from secai.findings import assign_fingerprints, build_finding, finding_json
from secai.history.workflow import workflow_events
from secai.run.store import Store

APP = "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n\n\ndef ok():\n    return 1\n"
CONF = "DEBUG = True\nSECRET = 'x'\n"


def _finding(rule, path, line):
    return build_finding(
        {
            "tool": "bandit",
            "rule_id": rule,
            "title": f"{rule} title",
            "severity": "high",
            "category": "code",
            "cwe": [78],
            "location": {"path": path, "start_line": line, "end_line": line},
        }
    )


def _run_folder(root, name, sha, findings, trusted=True, created="2025-01-01T00:00:00+00:00"):
    folder = root / name
    folder.mkdir()
    assign_fingerprints(findings)
    (folder / "findings.json").write_text(json.dumps([finding_json(f) for f in findings]))
    (folder / "run.json").write_text(
        json.dumps(
            {
                "repo": "o/r",
                "head_sha": sha,
                "branch": "main",
                "event": "push" if trusted else "workflow_run",
                "created_at": created,
            }
        )
    )
    return folder


def test_two_runs_give_the_fix_between_their_commits(tmp_path):
    repo = Repo(tmp_path / "src")
    first = repo.commit("add", {"app.py": APP, "conf.py": CONF})
    repo.commit("docs", {"README.md": "x\n"})
    fixed = APP.replace("import os", "import os\nimport subprocess").replace(
        "    os.system(cmd)", "    subprocess.run(cmd.split(), check=True)"
    )
    last = repo.commit("run: no shell", {"app.py": fixed})
    runs = tmp_path / "runs"
    runs.mkdir()
    # conf.py's B105 disappears too, but conf.py never changed: a scanner or config change.
    old = _run_folder(runs, "r1", first, [_finding("B605", "app.py", 5), _finding("B105", "conf.py", 2)])
    new = _run_folder(runs, "r2", last, [], created="2025-01-02T00:00:00+00:00")
    settings = load_settings(environ={"SECAI_HOME": str(tmp_path / "home")})
    with Store(settings.store_path) as store:
        # Recorded newest first: the order comes from the branch's history, not the store.
        store.record_run("o/r", 2, branch="main", head_sha=last, run_dir=str(new), event="push")
        store.record_run("o/r", 1, branch="main", head_sha=first, run_dir=str(old), event="push")
        store.record_run("o/r", 3, branch="main", head_sha=last, run_dir=str(new), pr=4, event="pull_request")
        res = workflow_events(store, "o/r", "main", settings, source=repo.path)
        assert res.runs == 2
        [ev] = res.events
        assert (ev.kind, ev.origin, ev.commit, ev.parent, ev.rule_id, ev.path, ev.line) == (
            "fixed",
            "workflow",
            last,
            first,
            "B605",
            "app.py",
            5,
        )
        assert "os.system(cmd)" in ev.before and "subprocess.run" in ev.after
        assert ev.subject == "run: no shell"
        # The edit is the rewrite of the flagged line (the import added above is in the window).
        assert (ev.edit.search, ev.edit.replace) == (
            "    os.system(cmd)",
            "    subprocess.run(cmd.split(), check=True)",
        )
        assert "import subprocess" in ev.after
        assert res.skipped == {"disappeared, not a fix: its file did not change": 1}

        # Without the repository (ordered by the workflow runs' times): both disappeared, no code.
        res = workflow_events(store, "o/r", "main", settings)
        assert sorted((e.kind, e.rule_id, e.before) for e in res.events) == [
            ("disappeared", "B105", None),
            ("disappeared", "B605", None),
        ]


def test_untrusted_or_unreadable_run_folders_are_left_out(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    a = _run_folder(runs, "a", "a" * 40, [_finding("B605", "app.py", 5)])
    b = _run_folder(runs, "b", "b" * 40, [], trusted=False)
    settings = load_settings(environ={"SECAI_HOME": str(tmp_path / "home")})
    with Store(settings.store_path) as store:
        store.record_run("o/r", 1, branch="main", head_sha="a" * 40, run_dir=str(a))
        store.record_run("o/r", 2, branch="main", head_sha="b" * 40, run_dir=str(b))
        store.record_run("o/r", 3, branch="main", head_sha="c" * 40, run_dir=str(runs / "gone"))
        res = workflow_events(store, "o/r", "main", settings)
    assert res.runs == 1 and res.events == []
    assert sorted(n.split(": ", 1)[1] for n in res.notes) == [
        "run 2 left out (not a trusted run of main)",
        "run 3 left out (No such file or directory)",
    ]
