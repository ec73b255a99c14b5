"""Base model vs base + adapter on the held-out test split, scored by a deterministic check.

An answer is faithful when it states the facts that matter for its kind of finding and invents
no advisory id:
- dependency: the package name and the fixed version chosen for it (or, when the scanner gives
  none, an honest "no fixed version");
- code / IaC: the file path and the rule id or one of the CWEs;
- DAST: the URL (or an instance URL), the alert id or its title;
- secret: the file path, and nothing that looks like a credential;
- every CVE/GHSA/... id in the answer must appear in the finding (its ids, description or
  references); any other id counts as a hallucination.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from pydantic import BaseModel, Field

from secai.config import Settings
from secai.dataset.build import FindingFacts, read_split, read_test_facts
from secai.errors import SecaiError
from secai.findings import normalize_vuln_id, vuln_ids_in
from secai.ingest.redact import redact_text
from secai.run import files
from secai.run.records import EvalResult, Gate, ModelScore

log = logging.getLogger("secai")

EXAMPLES_KEPT = 5

_NO_FIX_RE = re.compile(
    r"no\s+fixed\s+version|no\s+fix(?:ed)?\s+(?:version\s+)?(?:is\s+)?(?:yet\s+)?(?:available|published|released|known)"
    r"|not\s+(?:yet\s+)?fixed|no\s+patch(?:ed)?\s+(?:version|release)\s+(?:is\s+)?(?:available|published)"
    r"|fixed\s+versions?\s*:\s*none",
    re.IGNORECASE,
)


class Score(BaseModel):
    faithful: bool
    checks: dict[str, bool] = Field(default_factory=dict)
    invented_ids: list[str] = Field(default_factory=list)


def _contains(text: str, needle: str | None) -> bool:
    return bool(needle) and needle.lower() in text.lower()


def _version_in(text: str, version: str) -> bool:
    """The exact version, not a prefix of a longer one (1.26.5 is not in 1.26.50)."""
    return re.search(rf"(?<![\w.+-]){re.escape(version)}(?![\w+-]|\.\w)", text) is not None


def invented_ids(answer: str, facts: FindingFacts) -> list[str]:
    known = {normalize_vuln_id(i) for i in facts.known_ids + facts.vulnerability_ids}
    return [i for i in vuln_ids_in(answer) if i not in known]


def score_answer(answer: str, facts: FindingFacts) -> Score:
    text = answer or ""
    checks: dict[str, bool] = {}
    cat = facts.category
    if cat in ("dependency", "license"):
        checks["package"] = _contains(text, facts.package)
        if facts.fixed_version:
            checks["fixed_version"] = _version_in(text, facts.fixed_version)
        else:
            checks["honest_no_fix"] = bool(_NO_FIX_RE.search(text))
    elif cat in ("code", "iac"):
        checks["path"] = _contains(text, facts.path)
        cwe_named = any(re.search(rf"\bCWE-{c}\b", text) for c in facts.cwe)
        checks["rule_or_cwe"] = _contains(text, facts.rule_id) or cwe_named
    elif cat == "dast":
        checks["url_or_alert"] = (
            any(_contains(text, u) for u in facts.urls)
            or re.search(rf"\b{re.escape(facts.rule_id)}\b", text) is not None
            or _contains(text, facts.title)
        )
    elif cat == "secret":
        checks["path"] = _contains(text, facts.path)
        checks["no_secret"] = redact_text(text) == text
    invented = invented_ids(text, facts)
    checks["no_invented_ids"] = not invented
    return Score(faithful=all(checks.values()), checks=checks, invented_ids=invented)


def summarize(scores: list[Score], facts: list[FindingFacts]) -> ModelScore:
    n = len(scores)
    cats: dict[str, list[bool]] = {}
    for s, f in zip(scores, facts):
        cats.setdefault(f.category, []).append(s.faithful)
    return ModelScore(
        faithfulness=round(sum(s.faithful for s in scores) / n, 4) if n else 0.0,
        hallucination_rate=round(sum(bool(s.invented_ids) for s in scores) / n, 4) if n else 0.0,
        n=n,
        by_category={c: round(sum(v) / len(v), 4) for c, v in sorted(cats.items())},
    )


def decide_gate(base: ModelScore, tuned: ModelScore, settings: Settings) -> Gate:
    required = settings.evaluate.margin
    margin = round(tuned.faithfulness - base.faithfulness, 4)
    enabled = settings.evaluate.gate
    return Gate(
        enabled=enabled,
        passed=(margin >= required - 1e-9) if enabled else True,
        margin=margin,
        required_margin=required,
    )


def generate_answers(
    model, tokenizer, prompts: list[list[dict]], *, batch_size: int, max_tokens: int
) -> tuple[list[str], float]:
    """Greedy answers in the order of `prompts`, through the analysis generator (shared prompt
    prefix processed once, batched decoding, stop at EOS or a complete answer); also the
    generated tokens per second."""
    from secai.analysis.analyze import GenerationStats, PreparedPrompt, generate_batched
    from secai.model.chat import chat_ids

    prepared = [
        PreparedPrompt(
            fingerprint=str(i),
            truncated=False,
            tokens=chat_ids(tokenizer, p),
        )
        for i, p in enumerate(prompts)
    ]
    stats = GenerationStats()
    started = time.perf_counter()
    texts = generate_batched(model, tokenizer, prepared, batch_size=batch_size, max_tokens=max_tokens, stats=stats)
    seconds = time.perf_counter() - started
    return [texts[p.fingerprint] for p in prepared], (stats.generated_tokens / seconds if seconds > 0 else 0.0)


def print_table(result: EvalResult, file=None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Base vs tuned on the held-out test split")
    table.add_column("model")
    table.add_column("faithfulness", justify="right")
    table.add_column("invented ids", justify="right")
    table.add_column("n", justify="right")
    cats = sorted(set(result.base.by_category) | set(result.tuned.by_category))
    for c in cats:
        table.add_column(c, justify="right")
    for name, s in (("base", result.base), ("tuned", result.tuned)):
        table.add_row(
            name,
            f"{s.faithfulness:.2f}",
            f"{s.hallucination_rate:.1%}",
            str(s.n),
            *(f"{s.by_category.get(c, 0):.2f}" for c in cats),
        )
    g = result.gate
    Console(file=file).print(table)
    Console(file=file).print(
        f"gate: {'PASSED' if g.passed else 'FAILED'} (margin {g.margin:+.2f}, required {g.required_margin:+.2f}"
        + ("" if g.enabled else ", gate disabled")
        + ")"
    )


def evaluate_adapter(
    dataset_dir: str | Path,
    adapter_dir: str | Path,
    resolved_model,
    settings: Settings,
    *,
    out: str | Path | None = None,
    batch_size: int | None = None,
) -> EvalResult:
    """Score the base model and base + adapter on `test.jsonl`; write `eval.json` (default: next
    to the dataset folder) and return the result."""
    from secai.model.base import load, runtime_model

    dataset_dir, adapter_dir = Path(dataset_dir), Path(adapter_dir)
    rows = read_split(dataset_dir, "test")
    facts = read_test_facts(dataset_dir)
    if not rows:
        raise SecaiError(f"{dataset_dir / 'test.jsonl'}: no test examples to evaluate")
    if len(facts) != len(rows):
        raise SecaiError(f"{dataset_dir / 'test_facts.jsonl'}: {len(facts)} facts for {len(rows)} test examples")
    if settings.evaluate.max_examples:
        rows, facts = rows[: settings.evaluate.max_examples], facts[: settings.evaluate.max_examples]
    prompts = [[m for m in r["messages"] if m["role"] != "assistant"] for r in rows]
    runtime = runtime_model(resolved_model, settings, purpose="infer")
    bs = batch_size or settings.analyze.batch_size
    answers: dict[str, list[str]] = {}
    speed: dict[str, tuple[float, float]] = {}
    for name, adapter in (("base", None), ("tuned", adapter_dir)):
        started = time.time()
        model, tokenizer = load(runtime, adapter_path=adapter)
        answers[name], tps = generate_answers(
            model, tokenizer, prompts, batch_size=bs, max_tokens=settings.evaluate.max_tokens
        )
        speed[name] = (round(time.time() - started, 2), round(tps, 2))
        del model
        log.info("evaluate: %s answered %d test findings in %.1fs", name, len(prompts), speed[name][0])
    scores = {name: [score_answer(a, f) for a, f in zip(answers[name], facts)] for name in answers}
    summary = {name: summarize(scores[name], facts) for name in answers}
    for name in summary:
        summary[name].seconds, summary[name].tokens_per_second = speed[name]
    examples = []
    for i in range(min(EXAMPLES_KEPT, len(rows))):
        examples.append(
            {
                "fingerprint": facts[i].fingerprint,
                "category": facts[i].category,
                "reference": redact_text(rows[i]["messages"][-1]["content"]),
                "base": {"answer": redact_text(answers["base"][i]), **scores["base"][i].model_dump()},
                "tuned": {"answer": redact_text(answers["tuned"][i]), **scores["tuned"][i].model_dump()},
            }
        )
    result = EvalResult(
        base=summary["base"],
        tuned=summary["tuned"],
        gate=decide_gate(summary["base"], summary["tuned"], settings),
        examples=examples,
        model={"model_id": resolved_model.model_id, "revision": resolved_model.revision, "adapter": str(adapter_dir)},
    )
    target = Path(out) if out else dataset_dir.parent / "eval.json"
    files.write_eval(target, result)
    return result
