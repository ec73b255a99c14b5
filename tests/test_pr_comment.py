"""The Action path end to end without a model: `collect` on a push to main and on a pull request,
`run --bundle` on each (the report stage), and the comment a reviewer reads: only what the pull
request adds, at most 20 entries, duplicates merged, fixes as diffs, links to code lines."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest
from conftest import EXAMPLES

from secai.cli import main
from secai.config import load_settings
from secai.exitcodes import Exit
from secai.run.store import Store

ARTIFACTS = EXAMPLES / "artifacts"
APP = EXAMPLES / "vulnerable-app"
EVENT = Path(__file__).parent / "data" / "pull_request_event.json"
MAIN_SHA = "1" * 40
HEAD_SHA = "9b2e7c1d0a3f4e5b6c7d8e9f00112233445566aa"


def collect(tmp_path, monkeypatch, name: str, reports: list[Path], *, pr: bool, run_id: int) -> Path:
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/webapp")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_RUN_ID", str(run_id))
    if pr:
        monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
        monkeypatch.setenv("GITHUB_EVENT_PATH", str(EVENT))
        monkeypatch.setenv("GITHUB_REF", "refs/pull/57/merge")
    else:
        monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
        monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
        monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
        monkeypatch.setenv("GITHUB_SHA", MAIN_SHA)
    out = tmp_path / name
    assert main(["collect", "--out", str(out), "--", *map(str, reports)]) == Exit.OK
    return out


def process(bundle: Path, run_dir: Path, *extra: str) -> int:
    return main(["run", "--bundle", str(bundle), "--out", str(run_dir), "--stages", "report", "--no-progress", *extra])


def reports(*names: str) -> list[Path]:
    return [ARTIFACTS / n for n in names]


BASE = reports("bandit-results", "checkov-results", "trivy-config", "safety-results", "detect-secrets")
EVERYTHING = [*BASE, ARTIFACTS / "semgrep-results"]


@pytest.fixture
def base_and_pr(tmp_path, monkeypatch):
    """main's run (every report but Semgrep's) processed first, then a pull request adding Semgrep."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    settings = load_settings()
    main_bundle = collect(tmp_path, monkeypatch, "main-bundle", BASE, pr=False, run_id=100)
    assert process(main_bundle, tmp_path / "main-run") == Exit.OK
    pr_bundle = collect(tmp_path, monkeypatch, "pr-bundle", EVERYTHING, pr=True, run_id=101)
    return settings, tmp_path / "main-run", pr_bundle, tmp_path / "pr-run"


def test_run_bundle_records_runs_and_the_base_branch_like_fetch(base_and_pr):
    settings, main_run, pr_bundle, pr_run = base_and_pr
    meta = json.loads((pr_bundle / "bundle.json").read_text())
    assert (meta["base_branch"], meta["server_url"], meta["pr"]) == ("main", "https://github.com", 57)
    with Store(settings.store_path) as store:
        assert store.baseline_run("acme/webapp", "main") == "100"
        state = store.run_state("acme/webapp", "100")
        assert (state["branch"], state["pr"], state["event"], state["head_sha"]) == ("main", None, "push", MAIN_SHA)
        assert state["findings"] == len(json.loads((main_run / "findings.json").read_text()))
    assert process(pr_bundle, pr_run) == Exit.OK
    run = json.loads((pr_run / "run.json").read_text())
    assert (run["base_branch"], run["html_url"]) == ("main", "https://github.com/acme/webapp/actions/runs/101")
    with Store(settings.store_path) as store:
        assert store.run_state("acme/webapp", "101")["pr"] == 57
        assert store.baseline_run("acme/webapp", "main") == "100"  # a PR run never becomes the baseline


def test_the_comment_shows_what_the_pull_request_adds(base_and_pr):
    _settings, main_run, pr_bundle, pr_run = base_and_pr
    assert process(pr_bundle, pr_run) == Exit.OK
    comment = (pr_run / "comment.md").read_text()
    summary = (pr_run / "summary.md").read_text()
    head = re.search(r"\*\*(\d+) new findings?\*\* in this pull request .*? · (\d+) fixed · (\d+) unchanged", comment)
    assert head, comment[:600]
    new, fixed, unchanged = map(int, head.groups())
    # Semgrep's findings on lines another tool already reported are not new: they join that entry.
    entries = re.findall(r"^\*\*(\d+)\.\*\* .*$", comment, re.M)
    assert 0 < new == len(entries) <= 20 and fixed == 0 and unchanged > 50
    new_part = comment[comment.index("### New in this pull request") : comment.index("### Everything else")]
    assert "semgrep" in new_part and "bandit" not in new_part and "checkov" not in new_part
    assert "`python-jwt-no-verify`" in new_part
    assert (
        "[`app/jobs.py:36`](https://github.com/acme/webapp/blob/9b2e7c1d0a3f4e5b6c7d8e9f00112233445566aa/app/jobs.py#L36)"
        in new_part
    )
    # Everything else is counts, with the job summary holding the list.
    rest = comment[comment.index("### Everything else") :]
    assert "| unchanged |" in rest and "`B608`" not in rest
    assert "[job summary](https://github.com/acme/webapp/actions/runs/" in rest
    assert "`B608`" in summary and "semgrep `python-sqli-string-format`" in summary


