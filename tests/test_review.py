"""Verified fixes as one pull-request review of suggestions, on the loopback GitHub server: posted
once with only lines inside the PR's diff, replaced (not duplicated) on the next run, out-of-diff
fixes in the sticky comment instead, and never a review GitHub would refuse with 422."""

from __future__ import annotations

import difflib
import json

import pytest
from conftest import EXAMPLES
from ghserver import github_fixture
from test_pr_comment import EVERYTHING, HEAD_SHA, collect, process

from secai.cli import main
from secai.exitcodes import Exit
from secai.github.prdiff import parse_patch
from secai.github.review import review_marker

APP = EXAMPLES / "vulnerable-app"
REPO = "acme/webapp"


def github_patch(path: str, base_text: str) -> str:
    """The `patch` GitHub lists for a file changed from `base_text` to the app's file: hunks only."""
    head = (APP / path).read_text()
    diff = difflib.unified_diff(base_text.splitlines(keepends=True), head.splitlines(keepends=True), n=3)
    return "".join(list(diff)[2:]).rstrip("\n")


def fix_row(findings: list[dict], rule: str, old: str, new: str) -> dict:
    f = next(x for x in findings if x["rule_id"] == rule)
    path = f["location"]["path"]
    before = (APP / path).read_text()
    after = before.replace(old, new, 1)
    assert after != before
    diff = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )
    return {
        "fingerprint": f["fingerprint"],
        "tool": f["tool"],
        "rule_id": f["rule_id"],
        "path": path,
        "line": f["location"]["start_line"],
        "provider": "model",
        "status": "verified",
        "reason": "",
        "diff": diff,
        "rationale": "",
    }


@pytest.fixture
def pr_run(tmp_path, monkeypatch):
    """A processed PR run of the example app (head commit HEAD_SHA) and a loopback GitHub whose PR
    #57 changed app/jobs.py around `decode_token` and app/web.py around its `__main__` block."""
    server, settings, client = github_fixture(monkeypatch)
    st = server.state
    st.add_repo(REPO)
    st.add_pull(REPO, 57, "deps/jackson", HEAD_SHA)
    jobs = (APP / "app/jobs.py").read_text()
    st.add_pull_file(
        REPO, 57, "app/jobs.py", github_patch("app/jobs.py", jobs.replace("    exec(code)\n", "    pass\n"))
    )
    web = (APP / "app/web.py").read_text()
    st.add_pull_file(REPO, 57, "app/web.py", github_patch("app/web.py", web.replace("debug=True", "debug=False")))
    st.add_pull_file(REPO, 57, "docs/logo.png", None, status="added")  # binary: no patch
    bundle = collect(tmp_path, monkeypatch, "pr-bundle", EVERYTHING, pr=True, run_id=101)
    run_dir = tmp_path / "pr-run"
    assert process(bundle, run_dir) == Exit.OK
    findings = json.loads((run_dir / "findings.json").read_text())
    yield server, settings, run_dir, findings
    client.close()
    server.__exit__(None, None, None)


