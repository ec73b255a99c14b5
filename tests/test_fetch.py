"""`fetch` against the loopback GitHub server with real scanner reports from the corpus."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import MPO, requires_corpus
from ghserver import RESET, Fault, github_fixture, make_zip

from secai.cli import main
from secai.github.fetch import fetch_runs, parse_since, safe_name
from secai.run.files import read_run_meta
from secai.run.meta import may_train
from secai.run.store import Store

SEMGREP = MPO / "semgrep-results-workflow_dispatch-392" / "semgrep-results.json"
OSV = MPO / "osv-scanner-results-workflow_dispatch-392" / "osv-results.json"
CHECKOV = MPO / "checkov-results-workflow_dispatch-392" / "checkov-results.sarif"


@pytest.fixture
def gh(monkeypatch):
    server, settings, client = github_fixture(monkeypatch, per_page=4)
    server.state.add_repo("acme/app")
    yield server, settings, client
    client.close()
    server.__exit__(None, None, None)


def _run_with_reports(st, **kw):
    run = st.add_run("acme/app", **kw)
    st.add_artifact("acme/app", run, "osv-results", make_zip({"osv-results.json": OSV.read_bytes()}))
    st.add_artifact("acme/app", run, "checkov", make_zip({"out/checkov-results.sarif": CHECKOV.read_bytes()}))
    return run


@requires_corpus
def test_fetches_new_runs_across_pages_then_nothing(gh):
    server, settings, client = gh
    runs = [_run_with_reports(server.state) for _ in range(9)]
    summary = fetch_runs("acme/app", settings, client=client)
    assert [r.id for r in summary.runs] == [r["id"] for r in reversed(runs)]
    first = summary.runs[0]
    assert first.errors == [] and sorted(first.artifacts) == ["checkov", "osv-results"] and first.findings > 40
    run_dir = settings.runs_dir / f"gh-acme-app-{first.id}"
    assert not (run_dir / "inputs").exists()  # raw artifacts are deleted once parsed (issue 16, Low)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["repo"] == "acme/app" and meta["branch"] == "main" and meta["is_fork"] is False
    assert may_train(read_run_meta(run_dir), settings)[0] is True
    findings = json.loads((run_dir / "findings.json").read_text())
    assert len(findings) == first.findings
    assert json.loads((run_dir / "parse.json").read_text())["reports"]
    with Store(settings.store_path) as store:
        assert store.is_processed("acme/app", first.id)
        assert store.fingerprints("acme/app", first.id) == {f["fingerprint"] for f in findings}
    server.state.requests.clear()
    assert fetch_runs("acme/app", settings, client=client).runs == []
    assert server.state.count("GET", r"/artifacts") == 0


@requires_corpus
def test_unsafe_entries_expired_and_empty_runs_are_reported_not_fatal(gh):
    server, settings, client = gh
    settings.limits.max_file_mb = 1
    st = server.state
    bad = st.add_run("acme/app")
    st.add_artifact(
        "acme/app",
        bad,
        "evil",
        make_zip(
            {
                "../../escape.json": b"{}",
                "/abs.json": b"{}",
                "big.bin": b"\0" * (2 * 1024 * 1024),
                "semgrep.json": SEMGREP.read_bytes(),
            },
            symlinks={"link.json": "/etc/passwd"},
        ),
    )
    st.add_artifact("acme/app", bad, "osv-results", make_zip({"osv-results.json": OSV.read_bytes()}))
    st.add_artifact("acme/app", bad, "old", make_zip({"x.json": b"{}"}), expired=True)
    st.add_artifact("acme/app", bad, "not-a-zip", b"this is not a zip")
    empty = st.add_run("acme/app")
    summary = fetch_runs("acme/app", settings, client=client)
    by_id = {r.id: r for r in summary.runs}
    res = by_id[bad["id"]]
    errors = "\n".join(res.errors)
    assert "'evil': ../../escape.json: entry path is absolute or escapes" in errors
    assert "'evil': /abs.json: entry path is absolute or escapes" in errors
    assert "'evil': link.json: entry is a symlink" in errors
    assert "'evil': big.bin:" in errors and "over the 1 MB limit" in errors
    assert "artifact 'old': expired" in errors
    assert "'not-a-zip': not a readable zip archive" in errors
    assert sorted(res.artifacts) == ["evil", "osv-results"]
    tools = {
        f["tool"].lower()
        for f in json.loads((settings.runs_dir / f"gh-acme-app-{bad['id']}" / "findings.json").read_text())
    }
    assert {"semgrep", "osv-scanner"} <= tools, tools
    assert not list(settings.home_dir.parent.rglob("escape.json"))
    assert by_id[empty["id"]].errors == [f"run {empty['id']}: no artifacts"]
    with Store(settings.store_path) as store:  # permanent problems: processed, not retried
        assert store.is_processed("acme/app", bad["id"]) and store.is_processed("acme/app", empty["id"])


@requires_corpus
def test_transient_download_failure_is_retried_later(gh):
    server, settings, client = gh
    run = _run_with_reports(server.state)
    server.inject("GET", r"/_blobs/", *([Fault(500)] * 20))
    res = fetch_runs("acme/app", settings, client=client).runs[0]
    assert not res.complete and any("HTTP 500" in e for e in res.errors)
    with Store(settings.store_path) as store:
        st = store.run_state("acme/app", run["id"])
        assert st["status"] == "failed" and st["next_attempt_at"] > st["updated_at"]
    assert fetch_runs("acme/app", settings, client=client).runs == []  # backoff not over yet


@requires_corpus
def test_download_retries_and_keeps_the_token_on_the_api_host(gh):
    server, settings, client = gh
    _run_with_reports(server.state)
    server.inject("GET", r"/actions/artifacts/\d+/zip$", Fault(429, {"Retry-After": "0"}), RESET)
    server.inject("GET", r"/_blobs/", Fault(503))
    res = fetch_runs("acme/app", settings, client=client).runs[0]
    assert res.complete and res.errors == []


@requires_corpus
def test_pr_runs_filters_and_fork_metadata(gh):
    server, settings, client = gh
    st = server.state
    _run_with_reports(st)  # main
    st.add_pull("acme/app", 12, "feature", "f" * 40)
    pr_run = _run_with_reports(st, branch="feature", sha="f" * 40, event="pull_request", pr=12)
    _run_with_reports(st, branch="other", event="pull_request")
    st.add_pull("acme/app", 13, "main", "e" * 40, head_repo="mallory/app")
    fork_run = _run_with_reports(st, branch="main", sha="e" * 40, event="pull_request", head_repo="mallory/app")
    summary = fetch_runs("acme/app", settings, client=client, pr=12)
    assert [r.id for r in summary.runs] == [pr_run["id"]]
    meta = json.loads((settings.runs_dir / f"gh-acme-app-{pr_run['id']}" / "run.json").read_text())
    assert meta["pr"] == 12 and meta["base_branch"] == "main" and meta["is_fork"] is False
    fork = fetch_runs("acme/app", settings, client=client, pr=13).runs
    assert [r.id for r in fork] == [fork_run["id"]]
    fmeta = json.loads((settings.runs_dir / f"gh-acme-app-{fork_run['id']}" / "run.json").read_text())
    assert fmeta["is_fork"] is True and fmeta["pr"] == 13


@requires_corpus
def test_cli_json_summary_out_limit_and_since(gh, capsys, tmp_path, caplog):
    server, settings, client = gh
    token = server.state.token
    runs = [_run_with_reports(server.state) for _ in range(3)]
    out = tmp_path / "out"
    with caplog.at_level(logging.DEBUG):
        rc = main(
            [
                "-vv",
                "fetch",
                "--repo",
                "acme/app",
                "--limit",
                "2",
                "--out",
                str(out),
                "--format",
                "json",
                "--since",
                "2024-12-31",
                "--artifact",
                "osv-*",
            ]
        )
    captured = capsys.readouterr()
    assert rc == 0
    data = json.loads(captured.out)
    assert [r["id"] for r in data["runs"]] == [runs[2]["id"], runs[1]["id"]]
    assert set(data["runs"][0]) == {"id", "head_sha", "head_branch", "artifacts", "findings", "errors"}
    assert data["runs"][0]["artifacts"] == ["osv-results"]
    assert (out / f"run-{runs[2]['id']}" / "findings.json").is_file()
    rc = main(
        [
            "fetch",
            "--repo",
            "acme/app",
            "--run-id",
            str(runs[2]["id"]),
            "--out",
            str(tmp_path / "one"),
            "--format",
            "json",
        ]
    )
    assert rc == 0 and (tmp_path / "one" / "run.json").is_file()
    # The token never reaches logs, output or any file secai wrote.
    assert token not in captured.out + captured.err + caplog.text + capsys.readouterr().err
    for f in [*settings.home_dir.rglob("*"), *tmp_path.rglob("*")]:
        if f.is_file():
            assert token.encode() not in f.read_bytes(), f
    # The blob storage URL never got the token.
    assert all("Authorization" not in r.headers for r in server.requests if r.path.startswith("/_blobs/"))


def test_since_and_names():
    assert parse_since("2025-02-01") == ">=2025-02-01"
    assert parse_since("2025-02-01T10:00:00Z") == ">=2025-02-01T10:00:00Z"
    assert parse_since("7d").startswith(">=20")
    with pytest.raises(Exception, match="--since"):
        parse_since("last tuesday")
    assert safe_name("../../etc/passwd") == "etc_passwd"
    assert safe_name("..") == "artifact"
