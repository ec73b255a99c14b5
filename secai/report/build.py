"""The PR comment and the job summary, built from whatever a run folder holds.

The comment is for a reviewer: this pull request's new findings first (at most
`COMMENT_NEW_ENTRIES`, each with its verified fix as a diff, or "no verified fix"), the fixed ones
as a count and a list, everything else as counts with links to the job summary and the run.
Findings from several tools on one line are one entry; suppressed findings are marked and never
counted; IaC checks no scanner rated show as "unrated" (`secai.report.severity`). Model text is
shown only when it passed a check: a verified fix's diff, and a triage verdict once the tuned model
beat the per-rule baseline on held-out labels (else the rule's history from the team's labels, a
fact). The job summary holds the same with every entry listed.

Every input is optional (a folder straight after `fetch` has only `run.json` and
`findings.json`); sections appear for what exists. Scanner text goes through
`secai.report.escape`, and the final text through the redaction layer, within GitHub's limits
(65,536 characters for a comment, 1 MiB for a job summary).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from secai.config import Settings
from secai.errors import SecaiError
from secai.findings import SEVERITY_ORDER, Finding, canonical_tool
from secai.ingest.redact import redact_text
from secai.report import links
from secai.report.baseline import Baseline, compare_branch, is_pull_request, store_baseline
from secai.report.entries import Entry, group
from secai.report.escape import md_code, md_fence, md_inline, md_link
from secai.report.fixes import DETERMINISTIC, FixRecord, read_fixes
from secai.report.severity import UNRATED
from secai.run import files
from secai.run.folder import atomic_write_text
from secai.run.meta import RunMeta
from secai.run.records import EvalResult, ProblemRecord, PublishResult, ValidationResult
from secai.triage.comment import VerdictRecord, history_sentence, read_verdicts
from secai.triage.labels import Label, read_labels

log = logging.getLogger("secai")

COMMENT_LIMIT = 65_000  # GitHub rejects bodies over 65,536 characters (counted by `comment_size`)
SUMMARY_LIMIT = 1024 * 1024  # GitHub's per-step summary limit, in bytes
#: New findings listed in the comment; the rest are in the job summary.
COMMENT_NEW_ENTRIES = 20
#: Fixed findings and fixes of older findings listed in the comment.
COMMENT_FIXED_ENTRIES = 20
COMMENT_OTHER_FIXES = 10
DIFF_LINES = 40
_ICON = {"critical": "🟥", "high": "🔴", "medium": "🟠", "low": "🟡", "info": "⚪", UNRATED: "◽"}
_LEVELS = [s.value for s in SEVERITY_ORDER] + [UNRATED]

__all__ = [
    "Baseline",
    "COMMENT_LIMIT",
    "SUMMARY_LIMIT",
    "build_report",
    "comment_size",
    "load_run",
    "loss_chart",
    "loss_series",
    "marker_comment",
    "publish_links",
    "write_reports",
]


def marker_comment(settings: Settings, repo: str | None) -> str:
    """The hidden first line of secai's comment, one per repository (a hash of its name, which
    could hold `--`); the comment is found by a body that starts with it."""
    marker = settings.github.comment_marker
    if not re.fullmatch(r"[A-Za-z0-9._:-]+", marker) or "--" in marker:
        raise SecaiError(f"github.comment_marker {marker!r}: use letters, digits, '.', '_', ':' or single '-'")
    digest = hashlib.sha256((repo or "").lower().encode()).hexdigest()[:16]
    return f"<!-- {marker}:{digest} -->"


# -- reading the run folder ------------------------------------------------------------------------


def _number(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def loss_series(training: Any, kind: str = "train") -> list[tuple[int, float]]:
    """Per-step losses from `adapter/training.json` (`history.train`/`history.val`, or a top-level
    list): numbers, `[step, loss]` pairs, or `{step|iteration, loss|train_loss|val_loss}` rows."""
    if not isinstance(training, dict):
        return []
    if isinstance(training.get("history"), dict):  # secai.training.train: {"history": {"train": [...], "val": [...]}}
        found = loss_series(training["history"], kind)
        if found:
            return found
    keys = {
        "train": ("train_losses", "train_loss", "losses", "steps", "history", "train"),
        "val": ("val_losses", "val_loss", "validation", "valid", "val"),
    }[kind]
    for key in keys:
        rows = training.get(key)
        if not isinstance(rows, list):
            continue
        out: list[tuple[int, float]] = []
        for i, row in enumerate(rows, start=1):
            step, loss = i, None
            if isinstance(row, (int, float)):
                loss = _number(row)
            elif isinstance(row, (list, tuple)) and len(row) >= 2:
                step, loss = row[0], _number(row[1])
            elif isinstance(row, dict):
                step = row.get("step", row.get("iteration", row.get("iter", i)))
                names = ("loss", "train_loss") if kind == "train" else ("val_loss", "loss")
                loss = next((_number(row[n]) for n in names if n in row), None)
            if loss is not None and isinstance(step, (int, float)):
                out.append((int(step), loss))
        if out:
            return out
    return []


def publish_links(data: Any, label: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """(label, url) pairs for every `*url*` string in `publish.json`."""
    out: list[tuple[str, str]] = []
    if depth > 4:
        return out
    if isinstance(data, dict) and isinstance(data.get("repos"), list):  # secai.release.publish's PublishResult
        if data.get("dry_run"):
            return out
        for r in data["repos"]:
            if isinstance(r, dict) and isinstance(r.get("url"), str) and r["url"].startswith("https://"):
                out.append((f"{r.get('kind') or 'repo'}: {r.get('repo_id') or r['url']}", r["url"]))
        return out[:10]
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, str) and "url" in str(k).lower() and v.startswith(("https://", "http://")):
                out.append((label or str(k), v))
            elif isinstance(v, (dict, list)):
                out.extend(publish_links(v, str(k) if not label else f"{label} {k}", depth + 1))
    elif isinstance(data, list):
        for v in data:
            out.extend(publish_links(v, label, depth + 1))
    return out[:10]


@dataclass
class RunData:
    meta: RunMeta
    findings: list[Finding]
    problems: list[ProblemRecord]
    training: dict | None
    evaluation: EvalResult | None
    validation: ValidationResult | None
    published: PublishResult | None
    baseline: Baseline | None
    fixes: dict[str, FixRecord] = field(default_factory=dict)
    #: eval.json's `fix` section (base / tuned / deterministic verified rates), when it has one.
    fix_eval: dict[str, Any] | None = None
    #: The team's labels (labels.jsonl): the rule's history sentence.
    labels: list[Label] = field(default_factory=list)
    #: The tuned model's verdicts (verdicts.jsonl), by fingerprint; shown only when eval.json's
    #: triage section says they were earned, or when every one came from a trusted run's adapter
    #: that earned them there (the verdict stage writes no others).
    verdicts: dict[str, VerdictRecord] = field(default_factory=dict)

    @property
    def verdicts_earned(self) -> bool:
        ev = self.evaluation
        if ev is not None and ev.triage is not None and ev.triage.earned:
            return True
        return bool(self.verdicts) and all(v.adapter_run for v in self.verdicts.values())


def load_run(run_dir: Path, settings: Settings, baseline_fingerprints: Iterable[str] | None = None) -> RunData:
    from secai.triage.ignore import mark_accepted

    run_dir = Path(run_dir)
    labels = read_labels(run_dir)
    meta = files.read_run_meta(run_dir)
    parse = files.read_parse(run_dir)
    if baseline_fingerprints is not None:
        baseline = Baseline("the baseline", set(baseline_fingerprints))
    else:
        baseline = store_baseline(meta, settings)
    return RunData(
        meta=meta,
        findings=mark_accepted(files.read_findings(run_dir), labels),  # .secai/ignore.yml: as suppressed
        problems=parse.errors if parse else [],
        training=files.read_training(run_dir),
        evaluation=files.read_eval(run_dir),
        validation=files.read_validation(run_dir),
        published=files.read_publish(run_dir),
        baseline=baseline,
        fixes=read_fixes(run_dir),
        fix_eval=_fix_eval(run_dir),
        labels=labels,
        verdicts=read_verdicts(run_dir),
    )


def _fix_eval(run_dir: Path) -> dict[str, Any] | None:
    ev = files.read_eval(run_dir)
    return ev.fix.model_dump(mode="json") if ev is not None else None


# -- what changed --------------------------------------------------------------------------------


@dataclass
class Comparison:
    new: list[Entry]
    fixed: list[Entry]
    unchanged: list[Entry]
    suppressed: list[Finding]
    #: Base-branch findings that are gone but whose details are no longer on this machine.
    fixed_unknown: int = 0


def compare(data: RunData) -> Comparison:
    """New, fixed and unchanged entries. An entry is new only when none of its findings was in the
    baseline: a second tool reporting a line that was already reported is not a new problem."""
    live = [f for f in data.findings if not f.suppressed]
    suppressed = [f for f in data.findings if f.suppressed]
    base = data.baseline
    if base is None:
        return Comparison(group(live), [], [], suppressed)
    entries = group(live)
    new = [e for e in entries if not any(fp in base.fingerprints for fp in e.fingerprints)]
    unchanged = [e for e in entries if any(fp in base.fingerprints for fp in e.fingerprints)]
    gone = base.fingerprints - {f.fingerprint for f in data.findings}
    known = [base.findings[fp] for fp in gone if fp in base.findings and not base.findings[fp].suppressed]
    unknown = sum(1 for fp in gone if fp not in base.findings)
    return Comparison(new, group(known), unchanged, suppressed, unknown)


def _counts(entries: Iterable[Entry]) -> dict[str, int]:
    counts = dict.fromkeys(_LEVELS, 0)
    for e in entries:
        s = e.severity
        counts[UNRATED if s is None else s.value] += 1
    return counts


def _count_text(counts: dict[str, int]) -> str:
    parts = [f"{_ICON[k]} {n} {k}" for k, n in counts.items() if n]
    return " · ".join(parts)


# -- markdown pieces -------------------------------------------------------------------------------


@dataclass
class Links:
    server: str | None = None
    run: str | None = None
    summary: str | None = None
    #: Where the entries a report leaves out are (the job summary, for the comment).
    rest: str | None = None


def _label(e: Entry) -> str:
    s = e.severity
    return UNRATED if s is None else s.value


def _where(f: Finding) -> str:
    if f.package:
        return f"{f.package.name}@{f.package.version or '?'}"
    if f.location:
        return f.location.path + (f":{f.location.start_line}" if f.location.start_line else "")
    return f.url or ""


def _rules(e: Entry) -> str:
    by_tool: dict[str, list[str]] = {}
    for f in e.findings:
        by_tool.setdefault(canonical_tool(f.tool), []).append(f.primary_id())
    return " · ".join(
        f"{md_inline(tool, 40)} " + " ".join(md_code(r, 80) for r in dict.fromkeys(ids))
        for tool, ids in by_tool.items()
    )


def _place(e: Entry, data: RunData, lk: Links, linked: bool = True) -> str:
    f = e.first
    where = _where(f)
    if not where:
        return ""
    url = None
    if linked and f.location and not f.package:
        url = links.blob_url(lk.server, data.meta.repo, data.meta.head_sha, f.location.path, f.location.start_line)
    return f"[{md_code(where, 120)}]({url})" if url else md_code(where, 120)


def entry_line(e: Entry, data: RunData, lk: Links, linked: bool = True) -> str:
    place = _place(e, data, lk, linked)
    tools = f" ({len(e.tools)} tools)" if len(e.tools) > 1 else ""
    mark = " · suppressed" if e.suppressed else ""
    return (
        f"{_ICON[_label(e)]} **{_label(e)}**{mark} · {_rules(e)}{tools}"
        + (f" · {place}" if place else "")
        + f" — {md_inline(e.first.title, 160)}"
    )


def _fix_of(e: Entry, data: RunData) -> FixRecord | None:
    recs = [data.fixes[fp] for fp in e.fingerprints if fp in data.fixes]
    return next((r for r in recs if r.verified), recs[0] if recs else None)


def fix_block(e: Entry, data: RunData, suggested: Collection[str], diff_lines: int) -> str:
    """The entry's verified fix as a diff, or that there is none (only when a fix stage ran); the
    reason is shown when an edit was tried and failed its checks, not for rules no provider covers."""
    rec = _fix_of(e, data)
    if rec is None:
        return "_No verified fix._" if data.fixes else ""
    if not rec.verified:
        if rec.status in ("rejected", "unverifiable") and rec.reason:
            return f"_No verified fix_ ({md_inline(rec.status, 30)}: {md_inline(rec.reason, 160)})."
        return "_No verified fix._"
    # The fix stage's reason says how it was verified (deterministic text, not model output).
    how = (
        md_inline(rec.reason, 240)
        if rec.reason
        else (f"{md_inline(rec.tool or e.first.tool, 40)} re-ran on the edited file: the finding is gone, nothing new")
    )
    if rec.provider == "model":
        # the scanner checks the finding is gone and the file well formed, not that the code still works
        how += " · model fix: review it, the scanner checked it but no test ran"
    elif rec.provider:
        how += f" · {md_inline(rec.provider, 30)} fix"
    if rec.fingerprint in suggested:
        how += " · also a suggestion in this pull request's review"
    parts = [f"✅ **Verified fix** <sub>{how}</sub>", "", md_fence(rec.diff, "diff", max_lines=diff_lines)]
    if rec.rationale and rec.provider in DETERMINISTIC:
        parts += ["", md_inline(rec.rationale, 300)]
    return "\n".join(parts)


def verdict_line(e: Entry, data: RunData) -> str:
    """The tuned model's verdict and reason when its triage evaluation earned them (it beat the
    per-rule majority baseline on held-out labels); otherwise, or for a finding it has no verdict
    for, the repository's own history of the rule from its labels; nothing without either."""
    if data.verdicts_earned:
        rec = next((data.verdicts[fp] for fp in e.fingerprints if fp in data.verdicts), None)
        if rec is not None:
            # redacted before escaping: an escaped `ghp\_...` no longer matches the token patterns
            why = f" — {md_inline(redact_text(rec.reason), 200)}" if rec.reason else ""
            return f"🧭 Triage (tuned model): **{md_inline(rec.verdict, 20)}**{why}"
    if not data.labels:
        return ""
    for f in e.findings:
        said = history_sentence(data.labels, f.tool, f.rule_id, exclude=set(e.fingerprints))
        if said:
            return f"📜 {md_inline(said, 200)}"
    return ""