def test_cross_tool_duplicates_are_one_entry(tmp_path, monkeypatch):
    bundle = collect(tmp_path, monkeypatch, "b", EVERYTHING, pr=False, run_id=7)
    assert process(bundle, tmp_path / "run") == Exit.OK
    summary = (tmp_path / "run" / "summary.md").read_text()
    line = next(ln for ln in summary.splitlines() if "`app/web.py:25`" in ln)
    assert "bandit `B608`" in line and "semgrep `python-sqli-string-format`" in line and "(2 tools)" in line
    assert sum("app/web.py:25`" in ln for ln in summary.splitlines()) == 1
    # 233 live findings (the 2 skipped Checkov checks are suppressed), 159 problems: every location
    # reported by several tools (30 in the raw reports) is one entry
    assert "**159 findings**" in summary


def test_more_than_twenty_new_findings_link_to_the_job_summary(tmp_path, monkeypatch):
    main_bundle = collect(tmp_path, monkeypatch, "m", reports("safety-results"), pr=False, run_id=1)
    assert process(main_bundle, tmp_path / "m-run") == Exit.OK
    pr_bundle = collect(tmp_path, monkeypatch, "p", EVERYTHING, pr=True, run_id=2)
    monkeypatch.setenv("GITHUB_RUN_ID", "3")  # the process job's own run, where the summary is
    assert process(pr_bundle, tmp_path / "p-run") == Exit.OK
    comment = (tmp_path / "p-run" / "comment.md").read_text()
    n = int(re.search(r"\*\*(\d+) new findings\*\*", comment).group(1))
    assert len(re.findall(r"^\*\*\d+\.\*\* ", comment, re.M)) == 20 < n
    assert f"> {n - 20} more in [the job summary](https://github.com/acme/webapp/actions/runs/3)." in comment


def _fix_row(finding: dict, old: str, new: str, provider: str = "model") -> dict:
    path = finding["location"]["path"]
    before = (APP / path).read_text()
    assert old in before
    after = before.replace(old, new, 1)
    diff = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )
    return {
        "fingerprint": finding["fingerprint"],
        "tool": finding["tool"],
        "rule_id": finding["rule_id"],
        "path": path,
        "line": finding["location"]["start_line"],
        "provider": provider,
        "status": "verified",
        "reason": "",
        "diff": diff,
        "rationale": "Verify the token's signature.",
    }


def test_new_findings_show_their_verified_fix_or_none(base_and_pr):
    """fixes.jsonl as the fix stage writes it (issue 20's fixed keys), with real diffs of the app."""
    _settings, _main_run, pr_bundle, pr_run = base_and_pr
    findings = json.loads((pr_bundle / "findings.json").read_text())
    jwt = next(f for f in findings if f["rule_id"] == "python-jwt-no-verify")
    gha = next(f for f in findings if f["rule_id"] == "github-actions-script-injection")
    rows = [
        _fix_row(jwt, 'options={"verify_signature": False}', "key=SECRET, algorithms=['HS256']"),
        {**_fix_row(gha, "run:", "run:"), "status": "rejected", "diff": "", "reason": "semgrep still reports it"},
    ]
    pr_run.mkdir(parents=True)
    (pr_run / "fixes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n")
    assert process(pr_bundle, pr_run) == Exit.OK
    comment = (pr_run / "comment.md").read_text()
    block = comment[comment.index("`python-jwt-no-verify`") :]
    block = block[: block.index("\n**", 1)]
    assert "✅ **Verified fix**" in block and "```diff\n--- a/app/jobs.py\n+++ b/app/jobs.py\n" in block
    assert "+    return jwt.decode(token, key=SECRET, algorithms=['HS256'])" in block
    assert "Verify the token" not in comment  # a model's rationale is unchecked text: not shown
    assert "model fix: review it, the scanner checked it but no test ran" in block
    gha_block = comment[comment.index("`github-actions-script-injection`") :]
    assert "_No verified fix_ (rejected: semgrep still reports it)." in gha_block[:800]
    assert comment.count("_No verified fix._") >= 1  # the other new findings


def test_the_fix_stage_output_reaches_the_comment(tmp_path, monkeypatch):
    """fixes.jsonl as secai's own fix stage writes it (the dependency provider on the app's pins)."""
    monkeypatch.setenv("SECAI_FIX__PROVIDERS", "[dependency]")
    run_dir = tmp_path / "run"
    args = ["run", "--artifacts", str(ARTIFACTS / "safety-results"), "--source", str(APP)]
    assert main([*args, "--stages", "parse,fix,report", "--out", str(run_dir), "--no-progress"]) == Exit.OK
    rows = [json.loads(line) for line in (run_dir / "fixes.jsonl").read_text().splitlines()]
    verified = [r for r in rows if r["status"] == "verified"]
    assert verified and all(r["provider"] == "dependency" for r in verified)
    comment = (run_dir / "comment.md").read_text()
    assert comment.count("✅ **Verified fix**") >= 1 and "verified by re\\-reading the manifest" in comment
    assert "```diff\ndiff --git a/requirements.txt b/requirements.txt\n" in comment
    assert "This run: **" in comment and f"{len(verified)} verified fix(es)" in comment