def write_fixes(run_dir, rows) -> None:
    (run_dir / "fixes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def comment(run_dir, *extra: str) -> int:
    return main(["comment", "--repo", REPO, "--pr", "57", str(run_dir), *extra])


def test_the_patch_of_the_files_api_gives_the_commentable_lines():
    patch = "@@ -10,4 +10,5 @@ def f():\n a\n-b\n+B\n+C\n c\n d\n@@ -40 +41,0 @@\n-gone"
    lines = parse_patch(patch)
    assert lines.hunks == [(10, 14)] and lines.added == {11, 12}


def test_one_review_with_only_in_diff_lines_then_replaced_not_duplicated(pr_run, capsys):
    server, settings, run_dir, findings = pr_run
    st = server.state
    exec_fix = fix_row(findings, "B102", "    exec(code)\n", "    raise ValueError('plugins are disabled')\n")
    debug_fix = fix_row(findings, "B201", "debug=True", "debug=False")
    yaml_fix = fix_row(findings, "B506", "yaml.load(request.data)", "yaml.safe_load(request.data)")  # not in the diff
    write_fixes(run_dir, [exec_fix, debug_fix, yaml_fix])
    st.add_review_comment(REPO, 57, "app/jobs.py", 50, review_marker(settings, REPO) + "\nquoted by a reviewer", "rev")

    assert comment(run_dir) == Exit.OK
    assert "review created: 2 suggestion(s)" in capsys.readouterr().out
    assert st.rejected_reviews == []  # every line was checked against the diff before posting
    (review,) = [r for r in st.reviews[(REPO, 57)] if r["user"]["login"] == st.login]
    assert review["commit_id"] == HEAD_SHA and review["body"].startswith(review_marker(settings, REPO))
    ours = [c for c in st.review_comments[(REPO, 57)] if c["user"]["login"] == st.login]
    assert sorted((c["path"], c["line"], c["side"]) for c in ours) == [
        ("app/jobs.py", 50, "RIGHT"),
        ("app/web.py", 89, "RIGHT"),
    ]
    jobs = next(c for c in ours if c["path"] == "app/jobs.py")
    assert "```suggestion\n    raise ValueError('plugins are disabled')\n```" in jobs["body"]
    # the sticky comment has all three diffs; the two in the diff say they are suggestions too
    (sticky,) = [c for c in st.comments[(REPO, 57)] if c["user"]["login"] == st.login]
    body = sticky["body"]
    assert body.count("also a suggestion in this pull request's review") == 2
    yaml_part = body[body.index("yaml.safe_load") - 600 : body.index("yaml.safe_load")]
    assert "also a suggestion" not in yaml_part.split("Verified fix")[-1]

    # the same run again: nothing to change
    assert comment(run_dir) == Exit.OK
    assert st.count("POST", r"/pulls/57/reviews$") == 1 and st.count("DELETE", r"/pulls/comments/") == 0

    # a better fix for the exec call: the earlier suggestions go, the new ones come, one set only
    exec_fix2 = fix_row(findings, "B102", "    exec(code)\n", "    return None\n")
    write_fixes(run_dir, [exec_fix2, debug_fix, yaml_fix])
    assert comment(run_dir) == Exit.OK
    assert "review replaced: 2 suggestion(s)" in capsys.readouterr().out
    ours = [c for c in st.review_comments[(REPO, 57)] if c["user"]["login"] == st.login]
    assert len(ours) == 2 and any("    return None\n```" in c["body"] for c in ours)
    assert st.count("DELETE", r"/pulls/comments/") == 2 and st.rejected_reviews == []
    # the reviewer's comment that quotes the marker is not secai's: never deleted
    assert any(c["user"]["login"] == "rev" for c in st.review_comments[(REPO, 57)])

    # no verified fix in the diff any more: the earlier suggestions are removed
    write_fixes(run_dir, [yaml_fix])
    assert comment(run_dir) == Exit.OK
    assert not [c for c in st.review_comments[(REPO, 57)] if c["user"]["login"] == st.login]
    assert st.count("POST", r"/pulls/57/reviews$") == 2


def test_a_fix_partly_outside_the_diff_stays_in_the_comment(pr_run):
    server, _settings, run_dir, findings = pr_run
    st = server.state
    # one fix, two blocks: line 50 (inside the diff) and the imports at the top (outside it)
    f = next(x for x in findings if x["rule_id"] == "B102")
    before = (APP / "app/jobs.py").read_text()
    after = before.replace("    exec(code)\n", "    pass\n").replace("import random\n", "import secrets\n")
    diff = "".join(
        difflib.unified_diff(before.splitlines(True), after.splitlines(True), "a/app/jobs.py", "b/app/jobs.py")
    )
    write_fixes(
        run_dir, [{**fix_row(findings, "B102", "exec(code)", "pass"), "diff": diff, "fingerprint": f["fingerprint"]}]
    )
    assert comment(run_dir) == Exit.OK
    assert st.count("POST", r"/pulls/57/reviews$") == 0 and st.rejected_reviews == []
    body = next(c for c in st.comments[(REPO, 57)] if c["user"]["login"] == st.login)["body"]
    assert "+import secrets" in body and "also a suggestion" not in body


def test_no_review_once_the_pull_request_moved_on(pr_run, capsys):
    server, _settings, run_dir, findings = pr_run
    st = server.state
    st.pulls[(REPO, 57)]["head"]["sha"] = "f" * 40
    write_fixes(run_dir, [fix_row(findings, "B201", "debug=True", "debug=False")])
    assert comment(run_dir) == Exit.OK
    assert st.count("POST", r"/pulls/57/reviews$") == 0
    assert "no review: the pull request moved on from 9b2e7c1d0a3f to ffffffffffff" in capsys.readouterr().err
    body = next(c for c in st.comments[(REPO, 57)] if c["user"]["login"] == st.login)["body"]
    assert '+    app.run(host="0.0.0.0", port=5000, debug=False)' in body


def test_a_multi_line_fix_is_one_ranged_suggestion(pr_run):
    server, _settings, run_dir, findings = pr_run
    st = server.state
    row = fix_row(
        findings,
        "B102",
        "def load_plugin(code: str) -> None:\n    exec(code)\n",
        "def load_plugin(_code: str) -> None:\n    raise ValueError('plugins are disabled')\n",
    )
    write_fixes(run_dir, [row])
    assert comment(run_dir) == Exit.OK
    (c,) = [c for c in st.review_comments[(REPO, 57)] if c["user"]["login"] == st.login]
    assert (c["path"], c["start_line"], c["line"], c["start_side"], c["side"]) == (
        "app/jobs.py",
        49,
        50,
        "RIGHT",
        "RIGHT",
    )
    assert c["body"].endswith(
        "```suggestion\ndef load_plugin(_code: str) -> None:\n    raise ValueError('plugins are disabled')\n```"
    )
    assert st.rejected_reviews == []


def test_the_loopback_server_refuses_a_review_with_a_line_outside_the_diff(pr_run):
    """So that 'no 422' above means something: GitHub's rule, as the server enforces it."""
    from github import Auth, Github, GithubException

    server, _settings, _run_dir, _findings = pr_run
    gh = Github(auth=Auth.Token(server.state.token), base_url=server.url, retry=None)
    pull = gh.get_repo(REPO).get_pull(57)
    with pytest.raises(GithubException) as e:
        pull.create_review(
            body="x", event="COMMENT", comments=[{"path": "app/web.py", "line": 50, "side": "RIGHT", "body": "s"}]
        )
    assert e.value.status == 422 and len(server.state.rejected_reviews) == 1
    ok = pull.create_review(
        body="x", event="COMMENT", comments=[{"path": "app/web.py", "line": 89, "side": "RIGHT", "body": "s"}]
    )
    assert ok.id and len(server.state.review_comments[(REPO, 57)]) == 1
    gh.close()


def test_annotations_for_new_findings_on_changed_lines(tmp_path, monkeypatch):
    from test_pr_comment import BASE

    server, _settings, client = github_fixture(monkeypatch)
    st = server.state
    st.add_repo(REPO)
    st.add_pull(REPO, 57, "deps/jackson", HEAD_SHA)
    jobs = (APP / "app/jobs.py").read_text()
    # the pull request added decode_token (lines 35-36) and the workflow's run step
    st.add_pull_file(
        REPO,
        57,
        "app/jobs.py",
        github_patch(
            "app/jobs.py",
            jobs.replace('    return jwt.decode(token, options={"verify_signature": False})\n', "    ...\n"),
        ),
    )
    try:
        main_bundle = collect(tmp_path, monkeypatch, "m", BASE, pr=False, run_id=100)
        assert process(main_bundle, tmp_path / "m-run") == Exit.OK
        pr_bundle = collect(tmp_path, monkeypatch, "p", EVERYTHING, pr=True, run_id=101)
        assert process(pr_bundle, tmp_path / "p-run") == Exit.OK
        out = tmp_path / "annotations.txt"
        assert comment(tmp_path / "p-run", "--annotations", str(out)) == Exit.OK
        lines = out.read_text().splitlines()
        # new (Semgrep-only) findings exist in several files; only the one on a changed line is annotated
        assert lines == [
            "::error file=app/jobs.py,line=36,title=secai%3A high · semgrep python-jwt-no-verify::"
            "python jwt no verify: JWT decoded without verifying its signature."
        ]
    finally:
        client.close()
        server.__exit__(None, None, None)


def test_annotations_are_escaped_and_capped():
    from secai.findings import Category, Finding, Location, Severity
    from secai.report.annotations import PER_LEVEL, annotations
    from secai.report.entries import group

    evil = Finding(
        tool="semgrep",
        rule_id="r,1:x",
        title="100% bad\r\n::error::injected",
        message="line1\nline2 %0A",
        severity=Severity.high,
        category=Category.code,
        location=Location(path="a,b:c%.py", start_line=3),
        fingerprint="f0",
    )
    many = [
        Finding(
            tool="bandit",
            rule_id=f"B{i}",
            title=f"t{i}",
            severity=[Severity.high, Severity.low][i % 2],
            category=Category.code,
            location=Location(path="x.py", start_line=10 + i),
            fingerprint=f"f{i + 1}",
        )
        for i in range(30)
    ]
    lines, left = annotations(group([evil, *many]), lambda path, line: True)
    first = next(ln for ln in lines if "r%2C1%3Ax" in ln)
    assert first == (
        "::error file=a%2Cb%3Ac%25.py,line=3,title=secai%3A high · semgrep r%2C1%3Ax::"
        "100%25 bad%0D%0A::error::injected: line1%0Aline2 %250A"
    )
    assert all("\n" not in ln and "\r" not in ln for ln in lines)
    levels = [ln.split(" ", 1)[0] for ln in lines]
    assert levels.count("::error") == PER_LEVEL and levels.count("::warning") == PER_LEVEL
    assert left == 31 - 2 * PER_LEVEL
    assert annotations(group(many), lambda path, line: False) == ([], 0)