def entry_block(n: int, e: Entry, data: RunData, lk: Links, suggested: Collection[str], diff_lines: int) -> str:
    parts = [f"**{n}.** {entry_line(e, data, lk)}"]
    msg = e.first.message
    if msg and msg != e.first.title:
        parts[0] += "  \n" + md_inline(msg, 300)
    if verdict := verdict_line(e, data):
        parts[-1] += "  \n" + verdict
    if fix := fix_block(e, data, suggested, diff_lines):
        parts += ["", fix]
    return "\n".join(parts) + "\n"


def counts_row(title: str, counts: dict[str, int]) -> str:
    return f"| {title} | " + " | ".join(str(counts[k]) for k in _LEVELS) + f" | {sum(counts.values())} |"


def counts_head() -> str:
    return "| | " + " | ".join(f"{_ICON[k]} {k}" for k in _LEVELS) + " | total |\n|---|" + "---:|" * (len(_LEVELS) + 1)


def fix_eval_section(data: RunData) -> str:
    """The model part: how often each fixer's edits were verified (eval.json's `fix` section), or
    this run's own fix counts until there is one; then the training and validation loss."""
    out: list[str] = []
    fe = data.fix_eval
    if fe:
        cols = [k for k in ("base", "tuned", "deterministic") if isinstance(fe.get(k), dict)]
        if cols:
            rows = ["| | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
            for key, label in (
                ("verified_rate", "verified rate"),
                ("verified_rate_at_1", "verified at 1"),
                ("verified", "verified"),
                ("proposed", "proposed"),
                ("n", "held-out fixes"),
            ):
                vals = [_number(fe[c].get(key)) for c in cols]
                if any(v is not None for v in vals):
                    fmt = _fmt if "rate" in key else _fmt_int
                    rows.append(f"| {label} | " + " | ".join(fmt(v) for v in vals) + " |")
            out += [
                "Fixes verified by the scanner that reported the finding, on the team's latest held-out fixes:",
                "",
                *rows,
            ]
    elif data.fixes:
        by_status: dict[str, int] = {}
        for r in data.fixes.values():
            by_status[r.status] = by_status.get(r.status, 0) + 1
        verified = by_status.get("verified", 0)
        providers: dict[str, int] = {}
        for r in data.fixes.values():
            if r.verified:
                providers[r.provider or "?"] = providers.get(r.provider or "?", 0) + 1
        out.append(
            f"This run: **{verified} verified fix(es)** for {len(data.fixes)} finding(s)"
            + (
                " (" + ", ".join(f"{md_inline(p, 30)} {n}" for p, n in sorted(providers.items())) + ")"
                if providers
                else ""
            )
            + "; "
            + ", ".join(
                f"{md_inline(k.replace('_', ' '), 30)} {n}" for k, n in sorted(by_status.items()) if k != "verified"
            )
            + "."
        )
    ev = data.evaluation
    if ev is not None and ev.triage is not None:
        out += ["", triage_table(ev)]
    if ev is not None:
        gate = "passed ✅" if ev.gate.passed else "**failed** ❌ (nothing was published)"
        out += ["", f"Evaluation gate: {gate}"]
    if data.validation is not None:
        out.append("Validation: " + ("passed ✅" if data.validation.passed else "**failed** ❌"))
    train = loss_series(data.training)
    val = loss_series(data.training, "val")
    if train:
        out += ["", loss_chart(train, val)]
        if val:
            best = min(val, key=lambda p: p[1])
            out.append(
                f"Lines: training loss, then validation loss. Best validation loss {best[1]:.3f} at step {best[0]}."
            )
    if not out:
        return ""
    return "### Fix evaluation\n\n" + "\n".join(out).strip("\n") + "\n"


def triage_table(ev: EvalResult) -> str:
    """Accuracy and coverage of the per-rule baseline, base and tuned on the held-out labels, and
    whether the tuned model's verdicts are shown."""
    tr = ev.triage
    systems = (("per-rule baseline", tr.baseline), ("base", tr.base), ("tuned", tr.tuned))
    rows = [
        f"Triage verdicts on {tr.n} held-out label{'s' if tr.n != 1 else ''} (the team's latest decisions):",
        "",
        "| | " + " | ".join(name for name, _ in systems) + " |",
        "|---|" + "---:|" * len(systems),
        "| accuracy | " + " | ".join(_fmt(s.accuracy) for _, s in systems) + " |",
        "| coverage | " + " | ".join(_fmt(s.coverage) for _, s in systems) + " |",
        "",
        (
            "Verdicts shown: the tuned model beat the per-rule baseline."
            if tr.earned
            else f"Verdicts not shown: {md_inline(tr.reason, 200)}."
        ),
    ]
    return "\n".join(rows)


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _fmt_int(x: float | None) -> str:
    return "—" if x is None else f"{int(x)}"


def loss_chart(
    series: list[tuple[int, float]], val: list[tuple[int, float]] | None = None, max_points: int = 40
) -> str:
    """A mermaid line chart of the training loss and, on the same steps, the validation loss."""
    if val:
        grid = sorted({s for s, _ in val if s > 0} | {series[-1][0]})
        if len(grid) > max_points:
            stride = len(grid) / max_points
            grid = [grid[int(i * stride)] for i in range(max_points - 1)] + [grid[-1]]
        train_pts, prev = [], 0
        for g in grid:
            window = [loss for s, loss in series if prev < s <= g] or [
                next((loss for s, loss in reversed(series) if s <= g), series[0][1])
            ]
            train_pts.append(sum(window) / len(window))
            prev = g
        val_at = dict(val)
        val_pts = []
        last = next((loss for s, loss in val if s == 0), val[0][1])
        for g in grid:
            last = val_at.get(g, last)
            val_pts.append(last)
        lines = [train_pts, val_pts]
        steps = grid
        title = "LoRA loss: training and validation"
    else:
        if len(series) > max_points:
            stride = len(series) / max_points
            series = [series[int(i * stride)] for i in range(max_points - 1)] + [series[-1]]
        steps = [s for s, _ in series]
        lines = [[loss for _, loss in series]]
        title = "LoRA training loss"
    top = max(max(ln) for ln in lines)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "{title}"',
            '    x-axis "step" [' + ", ".join(str(s) for s in steps) + "]",
            f'    y-axis "loss" 0 --> {math.ceil(top * 10) / 10:.1f}',
            *("    line [" + ", ".join(f"{v:.3f}" for v in ln) + "]" for ln in lines),
            "```",
        ]
    )


