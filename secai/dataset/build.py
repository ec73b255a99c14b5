"""The training dataset: how this repository's team fixes findings, split by time.

Examples are fix pairs (`secai.dataset.fixes`): mined history fixes and verified deterministic
fixes, in mlx-lm's `messages` format, the user turn exactly what the fix stage sends. Splits
follow time, as a model meets them: the latest `dataset.test_fraction` of history fixes are the
test split, the `dataset.valid_fraction` before them validation, and a commit never feeds two
splits. Deterministic fixes are made from today's findings, so they only train.

A run that may not train (`secai.run.meta.may_train`: pull requests, forks, other events and
branches) gets no rows; fixes whose texts read like instructions to a model
(`secai.dataset.injection`) are counted and kept out of train/valid unless
`dataset.exclude_flagged: false`.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from secai.config import Settings
from secai.dataset.fixes import FixCase, FixExample, render_example
from secai.dataset.injection import detect_text
from secai.dataset.triage import CASES as TRIAGE_CASES
from secai.dataset.triage import TriageCase, triage_split
from secai.dates import when
from secai.fix.memory import MEMORY_FILE, FixMemory
from secai.fix.prompt import PROMPT_VERSION
from secai.ingest.redact import redact_text
from secai.run.folder import atomic_write_json, atomic_write_text
from secai.run.meta import RunMeta, may_train

SPLITS = ("train", "valid", "test")
DATASET_VERSION = "3"
CASES = "test_cases.jsonl"


class DatasetResult(BaseModel):
    out_dir: str
    counts: dict[str, int] = Field(default_factory=dict)
    trusted: bool = True
    decision: str = ""
    flagged: int = 0
    excluded: dict[str, int] = Field(default_factory=dict)
    note: str = ""
    files: list[str] = Field(default_factory=list)


def time_split(examples: list[FixExample], settings: Settings) -> dict[str, str]:
    """example id -> split. History examples are taken newest commit first into test until it
    holds `test_fraction` of them, then into valid until `valid_fraction`; the rest train."""
    history = [ex for ex in examples if ex.case.source == "history"]
    by_commit: dict[str, list[FixExample]] = {}
    for ex in history:
        by_commit.setdefault(ex.case.commit or "", []).append(ex)
    newest_first = sorted(
        by_commit.items(), key=lambda kv: (max(when(e.case.date) for e in kv[1]), kv[0]), reverse=True
    )
    n = len(history)
    want = {"test": round(n * settings.dataset.test_fraction), "valid": round(n * settings.dataset.valid_fraction)}
    split_of: dict[str, str] = {}
    taken = {"test": 0, "valid": 0}
    current = "test"
    for _, members in newest_first:
        if current == "test" and taken["test"] >= want["test"]:
            current = "valid"
        if current == "valid" and taken["valid"] >= want["valid"]:
            current = "train"
        for ex in members:
            split_of[ex.case.id] = current
        if current != "train":
            taken[current] += len(members)
    for ex in examples:
        split_of.setdefault(ex.case.id, "train")
    return split_of


def triage_cap(fix_rows: int, settings: Settings) -> int:
    return max(settings.dataset.triage_min, round(fix_rows * settings.dataset.triage_share))


def balance_triage(cases: list[TriageCase], cap: int) -> list[TriageCase]:
    """At most `cap` cases, taken in turns across verdicts and, within a verdict, across rules
    (latest first): a history where 97% of labels are "fixed, so true positive" would otherwise
    teach one answer and crowd the fix examples out of the training steps."""
    if len(cases) <= cap:
        return list(cases)
    queues: dict[str, dict[tuple[str, str], deque[TriageCase]]] = {}
    for c in sorted(cases, key=lambda c: (when(c.date), c.id), reverse=True):
        queues.setdefault(c.verdict, {}).setdefault((c.tool, c.rule_id), deque()).append(c)
    rules = {v: deque(sorted(q)) for v, q in queues.items()}
    out: list[TriageCase] = []
    while len(out) < cap and any(rules.values()):
        for v in sorted(rules):
            if not rules[v] or len(out) >= cap:
                continue
            key = rules[v].popleft()
            out.append(queues[v][key].popleft())
            if queues[v][key]:
                rules[v].append(key)
    return out


def _flag_reasons(ex: FixExample) -> list[str]:
    c = ex.case
    return detect_text(" \n".join([c.title, c.message, c.rationale, c.search, c.replace]))


def _recall_examples(examples: list[FixExample], memory: FixMemory, settings: Settings) -> int:
    """Render each example again with the earlier fix the fix stage would recall for it: only one
    committed before it (never its own commit), as a model meets them; a fix of today's (a
    deterministic provider's) may recall any other. Returns how many got one."""
    n = 0
    for ex in examples:
        c = ex.case
        past = memory.recall(
            tool=c.tool,
            rule_id=c.rule_id,
            cwe=c.cwe,
            path=c.path,
            code=ex.target_text(),
            as_of=c.date if c.source == "history" else None,
            exclude_commit=c.commit,
            exclude_id=c.id,
        )
        messages = render_example(ex, settings, past) if past else None
        if messages is not None:
            ex.messages = messages
            n += 1
    return n


