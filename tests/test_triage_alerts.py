"""Code scanning alerts as triage labels: read through PyGithub from the loopback GitHub server
(pagination, dismissed and fixed states, code scanning off -> a note), from a file (`run --alerts`),
and over the demo: its history's suppressions and its alerts file become labels."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES
from ghserver import github_fixture, make_zip

from secai.cli import main
from secai.config import load_settings
from secai.github.alerts import fetch_alerts
from secai.github.fetch import fetch_runs
from secai.triage.alerts import ALERTS, read_alerts_file
from secai.triage.labels import read_labels

ALERTS_FILE = EXAMPLES / "code-scanning-alerts.json"
BANDIT = EXAMPLES / "artifacts" / "bandit-results" / "bandit.json"


@pytest.fixture
def gh(monkeypatch):
    server, settings, client = github_fixture(monkeypatch, per_page=2)
    server.state.add_repo("acme/app")
    yield server, settings, client
    client.close()
    server.__exit__(None, None, None)


def add_demo_alerts(st, repo="acme/app"):
    st.add_alert(repo, "B602", "bandit", "app/jobs.py", 12)
    st.add_alert(repo, "B105", "bandit", "app/settings.py", 6, state="dismissed", dismissed_reason="used in tests")
    st.add_alert(
        repo,
        "B311",
        "bandit",
        "app/jobs.py",
        33,
        state="dismissed",
        dismissed_reason="false positive",
        dismissed_comment="retry jitter, not a token",
    )
    st.add_alert(repo, "B608", "bandit", "app/web.py", 25, state="dismissed", dismissed_reason="won't fix")
    st.add_alert(repo, "B324", "bandit", "app/storage.py", 13, state="fixed")


def test_alerts_are_read_across_pages(gh):
    server, _, client = gh
    add_demo_alerts(server.state)
    raw, note = fetch_alerts(client, "acme/app")
    assert [a["number"] for a in raw] == [1, 2, 3, 4, 5]
    assert note == "acme/app: 5 code scanning alert(s) (3 dismissed, 1 fixed, 1 open)"
    assert server.state.count("GET", r"/code-scanning/alerts") == 3  # per_page=2: pages by Link headers


@pytest.mark.parametrize(
    "status, message",
    [
        (404, "no analysis found"),
        (403, "Code scanning is not enabled for this repository."),
        (403, "Resource not accessible by integration"),
    ],
)
def test_code_scanning_off_is_a_note_not_a_failure(gh, status, message):
    server, _, client = gh
    server.state.disable_code_scanning("acme/app", status, message)
    raw, note = fetch_alerts(client, "acme/app")
    assert raw is None and note == f"acme/app: no code scanning alerts read (HTTP {status}: {message})"


def test_fetch_writes_alerts_once_per_fetch_and_a_disabled_repository_still_fetches(gh, caplog):
    server, settings, client = gh
    st = server.state
    add_demo_alerts(st)
    for _ in range(2):
        st.add_artifact("acme/app", st.add_run("acme/app"), "bandit", make_zip({"bandit.json": BANDIT.read_bytes()}))
    summary = fetch_runs("acme/app", settings, client=client)
    assert len(summary.runs) == 2 and all(r.complete and r.findings for r in summary.runs)
    for r in summary.runs:
        alerts, notes = read_alerts_file(Path(r.run_dir) / ALERTS)
        assert notes == [] and [a.state for a in alerts] == ["open", "dismissed", "dismissed", "dismissed", "fixed"]
    assert st.count("GET", r"/code-scanning/alerts") == 3  # one listing for the whole fetch
    st.add_repo("acme/off")
    st.disable_code_scanning("acme/off", 403)
    st.add_artifact("acme/off", st.add_run("acme/off"), "bandit", make_zip({"bandit.json": BANDIT.read_bytes()}))
    with caplog.at_level(logging.INFO, logger="secai"):
        [off] = fetch_runs("acme/off", settings, client=client).runs
    assert off.complete and off.errors == [] and not (Path(off.run_dir) / ALERTS).exists()
    assert "acme/off: no code scanning alerts read (HTTP 403: Code scanning is not enabled" in caplog.text
    # a server error is a note too: the alerts are optional
    st.add_artifact("acme/off", st.add_run("acme/off"), "bandit", make_zip({"bandit.json": BANDIT.read_bytes()}))
    st.disable_code_scanning("acme/off", 410, "gone")
    with caplog.at_level(logging.INFO, logger="secai"):
        [again] = fetch_runs("acme/off", settings, client=client).runs
    assert again.complete and "acme/off: code scanning alerts not read" in caplog.text


def test_alerts_file_labels_match_the_run_findings(tmp_path, capsys):
    run = tmp_path / "run"
    bad = tmp_path / "alerts.json"
    items = json.loads(ALERTS_FILE.read_text())
    bad.write_text(json.dumps([*items, {"number": "x"}, "not an alert"]))
    code = main(
        ["run", "--artifacts", str(EXAMPLES / "artifacts"), "--out", str(run), "--stages", "parse,labels"]
        + ["--alerts", str(bad), "--no-progress"]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "alert [7] left out" in err and "alert [8] left out (an alert is not an object)" in err
    labels = {lb.source: [] for lb in read_labels(run)}
    for lb in read_labels(run):
        labels[lb.source].append(lb)
    alerts = {(lb.rule_id, lb.line): lb for lb in labels["code-scanning"]}
    findings = {f["fingerprint"]: f for f in json.loads((run / "findings.json").read_text())}
    # the four dismissed alerts are about findings of this run; the open one gives no label
    dismissed = {k: v for k, v in alerts.items() if v.verdict != "true positive"}
    assert {k: v.verdict for k, v in dismissed.items()} == {
        ("AWS-0089", 7): "accepted risk",
        ("B311", 32): "false positive",
        ("B105", 6): "false positive",
        ("python-hardcoded-credential", 5): "false positive",
    }
    assert all(v.fingerprint in findings for v in dismissed.values())
    assert alerts[("B105", 6)].reason.startswith("Only the local test settings use this value")
    assert alerts[("python-hardcoded-credential", 5)].reason == "false positive"
    assert alerts[("AWS-0089", 7)].origin == "https://github.com/acme/vulnerable-app/security/code-scanning/6"
    # the fixed ones are about findings since gone: keys of their own
    fixed = sorted(k for k, v in alerts.items() if v.verdict == "true positive")
    assert fixed == [("B113", 18), ("B324", 13)]
    assert all(
        v.fingerprint.startswith("code-scanning:bandit:") for v in alerts.values() if v.verdict == "true positive"
    )
    assert (
        main(["run", "--artifacts", str(BANDIT), "--out", str(tmp_path / "r2"), "--alerts", str(tmp_path / "no")]) == 2
    )


@pytest.fixture(scope="module")
def demo_history(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("demo-history") / "repo"
    subprocess.run([sys.executable, str(EXAMPLES / "history" / "build.py"), str(dest), "--no-check"], check=True)
    return dest


def test_demo_history_and_alerts_become_labels(demo_history, tmp_path):
    """`run` over the demo: the history's seven suppressions with their justifications, its fixes,
    and the demo alerts file all become labels; a fixed alert and the mined fix of the same site
    are one label."""
    from secai.pipeline import run_pipeline

    settings = load_settings(
        overrides={
            "home": str(tmp_path / "home"),
            "scanners": {"semgrep": {"config": str(EXAMPLES / "semgrep-rules.yml")}},
        },
        environ={},
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / ALERTS).write_bytes(ALERTS_FILE.read_bytes())
    res = run_pipeline(
        run,
        settings,
        artifacts=[EXAMPLES / "artifacts"],
        source=demo_history,
        stages=["parse", "mine", "labels"],
        progress=False,
    )
    assert [s.status for s in res.stages] == ["done", "done", "done"], res.stages
    labels = read_labels(run)
    mined = {(lb.tool, lb.rule_id): lb for lb in labels if lb.source == "history" and lb.verdict != "true positive"}
    assert {k: (v.verdict, v.reason) for k, v in mined.items()} == {
        ("bandit", "B105"): ("false positive", "test fixture, not a credential"),
        ("bandit", "B311"): ("false positive", "retry jitter, not a secret"),
        ("semgrep", "python-weak-hash-md5"): ("false positive", "cache key, not security"),
        ("trivy", "AWS-0089"): ("accepted risk", "access logs not needed for a static site"),
        ("trivy", "AWS-0092"): ("accepted risk", "public website bucket by design"),
    }
    # the two checkov skips are still in today's report: the report's record and the mined commit agree
    skips = {lb.rule_id: lb for lb in labels if lb.source == "checkov-skip"}
    assert set(skips) == {"CKV_AWS_20", "CKV_AWS_144"}
    assert skips["CKV_AWS_20"].reason == "public website bucket by design"
    by_source = res.labels["by_source"]
    # 4 dismissed alerts on today's findings, and fixed alert #1; fixed alert #2 joined the mined fix
    # of its site, whose (line-independent) fingerprint a later fix of the same file shares: that wins
    assert by_source["code-scanning"] == 5 and by_source["history"] > 150
    assert not any(lb.fingerprint.startswith("code-scanning:") for lb in labels)
    # fixed alert #1 (B113, app/notifications.py:18) and the commit that fixed it: one label, the alert's (later)
    [sms] = [lb for lb in labels if lb.rule_id == "B113" and lb.path == "app/notifications.py" and lb.line == 18]
    assert sms.source == "code-scanning" and sms.verdict == "true positive" and not sms.overridden
    assert res.labels["by_verdict"]["false positive"] >= 6 and res.labels["by_verdict"]["accepted risk"] >= 5