def links_section(data: RunData) -> str:
    found = publish_links(data.published.model_dump(mode="json") if data.published else None)
    if not found:
        return ""
    return "### Published\n\n" + "\n".join(f"- {md_link(label, url)}" for label, url in found) + "\n"


def _header(data: RunData, marker: str, lk: Links) -> str:
    m = data.meta
    bits = []
    if m.run_id:
        bits.append(md_link(f"run {m.run_id}", lk.run) if lk.run else f"run {md_inline(m.run_id, 30)}")
    if m.head_sha:
        bits.append(md_code(m.head_sha[:7], 10))
    if m.branch:
        bits.append("branch " + md_code(m.branch, 80) + (f" → {md_code(m.base_branch, 80)}" if m.base_branch else ""))
    head = f"{marker}\n" if marker else ""
    return head + "## 🛡️ secai security report\n\n" + (f"<sub>{' · '.join(bits)}</sub>\n" if bits else "")


def _see(lk: Links) -> str:
    if lk.rest:
        return lk.rest
    return md_link("the job summary", lk.summary) if lk.summary else "the job summary"


def _headline(data: RunData, cmp: Comparison, shown: int, lk: Links) -> str:
    n_new = len(cmp.new)
    base = data.baseline
    if base is not None:
        what = "in this pull request" if is_pull_request(data.meta) else "since the previous run"
        sev = _count_text(_counts(cmp.new))
        return (
            f"**{n_new} new finding{'s' if n_new != 1 else ''}** {what}"
            + (f" ({sev})" if sev else "")
            + f" · {len(cmp.fixed) + cmp.fixed_unknown} fixed · {len(cmp.unchanged)} unchanged,"
            f" compared with {md_inline(base.label, 120)}."
        )
    total = len(cmp.new)
    branch = compare_branch(data.meta)
    if not total:
        return "**No findings.**" if not cmp.suppressed else f"**No live findings** ({len(cmp.suppressed)} suppressed)."
    why = (
        f"No processed run of {md_code(branch, 80)} to compare with yet"
        if branch and data.meta.repo
        else "No earlier run to compare with"
    )
    listed = f"the {shown} highest-rated of them" if shown < total else "them all"
    return f"**{total} finding{'s' if total != 1 else ''}** ({_count_text(_counts(cmp.new))}). {why}, so this lists {listed}."


