"""Base vs tuned vs the deterministic fixers, on the held-out (latest) fixes, judged by the scanners.

Each test case is a fix the team made: the file before it and the finding the scanner reported.
Every fixer gets the same task the fix stage gives it (`secai.fix`): the model arms sample
`fix.candidates` answers per finding, the deterministic arm runs the dependency and codemod
providers; every proposal is verified by the reporting scanner on a copy of the file. A case
counts for `n` only when its scanner runs here and reproduces the finding on the before file,
and once per fix (`_one_per_fix`).

The gate: the tuned model's verified rate must reach the base model's plus `evaluate.margin`, and
never fall below it; a model that loses is never published.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

from secai.config import Settings
from secai.dataset.build import read_cases, read_triage_cases
from secai.dataset.fixes import FixCase
from secai.errors import SecaiError
from secai.fix.memory import MEMORY_FILE, FixMemory
from secai.fix.providers.base import get_provider
from secai.fix.source import SourceFile, SourceTree
from secai.fix.task import FixContext, FixTask, Outcome
from secai.fix.verify import Verifier
from secai.ingest.redact import redact_text
from secai.run import files
from secai.run.records import EvalResult, FixEval, FixScore, Gate, Tally

log = logging.getLogger("secai")

EXAMPLES_KEPT = 6
DETERMINISTIC = ("dependency", "codemod")

#: (kind, pattern) for the reason a fix was not verified; the first match names it.
_REASONS = [
    ("not reproduced on the original file", re.compile(r"does not report .* on the original")),
    ("finding still reported", re.compile(r"still reports")),
    ("introduces a new finding", re.compile(r"introduces a new finding")),
    ("file no longer parses", re.compile(r"no longer parses")),
    ("adds a suppression", re.compile(r"suppression marker")),
    ("changes too many lines", re.compile(r"max_changed_lines")),
    ("deletion only", re.compile(r"deletion-only")),
    ("changes nothing", re.compile(r"changes nothing")),
    ("edits an ignore file", re.compile(r"ignore or configuration file")),
    (
        "edit does not apply",
        re.compile(r"does not apply|outside the named lines|not in the named lines|matches \d+ times"),
    ),
    ("malformed answer", re.compile(r"blocks? |not closed|SEARCH|margin|no answer|usable edit")),
    ("scanner failed", re.compile(r"scanner failed|could not read the patched")),
    ("no provider for this rule", re.compile(r"no provider|not a dependency|no codemod|steps aside|not installed")),
]


def reason_kind(reason: str) -> str:
    for kind, pattern in _REASONS:
        if pattern.search(reason):
            return kind
    return "other"


def _tasks(cases: list[FixCase]) -> list[FixTask]:
    tasks = []
    for i, c in enumerate(cases):
        f = c.finding()
        f.fingerprint = c.id
        tasks.append(FixTask(i, f, c.path, source=SourceFile(c.path, c.before_text or ""), as_of=c.date or ""))
    return tasks


def _score(cases: list[FixCase], tasks: list[FixTask], outcomes: dict[int, Outcome], seconds: float) -> FixScore:
    by_tool: dict[str, Tally] = {}
    by_cat: dict[str, Tally] = {}
    rejections: Counter[str] = Counter()
    verified = at1 = proposed = 0
    for c, t in zip(cases, tasks):
        o = outcomes.get(t.id)
        ok = o is not None and o.status == "verified"
        for table, key in ((by_tool, c.tool), (by_cat, t.finding.category.value)):
            tally = table.setdefault(key, Tally())
            tally.n += 1
            tally.verified += ok
        if ok:
            verified += 1
            at1 += (o.verified_at or 1) == 1
        if o is not None and o.status in ("verified", "rejected"):
            proposed += 1
        if not ok:
            rejections[reason_kind(o.reason) if o else "no provider for this rule"] += 1
    n = len(cases)
    return FixScore(
        n=n,
        proposed=proposed,
        verified=verified,
        verified_rate=round(verified / n, 4) if n else 0.0,
        verified_rate_at_1=round(at1 / n, 4) if n else 0.0,
        by_tool=dict(sorted(by_tool.items())),
        by_category=dict(sorted(by_cat.items())),
        rejections=dict(rejections.most_common()),
        seconds=round(seconds, 2),
    )


def decide_gate(base: FixScore, tuned: FixScore, settings: Settings) -> Gate:
    required = settings.evaluate.margin
    margin = round(tuned.verified_rate - base.verified_rate, 4)
    enabled = settings.evaluate.gate
    if not tuned.n:
        passed, reason = False, "no held-out fix could be scored"
    elif margin < 0:
        passed, reason = False, "the tuned model verifies fewer fixes than the base model"
    elif margin < required - 1e-9:
        passed, reason = False, f"the tuned model gains {margin:+.2f}, less than evaluate.margin {required:+.2f}"
    else:
        passed, reason = True, f"the tuned model gains {margin:+.2f} (required {required:+.2f})"
    return Gate(
        enabled=enabled, passed=passed if enabled else True, margin=margin, required_margin=required, reason=reason
    )


def _scorable(cases: list[FixCase], verifier: Verifier) -> tuple[list[FixCase], Counter[str]]:
    keep, unscored = [], Counter()
    for c in cases:
        if not c.before_text:
            unscored["the file before the fix is not in the dataset"] += 1
            continue
        scanner, why = verifier.scanner_for(c.finding())
        if scanner is None:
            unscored[why] += 1
            continue
        keep.append(c)
    return keep, unscored


def _one_per_fix(cases: list[FixCase], unscored: Counter[str]) -> list[FixCase]:
    """One case per fix: when several findings (often of several scanners) went away with the
    same edit, only the first is scored, so that `evaluate.max_examples` counts distinct fixes
    and one easy or hard edit does not weigh three times."""
    seen: set[tuple] = set()
    keep = []
    for c in cases:
        key = (c.commit, c.path, c.search, c.replace)
        if key in seen:
            unscored["the same fix as another held-out case"] += 1
            continue
        seen.add(key)
        keep.append(c)
    return keep


def evaluate_adapter(
    dataset_dir: str | Path,
    adapter_dir: str | Path,
    resolved_model,
    settings: Settings,
    *,
    out: str | Path | None = None,
    model: str | None = None,
) -> EvalResult:
    """Score base, base + adapter and the deterministic providers on the dataset's held-out fixes;
    write `eval.json` (default: next to the dataset folder) and return the result."""
    dataset_dir, adapter_dir = Path(dataset_dir), Path(adapter_dir)
    all_cases = read_cases(dataset_dir)
    if not all_cases and not any(c.split == "test" for c in read_triage_cases(dataset_dir)):
        raise SecaiError(f"{dataset_dir / 'test_cases.jsonl'}: no held-out fixes or labels to evaluate")
    verifier = Verifier(settings)
    cases, unscored = _scorable(all_cases, verifier)
    cases = _one_per_fix(cases, unscored)
    if settings.evaluate.max_examples and len(cases) > settings.evaluate.max_examples:
        cases = cases[-settings.evaluate.max_examples :]  # the latest ones
    model_name = model or str(resolved_model.path)
    # Both model arms see the same earlier fixes, each older than the case it is recalled for.
    memory = FixMemory.read(dataset_dir / MEMORY_FILE)
    scores: dict[str, FixScore] = {}
    outcomes_by_arm: dict[str, dict[int, Outcome]] = {}

    def record(arm: str, tasks: list[FixTask], outcomes: dict[int, Outcome], seconds: float) -> None:
        scores[arm] = s = _score(cases, tasks, outcomes, seconds)
        outcomes_by_arm[arm] = outcomes
        log.info(
            "evaluate: %-13s verified %d of %d held-out fixes (rate %.2f, at 1 %.2f) in %.0fs",
            arm,
            s.verified,
            s.n,
            s.verified_rate,
            s.verified_rate_at_1,
            s.seconds,
        )

    with tempfile.TemporaryDirectory(prefix="secai-eval-") as empty:

        def context(adapter: Path | None) -> FixContext:
            tree = SourceTree(Path(empty), settings.fix.max_file_kb * 1024)
            return FixContext(settings, tree, verifier, model=model_name, adapter=adapter, memory=memory)

        # The deterministic providers in order, each given what the ones before left unverified.
        started = time.time()
        tasks, ctx = _tasks(cases), context(None)
        outcomes: dict[int, Outcome] = {}
        pending = list(tasks)
        for name in [p for p in DETERMINISTIC if p in settings.fix.providers]:
            if not pending:
                break
            for tid, o in get_provider(name).propose(pending, ctx).items():
                if tid not in outcomes or o.status == "verified" or outcomes[tid].status != "verified":
                    outcomes[tid] = o
            pending = [t for t in pending if outcomes.get(t.id) is None or outcomes[t.id].status != "verified"]
        record("deterministic", tasks, outcomes, time.time() - started)

        # Both models draft their candidates, then one scanner batch per scanner judges all of
        # them (the same files, so the originals are scanned once); each arm's time counts that
        # shared verification in full.
        model_provider = get_provider("model")
        drafts = {}
        for arm, adapter in (("base", None), ("tuned", adapter_dir)):
            started = time.time()
            tasks = _tasks(cases)
            drafts[arm] = (tasks, model_provider.draft(tasks, context(adapter)), time.time() - started)
        started = time.time()
        verdicts = verifier.verify([c for _, d, _ in drafts.values() for c in d.candidates])
        shared = time.time() - started
        at = 0
        for arm, (tasks, d, seconds) in drafts.items():
            record(arm, tasks, model_provider.judge(d, verdicts[at : at + len(d.candidates)]), seconds + shared)
            at += len(d.candidates)
    examples = []
    for i, c in enumerate(cases[:EXAMPLES_KEPT]):
        row = {
            "id": c.id,
            "tool": c.tool,
            "rule_id": c.rule_id,
            "path": c.path,
            "line": c.line,
            "reference": redact_text(c.replace),
        }
        for arm, outs in outcomes_by_arm.items():
            o = outs.get(i)
            row[arm] = {
                "status": o.status if o else "no_proposal",
                "reason": redact_text(o.reason) if o else "no provider for this rule",
            }
        examples.append(row)
    fix = FixEval(
        k=settings.fix.candidates,
        cases=len(all_cases),
        unscored=dict(unscored),
        base=scores["base"],
        tuned=scores["tuned"],
        deterministic=scores["deterministic"],
        examples=examples,
    )
    from secai.training.triage_eval import evaluate_triage

    result = EvalResult(
        fix=fix,
        gate=decide_gate(fix.base, fix.tuned, settings),
        triage=evaluate_triage(dataset_dir, adapter_dir, resolved_model, settings),
        model={"model_id": resolved_model.model_id, "revision": resolved_model.revision, "adapter": str(adapter_dir)},
    )
    files.write_eval(Path(out) if out else dataset_dir.parent / "eval.json", result)
    return result


def print_table(result: EvalResult, file=None) -> None:
    from rich.console import Console
    from rich.table import Table

    fx = result.fix
    table = Table(title=f"Verified fixes on {fx.base.n} held-out fixes (best of {fx.k})")
    table.add_column("fixer")
    table.add_column("verified", justify="right")
    table.add_column("rate", justify="right")
    table.add_column("rate @1", justify="right")
    table.add_column("proposed", justify="right")
    for name, s in (("deterministic", fx.deterministic), ("base", fx.base), ("tuned", fx.tuned)):
        table.add_row(
            name, f"{s.verified}/{s.n}", f"{s.verified_rate:.2f}", f"{s.verified_rate_at_1:.2f}", str(s.proposed)
        )
    g = result.gate
    console = Console(file=file)
    console.print(table)
    if (tr := result.triage) is not None:
        t = Table(title=f"Triage verdicts on {tr.n} held-out labels")
        for col in ("system", "accuracy", "coverage", "FP precision", "TP recall"):
            t.add_column(col, justify="left" if col == "system" else "right")
        for name, sc in (("per-rule baseline", tr.baseline), ("base", tr.base), ("tuned", tr.tuned)):
            t.add_row(
                name,
                f"{sc.accuracy:.2f}",
                f"{sc.coverage:.2f}",
                "—" if sc.fp_precision is None else f"{sc.fp_precision:.2f}",
                "—" if sc.tp_recall is None else f"{sc.tp_recall:.2f}",
            )
        console.print(t)
        console.print(f"verdicts {'EARNED' if tr.earned else 'not shown'}: {tr.reason}")
    console.print(f"gate: {'PASSED' if g.passed else 'FAILED'}: {g.reason}" + ("" if g.enabled else " (gate disabled)"))
