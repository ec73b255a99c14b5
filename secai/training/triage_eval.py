"""Triage verdicts of base, tuned and a per-rule majority baseline on the held-out (latest) labels.

The baseline answers each held-out finding with the verdict the team gave most often to that
tool's rule in the older labels (train and valid: everything before the held-out ones; a tie goes
to the latest of the tied verdicts), and for a rule it never saw, with the most common verdict
overall. It never abstains, so it is the bar a model must clear: the tuned model's verdicts are
`earned` (and shown in the PR) only when its accuracy is strictly higher than the baseline's on at
least `verdict.min_cases` held-out labels. Abstentions (answers without a well-formed verdict)
count as wrong.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from secai.config import Settings
from secai.dataset.build import read_triage_cases
from secai.dataset.triage import TriageCase
from secai.dates import when
from secai.ingest.redact import redact_text
from secai.run.records import TriageEval, TriageScore
from secai.triage.labels import Verdict

log = logging.getLogger("secai")

EXAMPLES_KEPT = 6


def _majority(cases: Sequence[TriageCase]) -> Verdict | None:
    if not cases:
        return None
    counts = Counter(c.verdict for c in cases)
    top = max(counts.values())
    tied = {v for v, n in counts.items() if n == top}
    return max((c for c in cases if c.verdict in tied), key=lambda c: when(c.date)).verdict


def majority_baseline(train: Sequence[TriageCase]) -> Callable[[TriageCase], Verdict | None]:
    """The per-rule majority verdict of `train` (the global majority for an unseen rule)."""
    by_rule: dict[tuple[str, str], list[TriageCase]] = {}
    for c in train:
        by_rule.setdefault((c.tool, c.rule_id), []).append(c)
    rules = {k: _majority(v) for k, v in by_rule.items()}
    overall = _majority(train)
    return lambda c: rules.get((c.tool, c.rule_id), overall)


def score(cases: Sequence[TriageCase], predicted: Sequence[Verdict | None], seconds: float = 0.0) -> TriageScore:
    n = len(cases)
    correct = sum(p == c.verdict for c, p in zip(cases, predicted))
    abstained = sum(p is None for p in predicted)
    fp_calls = [c for c, p in zip(cases, predicted) if p == "false positive"]
    tps = [(c, p) for c, p in zip(cases, predicted) if c.verdict == "true positive"]
    return TriageScore(
        n=n,
        correct=correct,
        abstained=abstained,
        accuracy=round(correct / n, 4) if n else 0.0,
        fp_precision=round(sum(c.verdict == "false positive" for c in fp_calls) / len(fp_calls), 4)
        if fp_calls
        else None,
        tp_recall=round(sum(p == "true positive" for _, p in tps) / len(tps), 4) if tps else None,
        coverage=round((n - abstained) / n, 4) if n else 0.0,
        seconds=round(seconds, 2),
    )


def decide_earned(tuned: TriageScore, baseline: TriageScore, min_cases: int, margin: float = 0.0) -> tuple[bool, str]:
    if tuned.n < min_cases:
        return False, f"{tuned.n} held-out labels, fewer than verdict.min_cases ({min_cases})"
    if tuned.accuracy <= baseline.accuracy or tuned.accuracy < baseline.accuracy + margin - 1e-9:
        return False, (
            f"the tuned model's accuracy {tuned.accuracy:.2f} does not beat the per-rule baseline's "
            f"{baseline.accuracy:.2f} by verdict.margin ({margin:.2f})"
        )
    return (
        True,
        f"the tuned model's accuracy {tuned.accuracy:.2f} beats the per-rule baseline's {baseline.accuracy:.2f}",
    )


def evaluate_triage(
    dataset_dir: str | Path,
    adapter_dir: str | Path | None,
    resolved_model,
    settings: Settings,
    *,
    predict: Callable[[list[TriageCase], str | Path | None], list[Verdict | None]] | None = None,
) -> TriageEval | None:
    """Score the held-out labels of `dataset_dir` (None when it has none). `predict(cases, adapter)`
    gives a system's verdicts (default: the model's greedy answers; tests pass their own)."""
    every = read_triage_cases(dataset_dir)
    held = [c for c in every if c.split == "test"]
    if not held:
        return None
    train = [c for c in every if c.split != "test"]
    cases = sorted(held, key=lambda c: (when(c.date), c.id))
    cap = settings.verdict.max_cases
    if cap and len(cases) > cap:
        cases = cases[-cap:]  # the latest ones
    answers: dict[str, list[str]] = {}

    def by_model(cs: list[TriageCase], adapter) -> list[Verdict | None]:
        from secai.triage.model import model_verdicts

        out = model_verdicts(resolved_model, [c.facts() for c in cs], settings, adapter)
        answers["tuned" if adapter else "base"] = [o.answer for o in out]
        return [o.parsed.verdict for o in out]

    predict = predict or by_model
    baseline_of = majority_baseline(train)
    predictions: dict[str, list[Verdict | None]] = {}
    scores: dict[str, TriageScore] = {}
    for arm, run in (
        ("baseline", lambda: [baseline_of(c) for c in cases]),
        ("base", lambda: predict(cases, None)),
        ("tuned", lambda: predict(cases, adapter_dir)),
    ):
        started = time.time()
        predictions[arm] = run()
        scores[arm] = score(cases, predictions[arm], time.time() - started)
        s = scores[arm]
        log.info(
            "evaluate: triage %-8s accuracy %.2f, coverage %.2f on %d held-out labels in %.0fs",
            arm,
            s.accuracy,
            s.coverage,
            s.n,
            s.seconds,
        )
    earned, reason = decide_earned(
        scores["tuned"], scores["baseline"], settings.verdict.min_cases, settings.verdict.margin
    )
    examples = []
    for i, c in enumerate(cases[:EXAMPLES_KEPT]):
        row = {"id": c.id, "tool": c.tool, "rule_id": c.rule_id, "source": c.source, "label": c.verdict}
        for arm in ("baseline", "base", "tuned"):
            row[arm] = predictions[arm][i]
        for arm, texts in answers.items():
            row[f"{arm}_answer"] = redact_text(texts[i][:300])
        examples.append(row)
    return TriageEval(
        cases=len(held),
        n=len(cases),
        train_labels=len(train),
        base=scores["base"],
        tuned=scores["tuned"],
        baseline=scores["baseline"],
        earned=earned,
        min_cases=settings.verdict.min_cases,
        reason=reason,
        labels_by_source=dict(sorted(Counter(c.source for c in every).items())),
        labels_by_verdict=dict(sorted(Counter(c.verdict for c in every).items())),
        examples=examples,
    )