# -- the report ------------------------------------------------------------------------------------


@dataclass
class _Caps:
    new: int | None
    fixed: int | None
    other_fixes: int | None
    diff_lines: int
    unchanged_list: bool


def _render(
    data: RunData,
    cmp: Comparison,
    marker: str,
    lk: Links,
    suggested: Collection[str],
    caps: _Caps,
    blocks: dict[tuple[int, int], str],
) -> str:
    new_title = "### New in this pull request" if is_pull_request(data.meta) else "### New findings"
    if data.baseline is None:
        new_title = "### Findings"
    shown_new = cmp.new if caps.new is None else cmp.new[: caps.new]
    out = [_header(data, marker, lk), _headline(data, cmp, len(shown_new), lk), ""]
    if data.problems:
        out.append(f"⚠️ {len(data.problems)} input problem(s) while parsing; see `parse.json` in the run folder.\n")
    if shown_new:
        out += [f"{new_title} ({len(cmp.new)})", ""]
        for i, e in enumerate(shown_new, start=1):
            # the size plans render the same entries again: each block once per build
            key = (i, caps.diff_lines)
            if key not in blocks:
                blocks[key] = entry_block(i, e, data, lk, suggested, caps.diff_lines)
            out.append(blocks[key])
        if len(shown_new) < len(cmp.new):
            out += [f"> {len(cmp.new) - len(shown_new)} more in {_see(lk)}.", ""]
    if cmp.fixed or cmp.fixed_unknown:
        shown = cmp.fixed if caps.fixed is None else cmp.fixed[: caps.fixed]
        out += [f"### Fixed ({len(cmp.fixed) + cmp.fixed_unknown})", ""]
        out += [f"- {entry_line(e, data, lk, linked=False)}" for e in shown]
        if len(shown) < len(cmp.fixed):
            out.append(f"- {len(cmp.fixed) - len(shown)} more in {_see(lk)}")
        if cmp.fixed_unknown:
            out.append(f"- {cmp.fixed_unknown} from a run whose details are no longer on this machine")
        out.append("")
    rest = _rest_section(data, cmp, lk, suggested, caps, cmp.new[len(shown_new) :])
    if rest:
        out.append(rest)
    tail = [s for s in (fix_eval_section(data), links_section(data)) if s]
    out += tail
    shown = "fixes the scanner verified" + (
        " and triage verdicts of a model that beat the per-rule baseline" if data.verdicts_earned else ""
    )
    out.append(f"<sub>Generated by secai. Scanner text is shown escaped; model output only as {shown}.</sub>\n")
    return "\n".join(out)


