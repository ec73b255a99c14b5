"""`watch`: the polling mode for a runner without Actions triggers.

Each new completed run is fetched and processed once. A run is marked processed only after its
processing succeeded; a failure is recorded with exponential backoff (and given up after
`fetch.MAX_ATTEMPTS`), all in the store, so a restart picks up exactly where the last process
stopped. SIGTERM/SIGINT finish the current step, then the loop exits cleanly.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from secai.config import Settings
from secai.errors import SecaiError
from secai.github.client import GitHub
from secai.github.fetch import FetchedRun, fetch_runs, record_processed
from secai.log import mask_tokens
from secai.run.files import read_findings
from secai.run.folder import prune_runs
from secai.run.store import Store

log = logging.getLogger("secai")

#: Processes one fetched run folder; raises (or returns a result with failed stages) on failure.
Processor = Callable[[Path, Settings], object]


def parse_only(run_dir: Path, settings: Settings) -> None:
    """Fetch already parsed the artifacts into `findings.json`; nothing more to do."""


#: How long one run's processing may take by default before its process is killed.
RUN_TIMEOUT = 2 * 3600.0


def default_processor(timeout: float = RUN_TIMEOUT) -> Processor:
    """The pipeline in a child process that is killed after `timeout` seconds (a run that stalls,
    whatever the reason, becomes a failure with backoff instead of stopping the watcher)."""
    return PipelineProcessor(timeout)


def _pipeline_child(run_dir: str, settings: dict, conn) -> None:
    """In the child: run the pipeline over a fetched run folder and send back its result."""
    from secai.log import setup_logging
    from secai.pipeline import run_pipeline

    setup_logging()
    try:
        folder = Path(run_dir)
        # fetch parsed the artifacts into findings.json (and deleted them, unless kept)
        inputs = [folder / "inputs"] if (folder / "inputs").is_dir() else None
        res = run_pipeline(folder, Settings.model_validate(settings), artifacts=inputs, progress=False)
        conn.send(("ok", res.model_dump(mode="json")))
    except Exception as e:  # sent back whole: the parent records it as the run's failure
        conn.send(("error", f"{type(e).__name__}: {e}"))


class PipelineProcessor:
    """Runs the pipeline for one run folder in a fresh (spawned) process with a time limit."""

    __name__ = "pipeline"

    def __init__(self, timeout: float = RUN_TIMEOUT, target: Callable = _pipeline_child):
        self.timeout = timeout
        self.target = target

    def __call__(self, run_dir: Path, settings: Settings):
        from secai.pipeline import PipelineResult

        ctx = multiprocessing.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=self.target, args=(str(run_dir), settings.model_dump(mode="json"), send))
        child.start()
        send.close()
        answer = None
        try:
            ready = receive.poll(self.timeout)
            if ready:
                answer = receive.recv()
        except EOFError:  # the child ended without an answer
            pass
        finally:
            child.join(30 if ready else 0)  # an answering (or ended) child exits at once
            if child.is_alive():
                child.kill()
                child.join()
            receive.close()
        if answer is None:
            if not ready:
                raise SecaiError(f"{run_dir}: processing took over {self.timeout:g} s; stopped")
            raise SecaiError(f"{run_dir}: processing died (exit code {child.exitcode})")
        kind, value = answer
        if kind == "error":
            raise SecaiError(f"{run_dir}: {value}")
        return PipelineResult.model_validate(value)


def _failed(result: object) -> str | None:
    stages = getattr(result, "stages", None) or []
    bad = [f"{s.stage}: {s.note}" for s in stages if getattr(s, "status", "") == "failed"]
    return "; ".join(bad) or None


class Watcher:
    def __init__(
        self,
        repo: str,
        settings: Settings,
        *,
        client: GitHub | None = None,
        process: Processor | None = None,
        interval: float = 300.0,
        on_processed: Callable[[FetchedRun, Path], None] | None = None,
        **fetch_filters,
    ):
        self.repo = repo
        self.settings = settings
        self.client = client or GitHub(settings, api_url=fetch_filters.pop("api_url", None))
        self.process = process or default_processor()
        self.interval = interval
        self.on_processed = on_processed
        self.filters = fetch_filters
        self.stopping = threading.Event()
        self.processed: list[int] = []
        self.failed: list[int] = []

    def stop(self, *_args) -> None:
        if not self.stopping.is_set():
            log.info("stop requested; finishing the current step")
        self.stopping.set()

    def step(self, store: Store) -> bool:
        """Fetch and process at most one run. Returns False when there was nothing to do."""
        summary = fetch_runs(
            self.repo,
            self.settings,
            client=self.client,
            store=store,
            limit=1,
            record=False,
            oldest_first=True,
            **self.filters,
        )
        if not summary.runs:
            return False
        run = summary.runs[0]
        if not run.complete:
            self.failed.append(run.id)  # fetch_runs recorded the failure and its backoff
            return True
        run_dir = Path(run.run_dir or "")
        try:
            why = _failed(self.process(run_dir, self.settings))
        except (SecaiError, OSError, RuntimeError, ValueError) as e:
            why = f"{type(e).__name__}: {e}"
        if why:
            due = store.record_failure(self.repo, run.id, mask_tokens(why))
            log.error("run %s: processing failed (%s); next attempt after %s", run.id, mask_tokens(why), _clock(due))
            self.failed.append(run.id)
            return True
        record_processed(store, self.repo, run, _fingerprints(run_dir))
        self.processed.append(run.id)
        log.info("run %s processed", run.id)
        if self.on_processed is not None:
            try:
                self.on_processed(run, run_dir)
            except SecaiError as e:
                log.error("run %s: %s", run.id, e)
        return True

    def run(self, once: bool = False) -> int:
        """Poll until stopped (or, with `once`, until no new run is left)."""
        with Store(self.settings.store_path) as store:
            while not self.stopping.is_set():
                for gone in prune_runs(self.settings.runs_dir, self.settings.retention_days):
                    log.info("%s: older than %d days; deleted", gone, self.settings.retention_days)
                try:
                    busy = self.step(store)
                except SecaiError as e:
                    log.error("%s", e)
                    busy = False
                if busy:
                    continue
                if once:
                    break
                self.stopping.wait(self.interval)
        return 0


def _fingerprints(run_dir: Path) -> list[str]:
    return [f.fingerprint for f in read_findings(run_dir)]


def _clock(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def install_signal_handlers(watcher: Watcher) -> None:
    signal.signal(signal.SIGTERM, watcher.stop)
    signal.signal(signal.SIGINT, watcher.stop)
