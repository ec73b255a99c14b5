"""The SQLite store under the data home: run history, processed runs, finding fingerprints per
repo and branch (for new/fixed findings on a PR), and the scan cache of
history mining (findings per scanner, scanner version, rules config and blob).

WAL mode and one transaction per write, so a crash or a full disk never leaves it half-written.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from secai.errors import SecaiError

#: 2 added `scan_cache`; 3 replaced `analysis_cache` (keyed by fingerprint) with `analyses` (keyed
#: by the prompt's hash and the writer's trust). Older stores are brought up to date when opened.
SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    repo TEXT NOT NULL,
    run_id TEXT NOT NULL,
    branch TEXT,
    head_sha TEXT,
    pr INTEGER,
    event TEXT,
    status TEXT NOT NULL,            -- processed | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at REAL,
    findings INTEGER,
    run_dir TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (repo, run_id)
);
CREATE INDEX IF NOT EXISTS runs_by_branch ON runs (repo, branch, status, updated_at);
CREATE TABLE IF NOT EXISTS run_findings (
    repo TEXT NOT NULL,
    run_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (repo, run_id, fingerprint)
);
-- Keyed by the rendered prompt's hash; `trusted` says whether a run that may train wrote it.
DROP TABLE IF EXISTS analysis_cache;
CREATE TABLE IF NOT EXISTS analyses (
    prompt_sha256 TEXT NOT NULL,
    model_id TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    trusted INTEGER NOT NULL,
    result TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (prompt_sha256, model_id, prompt_version, trusted)
);
CREATE TABLE IF NOT EXISTS scan_cache (
    scanner TEXT NOT NULL,
    version TEXT NOT NULL,
    config_id TEXT NOT NULL,
    blob TEXT NOT NULL,               -- git blob id and the file name it was scanned under
    result TEXT NOT NULL,             -- {"findings": [...], "error": null | "..."}
    created_at REAL NOT NULL,
    PRIMARY KEY (scanner, version, config_id, blob)
);
"""


