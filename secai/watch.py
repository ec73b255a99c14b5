"""`watch`: the polling mode for a runner without Actions triggers.

Each new completed run is fetched and processed once. A run is marked processed only after its
processing succeeded; a failure is recorded with exponential backoff (and given up after
`fetch.MAX_ATTEMPTS`), all in the store, so a restart picks up exactly where the last process
stopped. SIGTERM/SIGINT finish the current step, then the loop exits cleanly.
"""

from __future__ import annotations

import logging
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
from secai.run.store import Store

log = logging.getLogger("secai")

#: Processes one fetched run folder; raises (or returns a result with failed stages) on failure.
Processor = Callable[[Path, Settings], object]


def parse_only(run_dir: Path, settings: Settings) -> None:
    """Fetch already parsed the artifacts into `findings.json`; nothing more to do."""


def default_processor() -> Processor:
    """The pipeline when it is installed, else parse only."""
    try:
        from secai.pipeline import run_pipeline
    except ImportError:
        return parse_only

    def pipeline(run_dir: Path, settings: Settings):
        return run_pipeline(run_dir, settings, artifacts=[run_dir / "inputs"], progress=False)

    return pipeline


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
