"""Mine a repository's history: which commits fixed, introduced or suppressed scanner findings.

1. The branch's first-parent commits and the files each changed (`walk`).
2. Every (blob, file name) that a scanner covers, before and after each commit, deduplicated.
3. Scan results come from the store's scan cache when it has them; the rest are exported once into
   a temporary tree and each scanner runs once per batch of files from many commits.
4. Per commit and file, the findings before and after are compared through the diff (`compare`)
   and turned into `MinedEvent`s with the code windows, the edit and the commit facts.

Nothing in the repository is written or executed: blobs are read with `git cat-file` and scanned
as plain files in a temporary folder.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from secai.config import Settings
from secai.errors import SecaiError
from secai.findings import Finding, assign_fingerprints, finding_json
from secai.history.compare import Outcome, compare_file, line_text, span
from secai.history.diffmap import LineMap
from secai.history.events import MinedEvent, Where, build_event
from secai.history.git import BlobReader, Git
from secai.history.walk import Change, Commit, list_commits, read_changes, read_meta, resolve_branch
from secai.run.store import Store
from secai.scanners.base import ScanOutput

log = logging.getLogger("secai")

_BINARY_PROBE = 8000


class Scanner(Protocol):
    """What mining needs of a scanner (`secai.scanners.base.Scanner`)."""

    name: str

    def version(self) -> str | None: ...

    def config_id(self) -> str: ...

    def covers(self, path: str) -> bool: ...

    def scan(self, root: Path, files: list[str], *, timeout: float | None = None) -> ScanOutput: ...


class MineResult(BaseModel):
    source: str
    branch: str
    head: str
    commits_scanned: int = 0
    scanner_processes: int = 0
    events: list[MinedEvent] = Field(default_factory=list)
    #: Files scanned per scanner in this run, and how many came from the cache.
    blobs_scanned: int = 0
    blobs_cached: int = 0
    #: Things a user should know (shallow clone, a scanner that failed), one line each.
    notes: list[str] = Field(default_factory=list)
    #: Files or findings left out, by reason.
    skipped: dict[str, int] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        from secai.history.events import event_json

        return {
            "commits_scanned": self.commits_scanned,
            "scanner_processes": self.scanner_processes,
            "events": [event_json(e) for e in self.events],
            "source": self.source,
            "branch": self.branch,
            "head": self.head,
            "blobs_scanned": self.blobs_scanned,
            "blobs_cached": self.blobs_cached,
            "notes": self.notes,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class _Side:
    path: str
    blob: str
    key: str  # "<blob>:<file name>": the scan cache key


@dataclass
class _Pair:
    commit: Commit
    change: Change
    scanner: Scanner
    before: _Side | None
    after: _Side | None


@dataclass
class _Scans:
    """Scan results of one scanner by blob key: findings, or an error that leaves the key out."""

    findings: dict[str, list[Finding]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def export_name(path: str) -> str:
    """The file name a blob is exported under: the path's base name made safe, its ending kept
    (scanners pick rules by name: `Dockerfile`, `main.tf`, `app.py`)."""
    base = path.rsplit("/", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", base) or "file"
    if len(name) > 100:
        name = name[:40] + name[-60:]
    if name.startswith(("-", ".")) and name not in (".", ".."):
        name = "_" + name if name.startswith("-") else name
    return name if name not in (".", "..") else "_"


def _side(path: str | None, blob: str | None, scanner: Scanner) -> _Side | None:
    if path is None or blob is None or not scanner.covers(path):
        return None
    return _Side(path=path, blob=blob, key=f"{blob}:{export_name(path)}")


def mine(
    source: str | Path,
    settings: Settings,
    scanners: list[Scanner],
    *,
    branch: str | None = None,
    since: str | None = None,
    max_commits: int | None = None,
    store: Store | None = None,
) -> MineResult:
    """Mine `source`'s history with `scanners` (available ones), caching scans in `store`."""
    cfg = settings.mine
    git = Git(source)
    name, head = resolve_branch(git, branch)
    commits = list_commits(git, head, since=since, max_commits=max_commits or cfg.max_commits or None)
    result = MineResult(source=str(source), branch=name, head=head)
    boundary = [c for c in commits if c.boundary]
    if boundary:
        result.notes.append(
            f"{source}: shallow clone: history before {boundary[0].id[:12]} is missing; mined the "
            f"{len(commits) - len(boundary)} commits after it (git fetch --unshallow for the rest)"
        )
    read_changes(git, commits)
    mined = [c for c in commits if not c.boundary]
    result.commits_scanned = len(mined)
    if not scanners:
        result.notes.append(f"{source}: no scanner available to mine with")
        return result

    skipped: Counter[str] = Counter()
    pairs: list[_Pair] = []
    for c in mined:
        for ch in c.changes:
            for s in scanners:
                before, after = _side(ch.old_path, ch.old_blob, s), _side(ch.new_path, ch.new_blob, s)
                if before is None and after is None:
                    continue
                if before is not None and after is not None and before.blob == after.blob:
                    continue  # renamed or mode changed only: the same content
                pairs.append(_Pair(c, ch, s, before, after))

    with git.blob_reader() as reader, _store(store, settings) as db:
        scans = _scan_all(pairs, scanners, reader, db, settings, result, skipped)
        texts = _TextCache(reader, cfg.max_blob_kb * 1024)
        roots = (
            git.run(["rev-list", "--max-parents=0", "--end-of-options", head]).decode().split() if not boundary else []
        )
        key = min(roots) if roots else ""
        by_commit: dict[str, list[tuple[_Pair, LineMap, Outcome, dict[int, str]]]] = {}
        for pair in pairs:
            got = _compare_pair(pair, scans[pair.scanner.name], texts, settings, skipped, {s.name for s in scanners})
            if got:
                by_commit.setdefault(pair.commit.id, []).extend(got)
        metas: dict[str, Any] = {}
        for c in mined:
            found = _drop_moves(by_commit.get(c.id, []), skipped)
            if not found:
                continue
            meta = metas.setdefault(c.id, read_meta(reader, c.id))
            for pair, lm, outcome, fps in found:
                ev = build_event(_where(pair), lm, outcome, fps, meta, key, cfg.context_lines)
                if ev is None:
                    skipped["window too long"] += 1
                else:
                    result.events.append(ev)
    result.skipped = dict(sorted(skipped.items()))
    return result


