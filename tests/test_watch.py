"""`watch`: each new run processed once, failures backed off, restart-safe, clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal

import pytest
from conftest import MPO, requires_corpus
from ghserver import github_fixture, make_zip

from secai.cli import main
from secai.github.fetch import MAX_ATTEMPTS
from secai.report.build import marker_comment
from secai.run.store import Store
from secai.watch import Watcher, default_processor

OSV = MPO / "osv-scanner-results-workflow_dispatch-392" / "osv-results.json"


@pytest.fixture
def gh(monkeypatch):
    server, settings, client = github_fixture(monkeypatch)
    server.state.add_repo("acme/app")
    yield server, settings, client
    client.close()
    server.__exit__(None, None, None)


def _add_runs(st, n, **kw):
    runs = []
    for _ in range(n):
        run = st.add_run("acme/app", **kw)
        st.add_artifact("acme/app", run, "osv", make_zip({"osv-results.json": OSV.read_bytes()}))
        runs.append(run)
    return runs


@requires_corpus
def test_each_run_processed_once_across_restarts(gh):
    server, settings, client = gh
    runs = _add_runs(server.state, 3)
    seen = []

    def process(run_dir, _settings):
        assert (run_dir / "findings.json").is_file()
        seen.append(run_dir.name)

    assert Watcher("acme/app", settings, client=client, process=process).run(once=True) == 0
    assert sorted(seen) == sorted(f"gh-acme-app-{r['id']}" for r in runs)
    # a restart (new watcher, same store) finds nothing new; a new run is then picked up
    assert Watcher("acme/app", settings, client=client, process=process).run(once=True) == 0
    assert len(seen) == 3
    new = _add_runs(server.state, 1)[0]
    Watcher("acme/app", settings, client=client, process=process).run(once=True)
    assert seen[-1] == f"gh-acme-app-{new['id']}" and len(seen) == 4
    with Store(settings.store_path) as store:
        assert all(store.is_processed("acme/app", r["id"]) for r in runs + [new])
        assert store.fingerprints("acme/app", new["id"])


@requires_corpus
def test_failures_back_off_then_retry_then_give_up(gh):
    server, settings, client = gh
    (run,) = _add_runs(server.state, 1)
    calls = []

    def flaky(run_dir, _settings):
        calls.append(1)
        raise RuntimeError("model crashed")

    w = Watcher("acme/app", settings, client=client, process=flaky)
    w.run(once=True)
    w.run(once=True)  # backoff not over: not retried
    assert len(calls) == 1 and w.failed == [run["id"]]
    with Store(settings.store_path) as store:
        state = store.run_state("acme/app", run["id"])
        assert state["status"] == "failed" and "model crashed" in state["last_error"]
        for _ in range(MAX_ATTEMPTS + 2):  # pretend each backoff has passed
            store._db.execute("UPDATE runs SET next_attempt_at = 0")
            Watcher("acme/app", settings, client=client, process=flaky).run(once=True)
        assert store.run_state("acme/app", run["id"])["attempts"] == MAX_ATTEMPTS
    assert len(calls) == MAX_ATTEMPTS

    def ok(run_dir, _settings):
        return None

    with Store(settings.store_path) as store:
        store._db.execute("UPDATE runs SET attempts = 1, next_attempt_at = 0")
    Watcher("acme/app", settings, client=client, process=ok).run(once=True)
    with Store(settings.store_path) as store:
        assert store.is_processed("acme/app", run["id"])


@requires_corpus
def test_sigterm_finishes_the_current_run_then_exits(gh):
    server, settings, client = gh
    runs = _add_runs(server.state, 3)
    done = []

    def process(run_dir, _settings):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-step
        done.append(run_dir.name)

    from secai.watch import install_signal_handlers

    old = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        w = Watcher("acme/app", settings, client=client, process=process, interval=3600)
        install_signal_handlers(w)
        assert w.run() == 0  # not --once: only the signal ends the loop
    finally:
        signal.signal(signal.SIGTERM, old[0])
        signal.signal(signal.SIGINT, old[1])
    assert done == [f"gh-acme-app-{runs[0]['id']}"]  # oldest new run first
    with Store(settings.store_path) as store:
        assert store.is_processed("acme/app", runs[0]["id"])
        assert not store.is_processed("acme/app", runs[1]["id"])


@requires_corpus
def test_cli_watch_once_parse_only_posts_pr_comments(gh, capsys):
    server, settings, _ = gh
    st = server.state
    st.add_pull("acme/app", 4, "feat", "d" * 40)
    _add_runs(st, 1)
    _add_runs(st, 1, branch="feat", sha="d" * 40, event="pull_request", pr=4)
    assert main(["watch", "--repo", "acme/app", "--once", "--parse-only", "--comment"]) == 0
    assert main(["watch", "--repo", "acme/app", "--once", "--parse-only", "--comment"]) == 0
    comments = st.comments[("acme/app", 4)]
    assert len(comments) == 1 and comments[0]["body"].startswith(marker_comment(settings, "acme/app"))
    assert "compared with main" in comments[0]["body"]
    assert st.count("GET", r"/artifacts/\d+/zip$") == 2


def test_default_processor_is_the_pipeline():
    assert default_processor().__name__ == "pipeline"


def _hang(run_dir, settings, conn):
    """A child that never answers, like a pipeline stuck on a hostile input."""
    import time

    time.sleep(600)


def _crash(run_dir, settings, conn):
    raise SystemExit(3)


@requires_corpus
def test_a_run_that_stalls_is_stopped_and_backed_off(gh):
    """The per-run timeout (issue 16.4): the stuck child is killed, the run is recorded as failed
    with a backoff, and the watcher goes on to the next run."""
    from secai.watch import PipelineProcessor

    server, settings, client = gh
    stalled, crashed = _add_runs(server.state, 2)
    w = Watcher("acme/app", settings, client=client, process=PipelineProcessor(0.5, target=_hang))
    assert w.step(Store(settings.store_path)) is True
    w.process = PipelineProcessor(60, target=_crash)
    assert w.step(Store(settings.store_path)) is True
    assert sorted(w.failed) == sorted([stalled["id"], crashed["id"]]) and w.processed == []
    with Store(settings.store_path) as store:
        first, second = (store.run_state("acme/app", r["id"]) for r in (stalled, crashed))
    assert first["status"] == "failed" and "took over 0.5 s; stopped" in first["last_error"]
    assert second["status"] == "failed" and "died (exit code 3)" in second["last_error"]


@requires_corpus
def test_the_pipeline_runs_in_a_child_process(gh, tiny_model):
    """The default processor's child gets the settings and sends back the pipeline's result."""
    from secai.watch import PipelineProcessor

    server, settings, client = gh
    settings.model.name = str(tiny_model)
    server.state.add_pull("acme/app", 4, "feat", "d" * 40)
    [run] = _add_runs(server.state, 1, branch="feat", sha="d" * 40, event="pull_request", pr=4)  # no training
    w = Watcher("acme/app", settings, client=client, process=PipelineProcessor(600))
    res_dir = settings.runs_dir / f"gh-acme-app-{run['id']}"
    with Store(settings.store_path) as store:
        assert w.step(store) is True
    assert w.processed == [run["id"]], w.failed
    assert (res_dir / "findings.json").is_file() and (res_dir / "comment.md").is_file()
    stages = json.loads((res_dir / "manifest.json").read_text())["stages"]
    assert stages["dataset"]["status"] == "skipped" and "pull request" in stages["dataset"]["note"]