def _rest_section(
    data: RunData, cmp: Comparison, lk: Links, suggested: Collection[str], caps: _Caps, unlisted: list[Entry]
) -> str:
    """Counts of the unchanged and suppressed findings (the job summary lists them), then the
    verified fixes of every finding not listed above."""
    out: list[str] = []
    if cmp.unchanged or cmp.suppressed:
        out += ["### Everything else", ""]
        if cmp.unchanged:
            out += [counts_head(), counts_row("unchanged", _counts(cmp.unchanged)), ""]
        if cmp.suppressed:
            out.append(
                f"{len(cmp.suppressed)} suppressed finding(s), marked by the scanner or the team, are not counted."
            )
        where = [
            x
            for x in (
                md_link("job summary", lk.summary) if lk.summary else "",
                md_link("run", lk.run) if lk.run else "",
            )
            if x
        ]
        out.append(
            "Every finding is in "
            + (" and the ".join(where) if where else "the job summary")
            + " and in the run folder's `findings.json`."
        )
        out.append("")
        if caps.unchanged_list:
            listed = [(e, False) for e in cmp.unchanged] + [(e, True) for e in group(cmp.suppressed)]
            if listed:
                out += ["<details><summary>Unchanged and suppressed findings</summary>", ""]
                out += [f"- {entry_line(e, data, lk)}" for e, _ in listed]
                out += ["", "</details>", ""]
    others = [e for e in unlisted + cmp.unchanged if (r := _fix_of(e, data)) is not None and r.verified]
    if others and caps.other_fixes != 0:
        # One block per distinct edit (a manifest pin often fixes several advisories at once).
        by_diff: dict[str, list[Entry]] = {}
        for e in others:
            by_diff.setdefault(_fix_of(e, data).diff, []).append(e)
        groups = list(by_diff.values())
        shown = groups if caps.other_fixes is None else groups[: caps.other_fixes]
        out += [f"<details><summary>Verified fixes for findings not listed above ({len(others)})</summary>", ""]
        for members in shown:
            out += [f"- {entry_line(e, data, lk)}" for e in members]
            out += ["", fix_block(members[0], data, suggested, caps.diff_lines), ""]
        if len(shown) < len(groups):
            rest = sum(len(g) for g in groups[len(shown) :])
            out.append(f"{rest} more in {_see(lk)} and the run's `fixes.patch`.")
        out += ["</details>", ""]
    return "\n".join(out)