class StoreError(SecaiError):
    pass


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            self._db.execute(
                "UPDATE meta SET value=? WHERE key='schema_version' AND CAST(value AS INTEGER) < ?",
                (str(SCHEMA_VERSION), SCHEMA_VERSION),
            )
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"{self.path}: cannot open the secai store ({e})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: store write failed ({e}); nothing was changed") from None

    # -- runs ------------------------------------------------------------------------------------
    def record_run(
        self,
        repo: str,
        run_id: str | int,
        *,
        fingerprints: Iterable[str] = (),
        branch: str | None = None,
        head_sha: str | None = None,
        pr: int | None = None,
        event: str | None = None,
        run_dir: str | None = None,
    ) -> None:
        """Mark a run processed and remember its finding fingerprints (replacing earlier ones)."""
        now = time.time()
        fps = sorted(set(fingerprints))
        with self._tx() as db:
            db.execute(
                """INSERT INTO runs(repo, run_id, branch, head_sha, pr, event, status, attempts, findings,
                                    run_dir, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, 'processed', 1, ?, ?, ?, ?)
                   ON CONFLICT(repo, run_id) DO UPDATE SET
                     branch=excluded.branch, head_sha=excluded.head_sha, pr=excluded.pr, event=excluded.event,
                     status='processed', attempts=runs.attempts + 1, last_error=NULL, next_attempt_at=NULL,
                     findings=excluded.findings, run_dir=excluded.run_dir, updated_at=excluded.updated_at""",
                (repo, str(run_id), branch, head_sha, pr, event, len(fps), run_dir, now, now),
            )
            db.execute("DELETE FROM run_findings WHERE repo=? AND run_id=?", (repo, str(run_id)))
            db.executemany(
                "INSERT INTO run_findings(repo, run_id, fingerprint) VALUES (?, ?, ?)",
                [(repo, str(run_id), fp) for fp in fps],
            )

    def record_failure(
        self, repo: str, run_id: str | int, error: str, *, base_delay: float = 60.0, max_delay: float = 6 * 3600
    ) -> float:
        """Record a failed attempt; returns when the next attempt is due (exponential backoff)."""
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT attempts FROM runs WHERE repo=? AND run_id=?", (repo, str(run_id))).fetchone()
            attempts = (row[0] if row else 0) + 1
            due = now + min(max_delay, base_delay * 2 ** (attempts - 1))
            db.execute(
                """INSERT INTO runs(repo, run_id, status, attempts, last_error, next_attempt_at, created_at, updated_at)
                   VALUES (?, ?, 'failed', ?, ?, ?, ?, ?)
                   ON CONFLICT(repo, run_id) DO UPDATE SET status='failed', attempts=?, last_error=?,
                     next_attempt_at=?, updated_at=?""",
                (repo, str(run_id), attempts, error[:2000], due, now, now, attempts, error[:2000], due, now),
            )
        return due

    def run_state(self, repo: str, run_id: str | int) -> dict[str, Any] | None:
        cur = self._db.execute("SELECT * FROM runs WHERE repo=? AND run_id=?", (repo, str(run_id)))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cur.description], row))

    def is_processed(self, repo: str, run_id: str | int) -> bool:
        st = self.run_state(repo, run_id)
        return bool(st and st["status"] == "processed")

    def due_for_retry(self, repo: str, run_id: str | int, now: float | None = None) -> bool:
        st = self.run_state(repo, run_id)
        if st is None:
            return True
        if st["status"] == "processed":
            return False
        return (st["next_attempt_at"] or 0) <= (now if now is not None else time.time())

    def latest_run(self, repo: str, branch: str, *, exclude: str | int | None = None) -> str | None:
        """The most recently processed run of `branch` (PR runs excluded: they have a `pr`)."""
        row = self._db.execute(
            """SELECT run_id FROM runs WHERE repo=? AND branch=? AND status='processed' AND pr IS NULL
                 AND run_id != ? ORDER BY updated_at DESC, rowid DESC LIMIT 1""",
            (repo, branch, str(exclude) if exclude is not None else ""),
        ).fetchone()
        return row[0] if row else None

    def baseline_run(self, repo: str, branch: str, *, exclude: str | int | None = None) -> str | None:
        """The latest processed run of `branch` itself: no PR runs, whatever their branch name
        (a fork's PR from its own `main` must not become the baseline of `main`)."""
        row = self._db.execute(
            """SELECT run_id FROM runs WHERE repo=? AND branch=? AND status='processed' AND pr IS NULL
                 AND COALESCE(event, '') NOT IN ('pull_request', 'pull_request_target')
                 AND run_id != ? ORDER BY updated_at DESC, rowid DESC LIMIT 1""",
            (repo, branch, str(exclude) if exclude is not None else ""),
        ).fetchone()
        return row[0] if row else None

    def processed_runs(self, repo: str, branch: str) -> list[dict[str, Any]]:
        """Processed runs of `branch` itself that know their commit (no PR runs), oldest first."""
        cur = self._db.execute(
            """SELECT run_id, head_sha, run_dir, event, created_at, updated_at FROM runs
               WHERE repo=? AND branch=? AND status='processed' AND pr IS NULL AND head_sha IS NOT NULL
                 AND COALESCE(event, '') NOT IN ('pull_request', 'pull_request_target')
               ORDER BY created_at, rowid""",
            (repo, branch),
        )
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def adapter_runs(self, repo: str) -> list[dict[str, Any]]:
        """Processed runs of `repo` that know their run folder and are not about a pull request,
        newest first: the runs that may have trained an adapter (the caller re-checks each folder)."""
        cur = self._db.execute(
            """SELECT run_id, branch, pr, event, run_dir FROM runs
               WHERE repo=? AND status='processed' AND pr IS NULL AND run_dir IS NOT NULL
                 AND COALESCE(event, '') NOT IN ('pull_request', 'pull_request_target')
               ORDER BY created_at DESC, rowid DESC""",
            (repo,),
        )
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def fingerprints(self, repo: str, run_id: str | int) -> set[str]:
        rows = self._db.execute(
            "SELECT fingerprint FROM run_findings WHERE repo=? AND run_id=?", (repo, str(run_id))
        ).fetchall()
        return {r[0] for r in rows}

    # -- scan cache (history mining) -------------------------------------------------------------
    def get_scans(self, scanner: str, version: str, config_id: str, blobs: Iterable[str]) -> dict[str, dict]:
        keys = list(dict.fromkeys(blobs))
        out: dict[str, dict] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = ",".join("?" * len(chunk))
            for blob, result in self._db.execute(
                f"SELECT blob, result FROM scan_cache WHERE scanner=? AND version=? AND config_id=? AND blob IN ({q})",
                (scanner, version, config_id, *chunk),
            ):
                out[blob] = json.loads(result)
        return out

    def put_scans(self, scanner: str, version: str, config_id: str, items: dict[str, dict]) -> None:
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO scan_cache(scanner, version, config_id, blob, result, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(scanner, version, config_id, b, json.dumps(r, sort_keys=True), now) for b, r in items.items()],
            )

    def schema_version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0
