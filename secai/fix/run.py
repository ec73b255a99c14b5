"""The fix stage: findings + the source folder -> one verified fix (or a reason) per finding.

Providers are tried in the order of `fix.providers`; a finding verified by one is not given to
the next. `fixes.patch` holds every verified edit, per file: edits of one file that do not
overlap are combined, and when a file gets more than one fix the combination is verified again
(a fix that only verifies alone is left out of the patch and of `--apply`, with a note).
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from secai.config import Settings
from secai.findings import Finding, assign_fingerprints, finding_json
from secai.fix.edit import EditError, LineEdit, apply_edits, unified_diff
from secai.fix.memory import FixMemory, memory_beside
from secai.fix.providers.base import get_provider
from secai.fix.source import SourceProblem, SourceTree, clean_relative
from secai.fix.task import STATUS_RANK, FixContext, FixResult, FixTask, Outcome
from secai.fix.verify import Candidate, Verifier
from secai.run.folder import hash_value

log = logging.getLogger("secai")


@dataclass
class FixRun:
    results: list[FixResult]
    #: path -> the verified edits that go into fixes.patch and --apply.
    combined: dict[str, list[LineEdit]] = field(default_factory=dict)
    originals: dict[str, str] = field(default_factory=dict)
    scanner_processes: int = 0

    @property
    def patch(self) -> str:
        return "".join(
            unified_diff(p, self.originals[p], apply_edits(self.originals[p], e))
            for p, e in sorted(self.combined.items())
        )

    def counts(self) -> dict[str, int]:
        return dict(Counter(r.status for r in self.results))

    def summary(self) -> str:
        counts = self.counts()
        text = ", ".join(f"{counts[k]} {k}" for k in STATUS_RANK if counts.get(k))
        rates = self.model_rates()
        if rates["n"]:
            text += (
                f"; model verified@1 {rates['verified_at_1']}/{rates['n']}, @k {rates['verified_at_k']}/{rates['n']}"
            )
        return text

    def model_rates(self) -> dict[str, float | int]:
        """verified@1 and verified@k of the model provider over the findings it generated for."""
        tried = [r for r in self.results if r.provider == "model" and r.candidates]
        at1 = sum(1 for r in tried if r.verified_at == 1)
        atk = sum(1 for r in tried if r.status == "verified")
        n = len(tried)
        return {
            "n": n,
            "verified_at_1": at1,
            "verified_at_k": atk,
            "rate_at_1": at1 / n if n else 0.0,
            "rate_at_k": atk / n if n else 0.0,
        }


def _task(i: int, f: Finding, source: SourceTree) -> FixTask:
    path = f.location.path if f.location and f.location.path else None
    t = FixTask(i, f, None)
    if path is None:
        t.source_problem = "the finding points to no file"
        return t
    try:
        t.path = clean_relative(path)
        t.source = source.read(t.path)
    except SourceProblem as e:
        t.source_problem = e.reason
    return t


def fix_findings(
    findings: list[Finding],
    source_dir: str | Path,
    settings: Settings,
    *,
    providers: list[str] | None = None,
    model: str | None = None,
    adapter: str | Path | None = None,
    progress: bool = False,
    memory: FixMemory | None = None,
    reuse: dict[str, dict[int, Outcome]] | None = None,
) -> FixRun:
    """Fix `findings` in the folder `source_dir`; `memory` (default: the one beside `adapter`)
    gives the model its examples of the team's earlier fixes.

    `reuse` is a dict the caller keeps across calls on the same, unchanged source folder (one
    `run`: the dataset stage's deterministic fixes, then the fix stage): the deterministic
    providers' outcomes for the same findings are taken from it instead of being worked out again."""
    if any(not f.fingerprint for f in findings):
        assign_fingerprints(findings)
    source = SourceTree(Path(source_dir), settings.fix.max_file_kb * 1024)
    verifier = Verifier(settings)
    ctx = FixContext(
        settings,
        source,
        verifier,
        model=model,
        adapter=Path(adapter) if adapter else None,
        progress=progress,
        memory=memory if memory is not None else memory_beside(adapter),
    )
    tasks = [_task(i, f, source) for i, f in enumerate(findings)]
    attempts: dict[int, list[Outcome]] = {t.id: [] for t in tasks}
    pending = list(tasks)
    for name in providers or settings.fix.providers:
        if not pending:
            break
        outcomes = _propose(name, pending, ctx, reuse)
        for tid, o in outcomes.items():
            attempts[tid].append(o)
        pending = [t for t in pending if not any(o.status == "verified" for o in attempts[t.id])]
    results = [_result(t, attempts[t.id], source) for t in tasks]
    run = FixRun(results)
    _combine(run, tasks, attempts, source, verifier)
    run.scanner_processes = verifier.scanner_processes
    return run


#: Providers whose outcome depends only on the findings, the files and the settings.
DETERMINISTIC = ("dependency", "codemod")


def _propose(
    name: str, pending: list[FixTask], ctx: FixContext, reuse: dict[str, dict[int, Outcome]] | None
) -> dict[int, Outcome]:
    if reuse is None or name not in DETERMINISTIC:
        return get_provider(name).propose(pending, ctx)
    findings = [t.finding for t in pending]
    key = hash_value(
        [
            name,
            str(ctx.source.root),
            fix_inputs(findings, ctx.source.root, ctx.settings),
            [(t.id, finding_json(t.finding), t.path) for t in pending],
        ]
    )
    if key not in reuse:
        reuse[key] = get_provider(name).propose(pending, ctx)
    return copy.deepcopy(reuse[key])


def _result(t: FixTask, outcomes: list[Outcome], source: SourceTree) -> FixResult:
    f = t.finding
    loc = f.location
    base = {
        "fingerprint": f.fingerprint,
        "tool": f.tool,
        "rule_id": f.rule_id,
        "path": t.path or (loc.path if loc else None),
        "line": loc.start_line if loc else None,
    }
    best = max(outcomes, key=lambda o: STATUS_RANK[o.status], default=None)
    if best is None:
        if t.source_problem:
            return FixResult(**base, provider=None, status="no_source", reason=t.source_problem)
        return FixResult(**base, provider=None, status="no_proposal", reason="no provider has a fix for this rule")
    if best.status != "verified":
        reason = "; ".join(f"{o.provider}: {o.reason}" for o in sorted(outcomes, key=lambda o: -STATUS_RANK[o.status]))
        return FixResult(**base, provider=best.provider, status=best.status, reason=reason, candidates=best.candidates)
    diff = "".join(
        unified_diff(p, source.read(p).text, apply_edits(source.read(p).text, e))
        for p, e in sorted(best.changes.items())
    )
    return FixResult(
        **base,
        provider=best.provider,
        status="verified",
        reason=best.reason,
        diff=diff,
        rationale=best.rationale,
        candidates=best.candidates,
        verified_at=best.verified_at,
        changes=best.changes,
    )


def _combine(
    run: FixRun, tasks: list[FixTask], attempts: dict[int, list[Outcome]], source: SourceTree, verifier: Verifier
) -> None:
    """Per file, the union of verified edits that do not overlap; files with several fixes are
    verified again as a whole."""
    per_file: dict[str, list[tuple[int, list[LineEdit]]]] = {}
    for t, r in zip(tasks, run.results):
        if r.status != "verified":
            continue
        best = next(o for o in attempts[t.id] if o.status == "verified")
        for path, edits in best.changes.items():
            per_file.setdefault(path, []).append((t.id, edits))
    included: dict[int, bool] = {}
    for path, fixes in per_file.items():
        original = source.read(path).text
        run.originals[path] = original
        chosen: list[LineEdit] = []
        members: list[int] = []
        for tid, edits in fixes:
            merged = chosen + [e for e in edits if e not in chosen]
            try:
                apply_edits(original, merged)
            except EditError:
                included[tid] = False
                continue
            chosen, members = merged, members + [tid]
        distinct: list[list[LineEdit]] = []
        for tid in members:
            if attempts_edits(attempts, tid, path) not in distinct:
                distinct.append(attempts_edits(attempts, tid, path))
        if len(distinct) > 1:
            members, chosen = _reverify(path, original, members, chosen, tasks, attempts, verifier)
        for tid in members:
            included[tid] = True
        for tid, _ in fixes:
            included.setdefault(tid, False)
        if chosen:
            run.combined[path] = chosen
    for t, r in zip(tasks, run.results):
        if r.status == "verified":
            r.in_patch = included.get(t.id, False)
            if not r.in_patch:
                r.reason += "; left out of fixes.patch: it conflicts with another verified fix of the same file"


def attempts_edits(attempts: dict[int, list[Outcome]], tid: int, path: str) -> list[LineEdit]:
    return next(o for o in attempts[tid] if o.status == "verified").changes.get(path, [])


def _reverify(
    path: str,
    original: str,
    members: list[int],
    chosen: list[LineEdit],
    tasks: list[FixTask],
    attempts: dict[int, list[Outcome]],
    verifier: Verifier,
) -> tuple[list[int], list[LineEdit]]:
    """Scanner-verified fixes of one file together: each finding must still be fixed by the
    combination. If not, keep only the first fix."""
    by_id = {t.id: t for t in tasks}
    scanned = [
        tid for tid in members if next(o for o in attempts[tid] if o.status == "verified").provider != "dependency"
    ]
    if not scanned:
        return members, chosen
    cands = [Candidate(by_id[tid].finding, path, original, chosen) for tid in scanned]
    verdicts = verifier.verify(cands, combined=True)
    if all(v.status == "verified" for v in verdicts):
        return members, chosen
    first = attempts_edits(attempts, members[0], path)
    log.info("fix: the verified fixes of %s do not verify together; keeping the first", path)
    return [tid for tid in members if attempts_edits(attempts, tid, path) == first], first


def fix_inputs(findings: list[Finding], source_dir: str | Path, settings: Settings) -> str:
    """A hash of what the fix stage reads besides the findings: the source files they point to,
    the manifests a dependency fix may edit, the settings, and the scanners' versions and rules."""
    from secai.fix.providers.dependency import manifest_paths
    from secai.run.folder import hash_value
    from secai.scanners.registry import SCANNERS

    source = SourceTree(Path(source_dir), settings.fix.max_file_kb * 1024)
    paths = {f.location.path for f in findings if f.location and f.location.path} | set(manifest_paths(source))
    files = {}
    for p in sorted(paths):
        try:
            files[p] = source.read(clean_relative(p)).digest
        except SourceProblem as e:
            files[p] = e.reason
    scanners = {}
    for name, cls in SCANNERS.items():
        s = cls(settings)
        scanners[name] = [s.version(), s.config_id()] if s.available() else s.unavailable_reason()
    return hash_value([files, settings.fix.model_dump(), settings.scanners.model_dump(), scanners])


def write_outputs(run_dir: Path, run: FixRun) -> list[str]:
    from secai.run.folder import atomic_write_text

    atomic_write_text(run_dir / "fixes.jsonl", "".join(r.model_dump_json() + "\n" for r in run.results))
    atomic_write_text(run_dir / "fixes.patch", run.patch)
    return ["fixes.jsonl", "fixes.patch"]


def apply_fixes(source_dir: str | Path, run: FixRun, settings: Settings) -> list[str]:
    """Write the verified, combined edits into the source folder; nothing else. Returns the paths."""
    source = SourceTree(Path(source_dir), settings.fix.max_file_kb * 1024)
    written = []
    for path, edits in sorted(run.combined.items()):
        expected = source.read(path)
        if expected.text != run.originals[path]:
            raise SourceProblem(f"{path} changed since the fixes were verified; nothing written to it")
        source.write(path, expected, apply_edits(expected.text, edits))
        written.append(path)
    return written