def build_report(
    data: RunData,
    marker: str,
    limit: int,
    size: Callable[[str], int] = len,
    *,
    summary: bool = False,
    lk: Links | None = None,
    suggested: Collection[str] = (),
) -> str:
    """The comment (`summary=False`: capped lists) or the job summary (every entry), within `limit`."""
    lk = lk or Links()
    cmp = compare(data)
    blocks: dict[tuple[int, int], str] = {}

    if summary:
        lk = replace(lk, rest="`findings.json` in the run folder")
        plans = [
            _Caps(None, None, None, DIFF_LINES, True),
            _Caps(None, None, 50, 20, True),
            _Caps(None, None, 0, 6, False),
        ]
    else:
        plans = [
            _Caps(COMMENT_NEW_ENTRIES, COMMENT_FIXED_ENTRIES, COMMENT_OTHER_FIXES, DIFF_LINES, False),
            _Caps(COMMENT_NEW_ENTRIES, COMMENT_FIXED_ENTRIES, 0, 15, False),
            _Caps(COMMENT_NEW_ENTRIES, 5, 0, 6, False),
        ]
    for caps in plans:
        text = _render(data, cmp, marker, lk, suggested, caps, blocks)
        if size(text) <= limit:
            return text
    # Fewer new entries: the most that fit (binary search; each render is linear in the entries).
    last = plans[-1]
    lo, hi = 0, min(len(cmp.new), last.new if last.new is not None else len(cmp.new))
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        caps = _Caps(mid, min(last.fixed or 5, 5), 0, 0 if mid < 5 else last.diff_lines, False)
        text = _render(data, cmp, marker, lk, suggested, caps, blocks)
        if size(text) <= limit:
            best, lo = text, mid + 1
        else:
            hi = mid - 1
    if best is not None:
        return best
    # Even the header does not fit (pathological names): whole lines that fit.
    cut = _render(data, cmp, marker, lk, suggested, _Caps(0, 0, 0, 0, False), blocks)
    while size(cut) > limit - 200 and "\n" in cut:
        cut = cut[: cut.rfind("\n", 0, max(0, len(cut) - 1))]
    return cut + f"\n\n> [!NOTE]\n> cut to fit; the full report is in {_see(lk)}.\n"