def _jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _range(examples: list[FixExample]) -> dict[str, str] | None:
    dates = sorted((ex.case.date for ex in examples if ex.case.date), key=when)
    return {"from": dates[0], "to": dates[-1]} if dates else None


def build_dataset(
    examples: list[FixExample],
    out_dir: str | Path,
    settings: Settings,
    *,
    run_meta: RunMeta | dict[str, Any] | None = None,
    skipped: dict[str, int] | None = None,
    triage: list[TriageCase] | None = None,
) -> DatasetResult:
    """Write train/valid/test JSONL, test_cases.jsonl, triage_cases.jsonl, stats.json and README.md
    into `out_dir`. Triage examples (`secai.dataset.triage`) join the fix examples in train and
    valid (one adapter learns both); every kept triage case, with its split, is in
    triage_cases.jsonl (the evaluation scores the test ones against a baseline from the others)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = run_meta if isinstance(run_meta, RunMeta) else RunMeta.model_validate(run_meta or {})
    trusted, decision = may_train(meta, settings)
    excluded: Counter[str] = Counter(skipped or {})
    rows: dict[str, list[FixExample]] = {s: [] for s in SPLITS}
    verdicts: dict[str, list[TriageCase]] = {s: [] for s in SPLITS}
    flagged = 0
    if not trusted:
        excluded["untrusted run"] += len(examples) + len(triage or [])
    else:
        triage_split(triage or [], settings)
        for c in triage or []:
            if detect_text(" \n".join([c.title, c.message, c.reason, c.window])):
                flagged += 1
                if settings.dataset.exclude_flagged and c.split != "test":
                    excluded["instruction-like text"] += 1
                    continue
            verdicts[c.split].append(c)
        split_of = time_split(examples, settings)
        for ex in sorted(examples, key=lambda e: (when(e.case.date), e.case.id)):
            split = split_of[ex.case.id]
            if _flag_reasons(ex):
                flagged += 1
                if settings.dataset.exclude_flagged and split != "test":
                    excluded["instruction-like text"] += 1
                    continue
            rows[split].append(ex)
    memory = FixMemory(p for s in ("train", "valid") for ex in rows[s] if (p := ex.past_fix()) is not None)
    recalled = {s: _recall_examples(rows[s], memory, settings) for s in SPLITS}
    trained = {s: balance_triage(verdicts[s], triage_cap(len(rows[s]), settings)) for s in ("train", "valid")}
    over = sum(len(verdicts[s]) - len(trained[s]) for s in trained)
    if over:
        excluded["triage examples over dataset.triage_share (kept as labels)"] += over
    counts = {s: len(rows[s]) + (len(trained[s]) if s != "test" else 0) for s in SPLITS}
    written = []
    for s in SPLITS:
        chat = [{"messages": ex.messages} for ex in rows[s]]
        if s != "test":  # held-out verdicts live in triage_cases.jsonl (test.jsonl holds fix prompts)
            chat += [{"messages": c.messages()} for c in trained[s]]
        atomic_write_text(out / f"{s}.jsonl", _jsonl(chat))
        written.append(f"{s}.jsonl")
    atomic_write_text(out / CASES, _jsonl(ex.case.model_dump(mode="json") for ex in rows["test"]))
    kept_triage = [c for s in SPLITS for c in verdicts[s]]
    atomic_write_text(out / TRIAGE_CASES, _jsonl(c.model_dump(mode="json") for c in kept_triage))
    memory.write(out / MEMORY_FILE)
    written += [CASES, TRIAGE_CASES, MEMORY_FILE]
    kept = [ex for s in SPLITS for ex in rows[s]]
    stats = {
        "version": DATASET_VERSION,
        "prompt_version": PROMPT_VERSION,
        "task": "fix+triage" if kept_triage else "fix",
        "splits": counts,
        # fix examples whose prompt shows an earlier fix of the team's (the memory holds train + valid)
        "with_earlier_fix": recalled,
        "memory": len(memory),
        "triage": {
            "splits": {s: len(verdicts[s]) for s in SPLITS},
            "trained": {s: len(trained[s]) for s in trained},  # examples in train/valid (balanced, capped)
            "by_source": dict(sorted(Counter(c.source for c in kept_triage).items())),
            "by_verdict": dict(sorted(Counter(c.verdict for c in kept_triage).items())),
            "by_source_verdict": {
                src: dict(sorted(Counter(c.verdict for c in kept_triage if c.source == src).items()))
                for src in sorted({c.source for c in kept_triage})
            },
        },
        "trusted": trusted,
        "decision": decision,
        "by_source": dict(sorted(Counter(ex.case.source for ex in kept).items())),
        "by_tool": dict(sorted(Counter(ex.case.tool for ex in kept).items())),
        "by_split": {
            s: {
                "dates": _range(rows[s]),
                "commits": len({ex.case.commit for ex in rows[s] if ex.case.commit}),
                "tool": dict(sorted(Counter(ex.case.tool for ex in rows[s]).items())),
                "rule": dict(sorted(Counter(f"{ex.case.tool}/{ex.case.rule_id}" for ex in rows[s]).items())),
            }
            for s in SPLITS
        },
        "flagged": flagged,
        "excluded": dict(sorted(excluded.items())),
    }
    atomic_write_json(out / "stats.json", stats)
    atomic_write_text(out / "README.md", dataset_card(stats, settings, meta))
    written += ["stats.json", "README.md"]
    note = "" if counts["train"] else ("no training data: " + decision if not trusted else "no training examples")
    return DatasetResult(
        out_dir=str(out),
        counts=counts,
        trusted=trusted,
        decision=decision,
        flagged=flagged,
        excluded=dict(excluded),
        note=note,
        files=written,
    )


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def _cell(text: str, limit: int = 80) -> str:
    t = " ".join(redact_text(str(text)).split()).replace("|", "\\|").replace("<", "&lt;").replace("@", "@\u200d")
    return t if len(t) <= limit else t[: limit - 1] + "…"


def dataset_card(stats: dict[str, Any], settings: Settings, meta: RunMeta) -> str:
    """The dataset's README: what it holds, where it came from, and the counts behind each claim."""
    counts = stats["splits"]
    total = sum(counts.values())
    lines = [
        "---",
        f"license: {settings.dataset.license}",
        "task_categories:",
        "- text-generation",
        "tags:",
        "- security",
        "- code-fix",
        *(["- triage"] if stats.get("task") == "fix+triage" else []),
        "- secai",
        "size_categories:",
        f"- {_size_category(total)}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        *(f"  - split: {'validation' if s == 'valid' else s}\n    path: {s}.jsonl" for s in SPLITS),
        "---",
        "",
        "# secai fix dataset" + (" (and triage verdicts)" if stats.get("task") == "fix+triage" else ""),
        "",
        "How this repository's team fixes the findings its scanners report: each example is a finding,",
        "the code around it and the lines to rewrite (the prompt secai's fix stage sends), answered with",
        "the new text of those lines and a one-line rationale. Examples come from the repository's own",
        "history (a commit after which the scanner stopped reporting a finding on the lines it changed)",
        "and from fixes secai's deterministic providers made and the scanner verified.",
        "",
        f"- source repository: {_cell(meta.repo or 'a local checkout')}",
        f"- prompt version: `{stats['prompt_version']}`; dataset version {stats['version']}",
        f"- training data allowed: {'yes' if stats['trusted'] else 'no'} ({_cell(stats['decision'], 200)})",
        f"- by source: {', '.join(f'{k} {v}' for k, v in stats['by_source'].items()) or 'none'}",
        "- earlier fixes: "
        + (
            f"{stats.get('memory', 0)} of the train and valid fixes; a prompt shows the closest earlier fix "
            "of the same rule, from an earlier commit, in: "
            + ", ".join(f"{s} {n}" for s, n in (stats.get("with_earlier_fix") or {}).items())
        ),
        "",
        "## Splits (by time: no commit feeds two splits)",
        "",
        "| split | examples | commits | from | to |",
        "|---|---:|---:|---|---|",
    ]
    for s in SPLITS:
        d = stats["by_split"][s]
        dates = d["dates"] or {}
        lines.append(
            f"| {s} | {counts[s]} | {d['commits']} | {_cell(dates.get('from', '—'), 30)} | {_cell(dates.get('to', '—'), 30)} |"
        )
    lines += ["", "## Examples by rule", "", "| tool/rule | train | valid | test |", "|---|---:|---:|---:|"]
    rules = sorted({r for s in SPLITS for r in stats["by_split"][s]["rule"]})
    for r in rules:
        cells = " | ".join(str(stats["by_split"][s]["rule"].get(r, 0)) for s in SPLITS)
        lines.append(f"| {_cell(r, 100)} | {cells} |")
    tri = stats.get("triage") or {}
    if any(tri.get("splits", {}).values()):
        verdicts = ("true positive", "false positive", "accepted risk")
        lines += [
            "",
            "## Triage labels",
            "",
            "Findings the team decided about, answered with the verdict and the team's reason (a short",
            "neutral one when the decision came without words). Held out by time like the fixes: "
            + ", ".join(f"{s} {tri['splits'].get(s, 0)}" for s in SPLITS)
            + ".",
            "",
            "| source | " + " | ".join(verdicts) + " |",
            "|---|" + "---:|" * len(verdicts),
        ]
        for src, by_v in tri["by_source_verdict"].items():
            lines.append(f"| {_cell(src, 60)} | " + " | ".join(str(by_v.get(v, 0)) for v in verdicts) + " |")
    if stats["excluded"]:
        lines += ["", "## Left out", ""]
        lines += [f"- {_cell(k, 120)}: {v}" for k, v in stats["excluded"].items()]
    lines += [
        "",
        "## Limits",
        "",
        "Fixes are judged by the scanner that reported the finding, not by tests: a fix the scanner",
        "accepts can still change behaviour. Code windows and commit subjects are redacted; examples",
        "whose code held a secret are left out.",
        "",
    ]
    return "\n".join(lines)


def read_split(dataset_dir: str | Path, split: str) -> list[dict]:
    p = Path(dataset_dir) / f"{split}.jsonl"
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_triage_cases(dataset_dir: str | Path) -> list[TriageCase]:
    p = Path(dataset_dir) / TRIAGE_CASES
    if not p.exists():
        return []
    return [TriageCase.model_validate_json(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]


def read_cases(dataset_dir: str | Path) -> list[FixCase]:
    p = Path(dataset_dir) / CASES
    if not p.exists():
        return []
    return [FixCase.model_validate_json(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
