"""Fixes seen between consecutive workflow runs of a branch, without scanning anything again.

`fetch` records every processed run with its head commit and writes its findings to the run
folder. Two consecutive runs of the branch give the findings that disappeared between their two
commits. With the repository at hand, the change between the two commits (`git diff-tree`) decides,
as for mined history, whether it fixed a finding, suppressed it, or was no fix (the file was
deleted, or not changed at all: a scanner or configuration change). Without the repository, a
disappearance is recorded as `disappeared`, with the finding's facts and no code.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from secai.config import Settings
from secai.findings import Finding
from secai.history.compare import compare_file
from secai.history.diffmap import LineMap
from secai.history.events import MinedEvent, Where, build_event
from secai.history.git import BlobReader, Git
from secai.history.walk import (
    Commit,
    CommitMeta,
    author_key,
    list_commits,
    read_changes,
    read_meta,
    resolve_branch,
)
from secai.ingest.redact import redact_text
from secai.run.meta import RunMeta, may_train
from secai.run.store import Store

log = logging.getLogger("secai")


class WorkflowResult(BaseModel):
    repo: str
    branch: str
    runs: int = 0
    events: list[MinedEvent] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    skipped: dict[str, int] = Field(default_factory=dict)


class _Run(BaseModel):
    run_id: str
    sha: str
    run_dir: Path
    created_at: str = ""
    findings: list[Finding] = Field(default_factory=list)


def workflow_events(
    store: Store, repo: str, branch: str, settings: Settings, *, source: str | Path | None = None
) -> WorkflowResult:
    res = WorkflowResult(repo=repo, branch=branch)
    skipped: Counter[str] = Counter()
    runs = _load_runs(store, repo, branch, res, settings)
    git = Git(source) if source else None
    key = ""
    if git is not None and runs:
        _, head = resolve_branch(git, branch)
        key = author_key(git, head)
        order = {c.id: i for i, c in enumerate(list_commits(git, head))}
        off = [r for r in runs if r.sha not in order]
        if off:
            res.notes.append(
                f"{len(off)} run(s) of {branch} are not on its first-parent history in {source} "
                f"(e.g. {off[0].sha[:12]}); left out"
            )
        runs = sorted((r for r in runs if r.sha in order), key=lambda r: order[r.sha])
    else:
        runs.sort(key=lambda r: r.created_at)
    res.runs = len(runs)
    reader = git.blob_reader() if git is not None else None
    try:
        for old, new in zip(runs, runs[1:], strict=False):
            if old.sha == new.sha:
                continue
            if git is not None and reader is not None:
                res.events += _with_code(git, reader, old, new, settings, skipped, key)
            else:
                res.events += _without_code(old, new)
    finally:
        if reader is not None:
            reader.close()
    res.skipped = dict(sorted(skipped.items()))
    return res


def _load_runs(store: Store, repo: str, branch: str, res: WorkflowResult, settings: Settings) -> list[_Run]:
    """One run per commit (the last processed), with its findings; run folders that may not train
    (`may_train`) left out."""
    by_sha: dict[str, _Run] = {}
    for row in store.processed_runs(repo, branch):
        folder = Path(row["run_dir"] or "")
        try:
            meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
            data = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
            findings = [Finding.model_validate(d) for d in data]
        except (OSError, ValueError) as e:
            res.notes.append(f"{folder}: run {row['run_id']} left out ({getattr(e, 'strerror', None) or e})"[:300])
            continue
        if not may_train(RunMeta.model_validate(meta), settings)[0] or meta.get("head_sha") not in (
            None,
            row["head_sha"],
        ):
            res.notes.append(f"{folder}: run {row['run_id']} left out (not a trusted run of {branch})")
            continue
        by_sha[row["head_sha"]] = _Run(
            run_id=str(row["run_id"]),
            sha=row["head_sha"],
            run_dir=folder,
            created_at=str(meta.get("created_at") or row["created_at"] or ""),
            findings=findings,
        )
    return list(by_sha.values())


def _by_path(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        if f.location is not None:
            out.setdefault(f.location.path, []).append(f)
    return out


def _lines(reader: BlobReader, blob: str | None, cap: int) -> list[str] | None:
    if blob is None:
        return []
    kind, data = reader.read(blob, max_bytes=cap)
    if kind != "blob" or data is None or b"\0" in data[:8000]:
        return None
    return data.decode("utf-8", "replace").splitlines()


def _with_code(
    git: Git, reader: BlobReader, old: _Run, new: _Run, settings: Settings, skipped: Counter[str], key: str
) -> list[MinedEvent]:
    cfg = settings.mine
    span = Commit(id=new.sha, parent=old.sha)
    read_changes(git, [span])
    before, after = _by_path(old.findings), _by_path(new.findings)
    tools = {f.tool for f in old.findings + new.findings}
    meta: CommitMeta | None = None
    events: list[MinedEvent] = []
    seen_before: set[str] = set()
    for ch in span.changes:
        fb = before.get(ch.old_path or "", []) if ch.old_path else []
        fa = after.get(ch.new_path or "", []) if ch.new_path else []
        seen_before.add(ch.old_path or "")
        if ch.new_path is None:
            skipped["file deleted (not a fix)"] += len(fb)
            continue
        if not fb and not fa:
            continue
        lb, la = (
            _lines(reader, ch.old_blob, cfg.max_blob_kb * 1024),
            _lines(reader, ch.new_blob, cfg.max_blob_kb * 1024),
        )
        if lb is None or la is None:
            skipped["file unreadable or over the size cap"] += len(fb) + len(fa)
            continue
        lm = LineMap(lb, la)
        comp = compare_file(fb, fa, lm, near=cfg.near_lines, path=ch.new_path, marker_tools=tools)
        for reason, n in comp.not_fixes.items():
            skipped[f"disappeared, not a fix: {reason}"] += n
        if not comp.outcomes:
            continue
        meta = meta or read_meta(reader, new.sha)
        fps = {id(f): f.fingerprint for f in fb + fa}
        where = Where(
            commit=new.sha,
            parent=old.sha,
            tool=(fb or fa)[0].tool,
            path=ch.new_path,
            before_path=ch.old_path,
            before_blob=ch.old_blob,
            after_blob=ch.new_blob,
            origin="workflow",
        )
        for o in comp.outcomes:
            if o.kind == "gone":
                continue
            ev = build_event(where, lm, o, fps, meta, key, cfg.context_lines)
            if ev is None:
                skipped["window too long"] += 1
            else:
                events.append(ev)
    for path, fs in before.items():
        if path not in seen_before:  # the file did not change: a scanner or configuration change
            now = {g.fingerprint for g in after.get(path, [])}
            gone = sum(1 for f in fs if f.fingerprint not in now)
            if gone:
                skipped["disappeared, not a fix: its file did not change"] += gone
    return events


def _without_code(old: _Run, new: _Run) -> list[MinedEvent]:
    now = {f.fingerprint for f in new.findings}
    events = []
    for f in old.findings:
        if f.fingerprint in now:
            continue
        events.append(
            MinedEvent(
                kind="disappeared",
                origin="workflow",
                commit=new.sha,
                parent=old.sha,
                date=new.created_at,
                tool=f.tool,
                rule_id=f.rule_id,
                cwe=list(f.cwe),
                title=redact_text(f.title) or "",
                severity=f.severity.value,
                message=redact_text(f.message[:1000]) or "",
                path=f.location.path if f.location else (f.package.name if f.package else ""),
                line=f.location.start_line if f.location else None,
                end_line=f.location.end_line if f.location else None,
                fingerprint=f.fingerprint,
            ).with_id()
        )
    return events