def report_links(data: RunData, settings: Settings, environ: dict[str, str] | None = None) -> Links:
    server = links.server_url(data.meta, settings, environ)
    run = links.run_url(data.meta, server)
    return Links(server=server, run=run, summary=links.summary_url(data.meta, server, environ) or run)


def write_reports(
    run_dir: str | Path,
    settings: Settings,
    baseline_fingerprints: Iterable[str] | None = None,
    *,
    repo: str | None = None,
    suggested: Collection[str] = (),
    environ: dict[str, str] | None = None,
) -> tuple[str, str]:
    """Write `comment.md` (the PR comment, for `repo`, by default the run's) and `summary.md` (the
    job summary) into the run folder. `suggested`: fingerprints whose fix is also a suggestion in
    the pull request's review. The job summary is added to the Actions job once, by the action's
    process step."""
    run_dir = Path(run_dir)
    data = load_run(run_dir, settings, baseline_fingerprints)
    marker = marker_comment(settings, repo or data.meta.repo)
    lk = report_links(data, settings, environ)
    comment = _redacted_within(
        lambda limit: build_report(data, marker, limit, size=comment_size, lk=lk, suggested=suggested),
        COMMENT_LIMIT,
        comment_size,
    )
    summary = _redacted_within(
        lambda limit: build_report(data, "", limit, size=_utf8_size, summary=True, lk=lk, suggested=suggested),
        SUMMARY_LIMIT,
        _utf8_size,
    )
    atomic_write_text(run_dir / "comment.md", comment)
    atomic_write_text(run_dir / "summary.md", summary)
    return comment, summary


def comment_size(text: str) -> int:
    """A comment's size as GitHub's limit may count it: UTF-16 code units or UTF-8 bytes, whichever
    is larger (bytes, for any text)."""
    return max(len(text.encode("utf-16-le", "surrogatepass")) // 2, _utf8_size(text))


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _redacted_within(build: Callable[[int], str], limit: int, size: Callable[[str], int]) -> str:
    """`build(limit)` after a last pass of the redaction layer (scanner and model text included),
    which can lengthen it, still within `limit`."""
    room = limit
    while True:
        text = redact_text(build(room)) or ""
        over = size(text) - limit
        if over <= 0 or room <= 4096:
            return text
        room = max(4096, room - over)
