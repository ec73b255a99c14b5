"""Grounded chat dataset from normalized findings: train/valid/test in mlx-lm's `messages` format.

One example per deduplicated finding: the analysis system prompt, the finding's facts as
delimited data (`secai.analysis.prompts.render_finding_facts`, the same user turn analysis and evaluation
use) and an answer built only from the scanner's facts (`secai.dataset.answers`).

Splits are deterministic (seeded), stratified by tool, and grouped: findings that share a
fingerprint, the same rule in the same file, the same alert on the same URL, or the same
package with the same advisory (any alias) always land in one split. Runs that are not trusted
(`secai.run.meta.may_train`: pull requests, forks, other events and branches) produce no training
data, and findings with instruction-like text are kept out of train/valid by default.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from secai.analysis.prompts import PROMPT_VERSION, SYSTEM_PROMPT, render_finding_facts
from secai.config import Settings
from secai.dataset.answers import build_answer, chosen_fixed_version
from secai.dataset.injection import scan_finding
from secai.findings import Finding, canonical_tool, unique, vuln_ids_in
from secai.ingest.redact import redact_text
from secai.run.folder import atomic_write_json, atomic_write_text
from secai.run.meta import RunMeta, may_train

SPLITS = ("train", "valid", "test")
DATASET_VERSION = "1"
#: Characters of finding facts in a user turn: about the analysis prompt budget (~3 chars/token).
CHARS_PER_TOKEN = 3


class FindingFacts(BaseModel):
    """What evaluation checks an answer against (kept beside test.jsonl, not inside it)."""

    fingerprint: str
    tool: str
    category: str
    rule_id: str
    title: str = ""
    package: str | None = None
    installed_version: str | None = None
    fixed_version: str | None = None
    fixed_versions: list[str] = Field(default_factory=list)
    path: str | None = None
    line: int | None = None
    cwe: list[int] = Field(default_factory=list)
    url: str | None = None
    urls: list[str] = Field(default_factory=list)
    vulnerability_ids: list[str] = Field(default_factory=list)
    #: Advisory ids mentioned anywhere in the finding (description, references): not invented.
    known_ids: list[str] = Field(default_factory=list)
    flagged: bool = False


class Example(BaseModel):
    fingerprint: str
    tool: str
    severity: str
    category: str
    group: str
    messages: list[dict[str, str]]
    facts: FindingFacts
    flagged: bool = False
    flag_reasons: list[str] = Field(default_factory=list)


class DatasetResult(BaseModel):
    out_dir: str
    counts: dict[str, int] = Field(default_factory=dict)
    trusted: bool = True
    decision: str = ""
    flagged: int = 0
    excluded: dict[str, int] = Field(default_factory=dict)
    note: str = ""
    files: list[str] = Field(default_factory=list)


# -- examples -----------------------------------------------------------------------------------


def facts_for(f: Finding) -> FindingFacts:
    pkg = f.package
    text = " ".join(filter(None, [f.title, f.message, f.description, f.remediation, *f.references]))
    return FindingFacts(
        fingerprint=f.fingerprint,
        tool=canonical_tool(f.tool),
        category=f.category.value,
        rule_id=f.rule_id,
        title=redact_text(f.title) or "",
        package=pkg.name if pkg else None,
        installed_version=pkg.version if pkg else None,
        fixed_version=chosen_fixed_version(f),
        fixed_versions=list(pkg.fixed_versions) if pkg else [],
        path=f.location.path if f.location else None,
        line=f.location.start_line if f.location else None,
        cwe=list(f.cwe),
        url=f.url,
        urls=unique([f.url, *(i.url for i in f.instances)]),
        vulnerability_ids=list(f.vulnerability_ids),
        known_ids=unique([*f.vulnerability_ids, *vuln_ids_in(text)]),
    )


def group_keys(f: Finding) -> list[str]:
    """Keys that tie findings into one split group; any shared key joins two groups."""
    keys = [f"fp:{f.fingerprint}"] if f.fingerprint else []
    if f.package is not None:
        name = f"{(f.package.ecosystem or '').lower()}:{f.package.name.lower()}"
        ids = f.vulnerability_ids or [f.rule_id]
        keys += [f"pkg:{name}:{i.upper()}" for i in ids]
    elif f.location is not None:
        keys.append(f"code:{canonical_tool(f.tool)}:{f.rule_id}:{f.location.path}")
    elif f.url:
        keys.append(f"dast:{canonical_tool(f.tool)}:{f.rule_id}:{f.url}")
    else:
        keys.append(f"rule:{canonical_tool(f.tool)}:{f.rule_id}")
    return keys


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _clean_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": redact_text(m["content"]) or ""} for m in messages]


def make_examples(findings: Iterable[Finding], settings: Settings) -> tuple[list[Example], Counter]:
    """Deduplicated examples with their split groups; the counter says what was dropped and why."""
    dropped: Counter = Counter()
    max_chars = settings.analyze.max_prompt_tokens * CHARS_PER_TOKEN
    seen_fp: set[str] = set()
    seen_facts: set[str] = set()
    built: list[tuple[Finding, Example]] = []
    for f in findings:
        if f.suppressed:
            dropped["suppressed"] += 1
            continue
        if f.fingerprint and f.fingerprint in seen_fp:
            dropped["duplicate fingerprint"] += 1
            continue
        user = render_finding_facts(f, max_chars=max_chars)
        answer = build_answer(f)
        digest = hashlib.sha256((user + "\0" + answer).encode("utf-8", "surrogatepass")).hexdigest()
        if digest in seen_facts:
            dropped["identical facts"] += 1
            continue
        seen_fp.add(f.fingerprint)
        seen_facts.add(digest)
        report = scan_finding(f)
        facts = facts_for(f)
        facts.flagged = report.flagged
        messages = _clean_messages(
            [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user},
                {"role": "assistant", "content": answer},
            ]
        )
        built.append(
            (
                f,
                Example(
                    fingerprint=f.fingerprint or digest[:32],
                    tool=canonical_tool(f.tool),
                    severity=f.severity.value,
                    category=f.category.value,
                    group="",
                    messages=messages,
                    facts=facts,
                    flagged=report.flagged,
                    flag_reasons=report.reasons,
                ),
            )
        )
    uf = _UnionFind()
    for f, ex in built:
        keys = group_keys(f) or [f"ex:{ex.fingerprint}"]
        for k in keys[1:]:
            uf.union(keys[0], k)
        ex.group = keys[0]
    for _, ex in built:
        ex.group = hashlib.sha256(uf.find(ex.group).encode()).hexdigest()[:16]
    return [ex for _, ex in built], dropped


# -- splits -------------------------------------------------------------------------------------


def assign_splits(examples: list[Example], settings: Settings) -> dict[str, str]:
    """group -> split. Seeded and stratified by tool: each tool's groups are shuffled and dealt
    to test and valid until their share is met, the rest to train."""
    cfg = settings.dataset
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        groups[ex.group].append(ex)
    by_tool: dict[str, list[str]] = defaultdict(list)
    for g, members in groups.items():
        tool = Counter(m.tool for m in members).most_common(1)[0][0]
        by_tool[tool].append(g)
    split_of: dict[str, str] = {}
    for tool in sorted(by_tool):
        gids = sorted(by_tool[tool])
        random.Random(f"{cfg.seed}:{tool}").shuffle(gids)
        total = sum(len(groups[g]) for g in gids)
        want = {"test": round(total * cfg.test_fraction), "valid": round(total * cfg.valid_fraction)}
        # A tool with a single group can only feed one split: train, where it teaches the most.
        if len(gids) < 2:
            want = {"test": 0, "valid": 0}
        have = {"test": 0, "valid": 0}
        for g in gids:
            size = len(groups[g])
            target = next((s for s in ("test", "valid") if have[s] < want[s]), "train")
            # Never let one big group swallow most of a tool when a smaller share was wanted.
            if target != "train" and have[target] + size > max(want[target] * 2, 1) and size > 1:
                target = "train"
            if target != "train":
                have[target] += size
            split_of[g] = target
    return split_of


# -- files --------------------------------------------------------------------------------------


def _jsonl(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _size_category(n: int) -> str:
    if n < 1000:
        return "n<1K"
    if n < 10_000:
        return "1K<n<10K"
    if n < 100_000:
        return "10K<n<100K"
    return "100K<n<1M"


def _safe_word(text: str, limit: int = 60) -> str:
    """Untrusted names in the card: letters, digits and a little punctuation, nothing markdown reads."""
    return "".join(ch for ch in text if ch.isalnum() or ch in "._-,:;/' ")[:limit].strip() or "unknown"


def _redact_tree(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [_redact_tree(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_tree(v) for k, v in value.items()}
    return value


def dataset_card(stats: dict[str, Any], settings: Settings, run_meta: dict[str, Any]) -> str:
    import yaml

    counts = stats["splits"]
    total = sum(counts.values())
    meta = {
        "license": settings.dataset.license,
        "pretty_name": "secai grounded security findings",
        "language": ["en"],
        "task_categories": ["text-generation"],
        "size_categories": [_size_category(total)],
        "tags": ["security", "vulnerability", "sast", "sca", "chatml", "mlx", "secai"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"{s}.jsonl"} for s in SPLITS if counts.get(s)],
            }
        ],
    }
    tools = "\n".join(f"| {_safe_word(t)} | {n} |" for t, n in sorted(stats["by_tool"].items()))
    repo = _safe_word(str(run_meta.get("repo") or "local input"))
    return (
        "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n"
        "# secai grounded security findings\n\n"
        f"Chat examples (mlx-lm `messages` format) built by secai from security scanner reports of {repo}. "
        "Each example is one deduplicated finding: the analysis system prompt, the finding's facts as a "
        "delimited block of untrusted data, and an answer built **only from the scanner's own facts** "
        "(the fixed version the advisory gives for that package, the scanner's remediation text, the CWE, "
        "the file and line, the scanner's references). Findings without a published fix say so.\n\n"
        "## Splits\n\n"
        "| split | examples |\n|---|---|\n"
        + "".join(f"| {s} | {counts.get(s, 0)} |\n" for s in SPLITS)
        + "\nSplits are seeded and stratified by tool, and grouped so that one finding, one rule in one file, "
        "or one package with one advisory never appears in two splits. `test_facts.jsonl` holds the facts "
        "each test answer is scored against.\n\n"
        "## Tools\n\n| tool | examples |\n|---|---|\n" + tools + "\n\n## Safety\n\n"
        "- Secrets found by scanners are redacted to `[REDACTED:<hash prefix>]` before anything is written.\n"
        f"- Findings whose text reads like instructions to a model: {stats['flagged']} "
        f"({'kept out of train/valid' if settings.dataset.exclude_flagged else 'kept'}).\n"
        f"- Training data decision: {_safe_word(stats['decision'], 200)}.\n\n"
        "## Limitations\n\n"
        "Answers are only as good as the scanners' own data: a wrong advisory range or a missing remediation "
        "in the report is reproduced, not corrected.\n"
    )


def build_dataset(
    findings: list[Finding],
    out_dir: str | Path,
    settings: Settings,
    *,
    run_meta: RunMeta | dict[str, Any] | None = None,
) -> DatasetResult:
    """Write train/valid/test JSONL, test_facts.jsonl, stats.json and README.md into `out_dir`.
    Only a run that `may_train` (secai.run.meta) gets train/valid/test rows."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = run_meta if isinstance(run_meta, RunMeta) else RunMeta.model_validate(run_meta or {})
    trusted, decision = may_train(meta, settings)
    examples, dropped = make_examples(findings, settings)
    rows: dict[str, list[Example]] = {s: [] for s in SPLITS}
    excluded: Counter = Counter(dropped)
    flagged = [ex for ex in examples if ex.flagged]
    if not trusted:
        excluded["untrusted run"] += len(examples)
    else:
        split_of = assign_splits(examples, settings)
        for ex in sorted(examples, key=lambda e: e.fingerprint):
            split = split_of[ex.group]
            if ex.flagged and settings.dataset.exclude_flagged and split != "test":
                excluded["instruction-like text"] += 1
                continue
            rows[split].append(ex)
    counts = {s: len(rows[s]) for s in SPLITS}
    written: list[str] = []
    for s in SPLITS:
        atomic_write_text(out / f"{s}.jsonl", _jsonl({"messages": ex.messages} for ex in rows[s]))
        written.append(f"{s}.jsonl")
    atomic_write_text(out / "test_facts.jsonl", _jsonl(_redact_tree(ex.facts.model_dump()) for ex in rows["test"]))
    written.append("test_facts.jsonl")
    kept = [ex for s in SPLITS for ex in rows[s]]
    stats = {
        "version": DATASET_VERSION,
        "prompt_version": PROMPT_VERSION,
        "seed": settings.dataset.seed,
        "input_findings": len(findings),
        "examples": len(examples),
        "splits": counts,
        "trusted": trusted,
        "decision": decision,
        "by_tool": dict(sorted(Counter(ex.tool for ex in kept).items())),
        "by_severity": dict(sorted(Counter(ex.severity for ex in kept).items())),
        "by_category": dict(sorted(Counter(ex.category for ex in kept).items())),
        "by_split": {
            s: {
                "tool": dict(sorted(Counter(ex.tool for ex in rows[s]).items())),
                "category": dict(sorted(Counter(ex.category for ex in rows[s]).items())),
                "severity": dict(sorted(Counter(ex.severity for ex in rows[s]).items())),
            }
            for s in SPLITS
        },
        "groups": len({ex.group for ex in kept}),
        "flagged": len(flagged),
        "flagged_findings": [
            {"fingerprint": ex.fingerprint, "tool": ex.tool, "reasons": ex.flag_reasons} for ex in flagged
        ],
        "excluded": dict(sorted(excluded.items())),
    }
    atomic_write_json(out / "stats.json", stats)
    atomic_write_text(out / "README.md", dataset_card(stats, settings, meta.model_dump()))
    written += ["stats.json", "README.md"]
    note = "" if counts["train"] else ("no training data: " + decision if not trusted else "no training examples")
    return DatasetResult(
        out_dir=str(out),
        counts=counts,
        trusted=trusted,
        decision=decision,
        flagged=len(flagged),
        excluded=dict(excluded),
        note=note,
        files=written,
    )


def read_split(dataset_dir: str | Path, split: str) -> list[dict]:
    p = Path(dataset_dir) / f"{split}.jsonl"
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_test_facts(dataset_dir: str | Path) -> list[FindingFacts]:
    p = Path(dataset_dir) / "test_facts.jsonl"
    if not p.exists():
        return []
    return [
        FindingFacts.model_validate_json(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