class _store:
    """The given store, or the settings' store opened (and closed) for this run."""

    def __init__(self, store: Store | None, settings: Settings):
        self.given, self.settings, self.opened = store, settings, None

    def __enter__(self) -> Store:
        if self.given is not None:
            return self.given
        self.opened = Store(self.settings.store_path)
        return self.opened

    def __exit__(self, *exc) -> None:
        if self.opened is not None:
            self.opened.close()


# -- scanning ---------------------------------------------------------------------------------------


def _scan_all(
    pairs: list[_Pair],
    scanners: list[Scanner],
    reader: BlobReader,
    store: Store,
    settings: Settings,
    result: MineResult,
    skipped: Counter[str],
) -> dict[str, _Scans]:
    cfg = settings.mine
    wanted: dict[str, dict[str, _Side]] = {s.name: {} for s in scanners}
    for p in pairs:
        for side in (p.before, p.after):
            if side is not None:
                wanted[p.scanner.name].setdefault(side.key, side)
    out = {s.name: _Scans() for s in scanners}
    ids = {s.name: (s.version() or "unknown", s.config_id()) for s in scanners}
    todo: dict[str, list[_Side]] = {}
    for s in scanners:
        version, config = ids[s.name]
        cached = store.get_scans(s.name, version, config, wanted[s.name])
        for k, r in cached.items():
            if r.get("error"):
                out[s.name].errors[k] = r["error"]
            else:
                out[s.name].findings[k] = [Finding.model_validate(d) for d in r.get("findings", [])]
        result.blobs_cached += len(cached)
        todo[s.name] = [side for k, side in wanted[s.name].items() if k not in cached]
    if not any(todo.values()):
        return out

    sizes = reader.sizes(side.blob for sides in todo.values() for side in sides)
    cap = cfg.max_blob_kb * 1024
    tmp = Path(tempfile.mkdtemp(prefix="secai-mine-"))
    try:
        exported: dict[str, str] = {}  # blob key -> path relative to tmp
        for s in scanners:
            keep = []
            for side in todo[s.name]:
                size = sizes.get(side.blob)
                reason = None if size is not None else "missing blob"
                if reason is None and size > cap:
                    reason = f"larger than {cfg.max_blob_kb} KB"
                if reason is None and side.key not in exported:
                    reason = _export(reader, side, tmp, exported, cap)
                if reason is not None:
                    out[s.name].errors[side.key] = reason
                    continue
                keep.append(side)
            todo[s.name] = keep
        tasks = [
            (s, todo[s.name][i : i + cfg.batch_files])
            for s in scanners
            for i in range(0, len(todo[s.name]), cfg.batch_files)
        ]
        log.info(
            "mining: scanning %d files (%d cached) in %d scanner processes",
            sum(len(f) for _, f in tasks),
            result.blobs_cached,
            len(tasks),
        )

        def run(task: tuple[Scanner, list[_Side]]):
            s, sides = task
            return (s, sides, *_scan_split(s, tmp, [exported[x.key] for x in sides], cfg.timeout))

        with ThreadPoolExecutor(max_workers=cfg.jobs) as pool:
            for s, sides, found, errors, failed, procs in pool.map(run, tasks):
                result.scanner_processes += procs
                version, config = ids[s.name]
                fresh: dict[str, dict] = {}
                for side in sides:
                    rel = exported[side.key]
                    if rel in failed:  # the scanner failed: nothing learned, nothing cached
                        out[s.name].errors[side.key] = failed[rel]
                    elif rel in errors:  # the scanner could not read this file: remembered as such
                        out[s.name].errors[side.key] = errors[rel]
                        fresh[side.key] = {"findings": [], "error": errors[rel]}
                    else:
                        fs = found.get(rel, [])
                        out[s.name].findings[side.key] = fs
                        fresh[side.key] = {"findings": [finding_json(f) for f in fs], "error": None}
                result.blobs_scanned += len(fresh)
                store.put_scans(s.name, version, config, fresh)
                for reason in sorted(set(failed.values())):
                    result.notes.append(f"{s.name}: {reason}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for s in scanners:
        for reason in out[s.name].errors.values():
            skipped[f"file not scanned: {reason}"[:120]] += 1
    return out


def _export(reader: BlobReader, side: _Side, tmp: Path, exported: dict[str, str], cap: int) -> str | None:
    """Write one blob into the temporary tree, in a folder of its own; a reason when it is not."""
    kind, data = reader.read(side.blob, max_bytes=cap)
    if kind != "blob" or data is None:
        return "missing blob" if kind != "blob" else "larger than the size cap"
    if b"\0" in data[:_BINARY_PROBE]:
        return "binary"
    digest = hashlib.sha256(side.key.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    rel = f"{digest[:2]}/{digest[2:]}/{export_name(side.path)}"
    target = tmp / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    exported[side.key] = rel
    return None


def _scan_split(
    scanner: Scanner, root: Path, files: list[str], timeout: float, depth: int = 0
) -> tuple[dict[str, list[Finding]], dict[str, str], dict[str, str], int]:
    """One scanner process over `files` → (findings by file, files it could not read, files whose
    scan failed, processes run). A failed batch is split in two and retried (up to three times), so
    a file that breaks the scanner costs little more than its own results."""
    try:
        out = scanner.scan(root, files, timeout=timeout)
        return out.findings, {**out.skipped, **out.errors}, {}, out.processes
    except SecaiError as e:
        if len(files) == 1 or depth >= 3:
            return {}, {}, dict.fromkeys(files, _one_line(e)), 1
        mid = len(files) // 2
        f1, e1, x1, p1 = _scan_split(scanner, root, files[:mid], timeout, depth + 1)
        f2, e2, x2, p2 = _scan_split(scanner, root, files[mid:], timeout, depth + 1)
        return {**f1, **f2}, {**e1, **e2}, {**x1, **x2}, 1 + p1 + p2


def _one_line(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:300]


# -- comparing --------------------------------------------------------------------------------------


class _TextCache:
    def __init__(self, reader: BlobReader, cap: int):
        self.reader = reader
        self.cap = cap
        self.lines = lru_cache(maxsize=256)(self._lines)

    def _lines(self, blob: str) -> list[str] | None:
        kind, data = self.reader.read(blob, max_bytes=self.cap)
        if kind != "blob" or data is None or b"\0" in data[:_BINARY_PROBE]:
            return None
        return data.decode("utf-8", "replace").splitlines()


def _fingerprints(findings: list[Finding], path: str) -> dict[int, str]:
    """Fingerprints as the finding would have at its real path (the scan saw a temporary one)."""
    copies = []
    for f in findings:
        loc = f.location.model_copy(update={"path": path}) if f.location else None
        copies.append(f.model_copy(update={"location": loc, "fingerprint": ""}))
    assign_fingerprints(copies)
    return {id(f): c.fingerprint for f, c in zip(findings, copies, strict=True)}


def _compare_pair(
    pair: _Pair,
    scans: _Scans,
    texts: _TextCache,
    settings: Settings,
    skipped: Counter[str],
    tools: set[str],
) -> list[tuple[_Pair, LineMap, Outcome, dict[int, str]]]:
    b, a = pair.before, pair.after
    if a is None:
        gone = scans.findings.get(b.key) if b is not None else None
        if not gone or b is None:
            return []
        skipped["file deleted (not a fix)"] += len(gone)
        lines = texts.lines(b.blob) or []
        lm = LineMap(lines, [])
        return [
            (pair, lm, Outcome("gone", f, "before", *(span(f) or (None, None)), text=line_text(lines, f)), {})
            for f in gone
        ]
    if (b is not None and b.key in scans.errors) or a.key in scans.errors:
        return []
    before = scans.findings.get(b.key, []) if b is not None else []
    after = scans.findings.get(a.key, [])
    if not before and not after and not _may_suppress(pair, texts):
        return []
    after_lines = texts.lines(a.blob)
    before_lines = texts.lines(b.blob) if b is not None else []
    if after_lines is None or before_lines is None:
        skipped["file unreadable"] += 1
        return []
    lm = LineMap(before_lines, after_lines)
    comp = compare_file(
        before, after, lm, near=settings.mine.near_lines, path=a.path, marker_tools=tools & {pair.scanner.name}
    )
    for reason, n in comp.not_fixes.items():
        skipped[f"disappeared, not a fix: {reason}"] += n
    fps = {}
    if b is not None:
        fps.update(_fingerprints(before, b.path))
    fps.update(_fingerprints(after, a.path))
    return [(pair, lm, o, fps) for o in comp.outcomes]


_MARKER_HINT = re.compile(rb"nosec|nosemgrep|checkov:skip|trivy:ignore|tfsec:ignore", re.I)


def _may_suppress(pair: _Pair, texts: _TextCache) -> bool:
    """A file without findings either side may still gain a suppression marker (a `# nosec` line is
    not reported at all): worth a look only if the after file has one."""
    a = pair.after
    if a is None:
        return False
    lines = texts.lines(a.blob)
    return bool(lines) and any(_MARKER_HINT.search(line.encode("utf-8", "replace")) for line in lines)


def _where(pair: _Pair) -> Where:
    c, b, a = pair.commit, pair.before, pair.after
    return Where(
        commit=c.id,
        parent=c.parent,
        merge=c.merge,
        tool=pair.scanner.name,
        path=a.path if a else (b.path if b else ""),
        before_path=b.path if b else None,
        before_blob=b.blob if b else None,
        after_blob=a.blob if a else None,
    )


def _drop_moves(found: list, skipped: Counter[str]) -> list:
    """A flagged line that left one file and arrived in another in the same commit moved: neither a
    fix nor an introduction. Disappearances that are no fix ("gone") only serve this matching."""
    arrivals: dict[tuple, list[int]] = {}
    for i, (_, _, o, _) in enumerate(found):
        if o.kind == "introduced" and o.text and o.finding is not None:
            arrivals.setdefault((o.finding.tool, o.finding.rule_id, o.text), []).append(i)
    drop: set[int] = set()
    for i, (_, _, o, _) in enumerate(found):
        if o.kind in ("fixed", "gone") and o.text and o.finding is not None:
            match = arrivals.get((o.finding.tool, o.finding.rule_id, o.text))
            if match:
                drop.update((i, match.pop()))
                skipped["moved to another file (not a fix)"] += 1
    return [x for i, x in enumerate(found) if i not in drop and x[2].kind != "gone"]


def select_scanners(settings: Settings, names: list[str] | None = None) -> tuple[list[Scanner], list[str]]:
    """The scanners to mine with, and a note per one left out. Named scanners (argument, or the
    `mine.scanners` setting) must be available; by default every installed one is used."""
    from secai.scanners.registry import SCANNERS, get_scanner

    wanted = names or settings.mine.scanners
    chosen, notes = [], []
    for name in wanted or list(SCANNERS):
        try:
            scanner = get_scanner(name, settings)
        except ValueError as e:
            raise SecaiError(f"--scanners: {e}") from None
        why = scanner.unavailable_reason()
        if why is None:
            chosen.append(scanner)
        elif wanted:
            raise SecaiError(f"--scanners: {scanner.name} cannot run: {why}")
        else:
            notes.append(f"{scanner.name} left out: {why}")
    return chosen, notes


def mine_all(
    settings: Settings,
    *,
    source: str | Path | None = None,
    repo: str | None = None,
    branch: str | None = None,
    since: str | None = None,
    max_commits: int | None = None,
    scanner_names: list[str] | None = None,
) -> MineResult:
    """History mining of `source` and/or the fixes between `repo`'s processed workflow runs."""
    with Store(settings.store_path) as store:
        if source:
            scanners, notes = select_scanners(settings, scanner_names)
            result = mine(source, settings, scanners, branch=branch, since=since, max_commits=max_commits, store=store)
            result.notes[:0] = notes
        else:
            result = MineResult(source="", branch=branch or "main", head="")
        if repo:
            from secai.history.workflow import workflow_events

            wf = workflow_events(store, repo, result.branch, settings, source=source)
            result.events += wf.events
            result.notes += wf.notes
            for reason, n in wf.skipped.items():
                result.skipped[f"workflow runs: {reason}"] = n
    return result


def mine_inputs(source: Path | None, settings: Settings, repo: str | None) -> tuple[str | None, list]:
    """Why the `mine` stage has nothing to do (or None), and what its result depends on: the
    branch head, the settings, each scanner's version and rules, and the stored workflow runs."""
    if source is None:
        return "no --source given", []
    try:
        git = Git(source)
        branch, head = resolve_branch(git, None)
    except SecaiError as e:
        return f"--source is not a git repository with commits ({e})", []
    scanners, notes = select_scanners(settings)
    key: list = [str(Path(source).resolve()), branch, head, settings.mine.model_dump(), notes]
    key += [(s.name, s.version(), s.config_id()) for s in scanners]
    if repo and settings.store_path.exists():
        with Store(settings.store_path) as store:
            key.append([(r["run_id"], r["head_sha"]) for r in store.processed_runs(repo, branch)])
    return None, key


def summarize(events: Iterable[MinedEvent], by: Callable[[MinedEvent], tuple] = lambda e: (e.kind,)) -> dict:
    return dict(sorted(Counter(by(e) for e in events).items()))
