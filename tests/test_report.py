"""The PR comment and job summary from run folders in every state, and `secai-runner comment`."""

from __future__ import annotations

import json
import re

import pytest
from ghserver import github_fixture

from secai.cli import main
from secai.config import load_settings
from secai.findings import Category, Finding, Location, Package, Severity, dedupe, finding_json
from secai.ingest.redact import redaction_marker
from secai.report.build import COMMENT_LIMIT, SUMMARY_LIMIT, comment_size, marker_comment, write_reports
from secai.run.store import Store

MARKER = "<!-- secai-report:"  # then a hash of the repository
PING = re.compile(r"(?<![A-Za-z0-9_\u200d])@[A-Za-z0-9]")


def _finding(i: int, sev: Severity = Severity.high, **kw) -> Finding:
    base = dict(
        tool="semgrep",
        rule_id=f"rule-{i}",
        title=f"Issue {i}",
        severity=sev,
        category=Category.code,
        location=Location(path=f"src/f{i}.py", start_line=i + 1),
        message=f"message {i}",
        cwe=[79],
    )
    base.update(kw)
    return Finding(**base)


def _write(run_dir, findings=None, **files):
    run_dir.mkdir(parents=True, exist_ok=True)
    if findings is not None:
        (run_dir / "findings.json").write_text(json.dumps([finding_json(f) for f in dedupe(findings)]))
    for name, data in files.items():
        p = run_dir / name.replace("__", "/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(data if isinstance(data, str) else json.dumps(data))
    return run_dir


def test_loss_series_shapes():
    from secai.report.build import loss_series

    assert loss_series({"train_losses": [3.0, 2.0]}) == [(1, 3.0), (2, 2.0)]
    assert loss_series({"losses": [[10, 1.5], [20, "nan"], [30, 1.0]]}) == [(10, 1.5), (30, 1.0)]
    assert loss_series({"history": {"val": [{"iteration": 5, "val_loss": 0.7}]}}, "val") == [(5, 0.7)]
    assert loss_series({"history": "broken"}) == [] and loss_series(None) == []


def test_publish_links_from_a_publish_result():
    from secai.report.build import publish_links

    res = {
        "dry_run": False,
        "published": True,
        "repos": [
            {"kind": "dataset", "repo_id": "me/ds", "url": "https://huggingface.co/datasets/me/ds"},
            {"kind": "model", "repo_id": "me/m", "url": "https://huggingface.co/me/m"},
        ],
    }
    assert publish_links(res) == [
        ("dataset: me/ds", "https://huggingface.co/datasets/me/ds"),
        ("model: me/m", "https://huggingface.co/me/m"),
    ]
    assert publish_links({**res, "dry_run": True}) == []


def test_right_after_fetch_only_findings(tmp_path):
    settings = load_settings()
    run = _write(
        tmp_path / "r",
        [_finding(1), _finding(2, Severity.low, tool="trivy")],
        run_json={"repo": "acme/app", "run_id": "42", "branch": "main", "head_sha": "abcdef1234"},
    )
    (run / "run_json").rename(run / "run.json")
    comment, summary = write_reports(run, settings, environ={})
    assert comment.startswith(marker_comment(load_settings(), "acme/app") + "\n") and comment.count(MARKER) == 1
    assert "**2 findings** (🔴 1 high · 🟡 1 low)" in comment
    assert "No processed run of `main` to compare with yet, so this lists them all." in comment
    assert comment.count("No processed run") == 1
    assert "### Findings (2)" in comment and "**1.** 🔴 **high** · semgrep `rule-1`" in comment
    assert "### Fix evaluation" not in comment and "### Published" not in comment and "more in" not in comment
    # code lines link to the commit (the API URL names github.com)
    assert "[`src/f1.py:2`](https://github.com/acme/app/blob/abcdef1234/src/f1.py#L2)" in comment
    assert "`abcdef1`" in comment and "[run 42](https://github.com/acme/app/actions/runs/42)" in comment
    assert (run / "comment.md").read_text() == comment and (run / "summary.md").read_text() == summary
    assert MARKER not in summary


def test_empty_run_folder(tmp_path):
    comment, _ = write_reports(_write(tmp_path / "r"), load_settings())
    assert "**No findings.**" in comment and "### Findings" not in comment


def test_new_fixed_and_unchanged_against_the_base_branch(tmp_path):
    settings = load_settings()
    a, b, c, d = _finding(1), _finding(2), _finding(3), _finding(4, Severity.critical)
    main_dir = _write(tmp_path / "main", [a, b, c])
    main_fps = [f["fingerprint"] for f in json.loads((main_dir / "findings.json").read_text())]
    with Store(settings.store_path) as store:
        store.record_run("acme/app", 1, fingerprints=main_fps, branch="main", event="push", run_dir=str(main_dir))
        # a fork's PR from its own `main` must not become the baseline
        store.record_run("acme/app", 2, fingerprints=[], branch="main", event="pull_request")
    pr_dir = _write(tmp_path / "pr", [b, c, d])
    (pr_dir / "run.json").write_text(
        json.dumps(
            {
                "repo": "acme/app",
                "run_id": "3",
                "branch": "feat",
                "pr": 5,
                "base_branch": "main",
                "event": "pull_request",
            }
        )
    )
    comment, summary = write_reports(pr_dir, settings)
    assert (
        "**1 new finding** in this pull request (🟥 1 critical) · 1 fixed · 2 unchanged, compared with main \\(run 1\\)."
        in comment
    )
    new = comment.index("### New in this pull request (1)")
    fixed = comment.index("### Fixed (1)")
    rest = comment.index("### Everything else")
    assert new < fixed < rest
    assert "rule-4" in comment[new:fixed] and "rule-1" in comment[fixed:rest]
    # the unchanged findings are counts in the comment, a list in the job summary
    assert "rule-2" not in comment and "| unchanged | 0 | 2 | 0 | 0 | 0 | 0 | 2 |" in comment
    assert "rule-2" in summary and "rule-3" in summary
    # an explicit baseline (fingerprints only) works without the store
    explicit, _ = write_reports(pr_dir, settings, baseline_fingerprints=main_fps[:1])
    assert "**3 new findings**" in explicit and "details are no longer on this machine" in explicit


def test_fix_evaluation_loss_chart_and_links_but_never_the_analysis_text(tmp_path):
    f = dedupe(
        [
            _finding(
                1,
                package=Package(ecosystem="PyPI", name="jinja2", version="2.0", fixed_versions=["3.1.5"]),
                location=None,
                category=Category.dependency,
                vulnerability_ids=["CVE-2024-1"],
            )
        ]
    )[0]
    run = _write(
        tmp_path / "r",
        [f],
        eval_json={
            "gate": {"enabled": True, "passed": True, "margin": 0.58, "required_margin": 0.1},
            "fix": {
                "k": 4,
                "cases": 12,
                "base": {"n": 12, "proposed": 3, "verified": 1, "verified_rate": 1 / 12, "verified_rate_at_1": 0.0},
                "tuned": {"n": 12, "proposed": 11, "verified": 8, "verified_rate": 8 / 12, "verified_rate_at_1": 0.5},
                "deterministic": {
                    "n": 12,
                    "proposed": 4,
                    "verified": 4,
                    "verified_rate": 4 / 12,
                    "verified_rate_at_1": 4 / 12,
                },
            },
        },
        adapter__training_json={
            "history": {
                "train": [{"iteration": s, "train_loss": 4.0 / s, "learning_rate": 1e-4} for s in range(1, 101)],
                "val": [{"iteration": 0, "val_loss": 3.9}, {"iteration": 50, "val_loss": 0.5}],
            }
        },
        publish_json={
            "run_dir": "r",
            "run_id": "1",
            "dry_run": False,
            "published": True,
            "repos": [
                {
                    "kind": "dataset",
                    "repo_id": "me/ds",
                    "repo_type": "dataset",
                    "url": "https://huggingface.co/datasets/me/ds",
                },
                {"kind": "model", "repo_id": "me/m", "repo_type": "model", "url": "javascript:alert(1)"},
            ],
        },
    )
    for src, dst in (
        ("eval_json", "eval.json"),
        ("adapter/training_json", "adapter/training.json"),
        ("publish_json", "publish.json"),
    ):
        (run / src).rename(run / dst)
    (run / "analysis.jsonl").write_text(
        json.dumps(
            {
                "fingerprint": f.fingerprint,
                "verdict": "true_positive",
                "risk": "The code is vulnerable to a Zero-Knowledge Fallacy",
                "remediation": "Upgrade jinja2 to 3.1.5 @security-team",
            }
        )
        + "\nnot json\n"
    )
    comment, summary = write_reports(run, load_settings())
    # the analysis stage's free text is checked by nothing, so it is never shown
    for text in (comment, summary):
        assert "Verdict" not in text and "Zero" not in text and "security-team" not in text
    section = comment[comment.index("### Fix evaluation") :]
    assert "| | base | tuned | deterministic |" in section
    assert "| verified rate | 0.08 | 0.67 | 0.33 |" in section and "| verified at 1 | 0.00 | 0.50 | 0.33 |" in section
    assert "| held-out fixes | 12 | 12 | 12 |" in section and "Evaluation gate: passed" in section
    chart = section[section.index("```mermaid") :]
    assert "xychart-beta" in chart and chart.count("    line [") == 2  # training and validation loss
    assert "Best validation loss 0.500 at step 50." in section
    assert "[dataset\\: me/ds](https://huggingface.co/datasets/me/ds)" in comment
    assert "(javascript:" not in comment


def test_hostile_finding_text_is_escaped(tmp_path):
    evil = _finding(
        1,
        title="<script>alert(1)</script> @org/team",
        rule_id="x<!-- secai-report -->",
        message="see <!-- secai-report --> and <img src=x onerror=alert(1)> cc @org/team\n# heading",
        remediation="@admin run `rm -rf /`",
    )
    comment, summary = write_reports(_write(tmp_path / "r", [evil]), load_settings())
    for text in (comment, summary):
        assert "<script" not in text and "<img" not in text
        assert not PING.search(text)
    assert comment.count(MARKER) == 1 and comment.startswith(MARKER)
    assert "\n# heading" not in comment


def test_five_thousand_findings_are_truncated_below_the_cap(tmp_path, monkeypatch):
    step = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    findings = [
        _finding(
            i, [Severity.critical, Severity.high, Severity.medium, Severity.low][i % 4], message="long text " * 100
        )
        for i in range(5000)
    ]
    comment, summary = write_reports(_write(tmp_path / "r", findings), load_settings())
    assert comment_size(comment) < COMMENT_LIMIT <= 65536
    assert "**5000 findings**" in comment and "so this lists the 20 highest-rated of them" in comment
    listed = re.findall(r"^\*\*(\d+)\.\*\* (\S+) \*\*(\w+)\*\*", comment, re.M)
    assert [int(n) for n, _, _ in listed] == list(range(1, 21))
    assert {sev for _, _, sev in listed} == {"critical"}  # the critical ones come first
    assert "> 4980 more in the job summary." in comment
    assert comment.rstrip().endswith("</sub>")  # the footer survived
    # the job summary lists as many as 1 MiB holds and says where the rest is
    assert len(summary.encode()) <= SUMMARY_LIMIT
    m = re.search(r"> (\d+) more in `findings.json` in the run folder\.", summary)
    shown = len(re.findall(r"^\*\*\d+\.\*\* ", summary, re.M))
    assert m and shown > 1000 and shown + int(m.group(1)) == 5000
    assert not step.exists()  # the job summary is written once, by the action's process step


def test_the_comment_cap_counts_bytes_and_utf16_units(tmp_path):
    """Astral characters count 2 UTF-16 units and 4 bytes; CJK 1 unit and 3 bytes: the cap is
    kept by the stricter count, so GitHub never refuses the body whichever way it counts."""
    assert comment_size("a\u4e2d\U0001f600") == 1 + 3 + 4
    findings = [_finding(i, message="\U0001f600\u4e2d" * 400) for i in range(400)]
    comment, _ = write_reports(_write(tmp_path / "r", findings), load_settings())
    assert comment_size(comment) <= COMMENT_LIMIT and comment_size(comment) > 1.5 * len(comment)


def test_the_final_comment_and_summary_pass_the_redaction_layer(tmp_path):
    """Model text (an analysis stored before redaction reached it) and scanner text that escaping
    would leave readable are redacted in comment.md and summary.md."""
    token = "ghp_" + "Z9y8X7w6V5" * 4
    f = dedupe([_finding(1, title="uses " + token)])[0]
    f.title = "uses " + token  # as if an older secai had written it
    run = _write(tmp_path / "r", [f])
    diff = f"--- a/src/f1.py\n+++ b/src/f1.py\n@@ -2 +2 @@\n-key = 1\n+key = '{token}'\n"
    (run / "fixes.jsonl").write_text(
        json.dumps(
            {
                "fingerprint": f.fingerprint,
                "tool": "semgrep",
                "rule_id": "rule-1",
                "path": "src/f1.py",
                "line": 2,
                "provider": "model",
                "status": "verified",
                "reason": "",
                "diff": diff,
                "rationale": "",
            }
        )
    )
    comment, summary = write_reports(run, load_settings())
    for text in (comment, summary, (run / "comment.md").read_text(), (run / "summary.md").read_text()):
        assert token not in text and redaction_marker(token) in text


@pytest.fixture
def gh(monkeypatch):
    server, settings, client = github_fixture(monkeypatch)
    server.state.add_repo("acme/app")
    yield server, settings, client
    client.close()
    server.__exit__(None, None, None)


def test_comment_command_keeps_exactly_one_comment(gh, tmp_path, capsys):
    server, settings, _ = gh
    st = server.state
    st.add_pull("acme/app", 3, "feat", "a" * 40)
    for i in range(130):
        st.add_comment("acme/app", 3, f"noise {i} {MARKER}" if i == 5 else f"noise {i}", "reviewer")
    runs = []
    for n in range(3):
        run = _write(settings.runs_dir / f"run{n}", [_finding(i) for i in range(n + 1)])
        (run / "run.json").write_text(json.dumps({"repo": "acme/app", "run_id": str(n), "pr": 3}))
        runs.append(run)
    for run in runs:
        assert main(["comment", "--repo", "acme/app", "--pr", "3", str(run)]) == 0
    assert main(["comment"]) == 0  # the latest run folder; repo and PR from its run.json; nothing changed
    out = capsys.readouterr().out.split()
    assert out[0::2] == ["created:", "updated:", "updated:", "unchanged:"]
    ours = [c for c in st.comments[("acme/app", 3)] if c["user"]["login"] == "secai-bot"]
    assert len(ours) == 1 and "**3 findings**" in ours[0]["body"]
    assert st.count("POST", r"/comments$") == 1 and st.count("PATCH", r"/comments/") == 2
    assert st.comments[("acme/app", 3)][5]["body"] == f"noise 5 {MARKER}"
    assert all(st.token not in r.body.decode() for r in st.requests)


def test_comment_command_needs_a_run_folder(tmp_path):
    assert main(["comment", "--repo", "acme/app", "--pr", "1"]) == 2
