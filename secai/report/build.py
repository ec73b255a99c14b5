"""The PR comment and the job summary, built from whatever a run folder holds.

Every input is optional (a folder straight after `fetch` has only `run.json` and `findings.json`);
sections appear for what exists. Scanner and model text goes through `secai.report.escape`. The comment
stays below GitHub's 65,536-character limit by adding whole findings in priority order (new, then
fixed, then unchanged) and saying how many were left out; the job summary does the same within
1 MiB.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secai.config import Settings
from secai.errors import SecaiError
from secai.findings import SEVERITY_ORDER, Finding, canonical_tool, count_by_severity
from secai.ingest.redact import redact_text
from secai.report.escape import html_inline, md_block, md_code, md_inline, md_link
from secai.run import files
from secai.run.folder import atomic_write_text
from secai.run.meta import RunMeta
from secai.run.records import EvalResult, ProblemRecord, PublishResult, ValidationResult

log = logging.getLogger("secai")

COMMENT_LIMIT = 65_000  # GitHub rejects bodies over 65,536 characters (counted by `comment_size`)
SUMMARY_LIMIT = 1024 * 1024  # GitHub's per-step summary limit, in bytes
_ICON = {"critical": "🟥", "high": "🔴", "medium": "🟠", "low": "🟡", "info": "⚪"}


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
class Baseline:
    label: str
    fingerprints: set[str]
    findings: dict[str, Finding] = field(default_factory=dict)


@dataclass
class RunData:
    meta: RunMeta
    findings: list[Finding]
    analysis: dict[str, dict]
    problems: list[ProblemRecord]
    training: dict | None
    evaluation: EvalResult | None
    validation: ValidationResult | None
    published: PublishResult | None
    baseline: Baseline | None


def load_run(run_dir: Path, settings: Settings, baseline_fingerprints: Iterable[str] | None = None) -> RunData:
    run_dir = Path(run_dir)
    meta = files.read_run_meta(run_dir)
    parse = files.read_parse(run_dir)
    if baseline_fingerprints is not None:
        baseline = Baseline("the baseline", set(baseline_fingerprints))
    else:
        baseline = _store_baseline(meta, settings)
    return RunData(
        meta=meta,
        findings=files.read_findings(run_dir),
        analysis=files.read_analysis(run_dir),
        problems=parse.errors if parse else [],
        training=files.read_training(run_dir),
        evaluation=files.read_eval(run_dir),
        validation=files.read_validation(run_dir),
        published=files.read_publish(run_dir),
        baseline=baseline,
    )


def _store_baseline(meta: RunMeta, settings: Settings) -> Baseline | None:
    """A PR is compared with the latest processed run of its base branch; a branch run with the
    previous run of the same branch."""
    is_pr = bool(meta.pr) or meta.event in ("pull_request", "pull_request_target")
    branch = meta.base_branch if is_pr else meta.branch
    if not meta.repo or not branch or not settings.store_path.exists():
        return None
    from secai.run.store import Store

    with Store(settings.store_path) as store:
        run_id = store.baseline_run(meta.repo, branch, exclude=meta.run_id)
        if run_id is None:
            return None
        fps = store.fingerprints(meta.repo, run_id)
        state = store.run_state(meta.repo, run_id) or {}
    found: dict[str, Finding] = {}
    if state.get("run_dir"):
        found = {f.fingerprint: f for f in files.read_findings(state["run_dir"])}
    return Baseline(f"{branch} (run {run_id})", fps, found)


# -- markdown pieces -------------------------------------------------------------------------------


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity.rank, canonical_tool(f.tool), f.rule_id, f.fingerprint))


def _where(f: Finding) -> str:
    if f.package:
        return f"{f.package.name}@{f.package.version or '?'}"
    if f.location:
        return f.location.path + (f":{f.location.start_line}" if f.location.start_line else "")
    return f.url or ""


def finding_line(f: Finding) -> str:
    where = _where(f)
    return (
        f"{_ICON[f.severity.value]} **{f.severity.value}** · {md_inline(canonical_tool(f.tool), 40)} · "
        f"{md_code(f.primary_id(), 80)}"
        + (f" · {md_code(where, 120)}" if where else "")
        + f" — {md_inline(f.title, 160)}"
    )


def finding_details(f: Finding, analysis: dict | None) -> str:
    parts = [f"<details><summary>{_summary_html(f)}</summary>", ""]
    if f.message and f.message != f.title:
        parts += [md_block(f.message, 1500), ""]
    facts = []
    if f.cwe:
        facts.append("CWE " + ", ".join(str(c) for c in f.cwe[:5]))
    if f.vulnerability_ids:
        facts.append(", ".join(md_code(v, 60) for v in f.vulnerability_ids[:5]))
    if f.package and f.package.fixed_versions:
        facts.append("fixed in " + ", ".join(md_code(v, 40) for v in f.package.fixed_versions[:5]))
    if facts:
        parts += ["- " + " · ".join(facts)]
    if analysis:
        verdict = analysis.get("verdict")
        risk = analysis.get("risk")
        if verdict or risk:
            parts.append(
                "- **Verdict:** "
                + md_inline(verdict or "—", 80)
                + (f" · **Risk:** {md_inline(risk, 300)}" if risk else "")
            )
        if analysis.get("remediation"):
            parts += ["- **Remediation (model):** " + md_inline(analysis["remediation"], 800)]
    if f.remediation:
        parts.append("- **Scanner remediation:** " + md_inline(f.remediation, 800))
    parts += ["", f"<sub>fingerprint {md_code(f.fingerprint[:12], 20)}</sub>", "", "</details>", ""]
    return "\n".join(parts)


def _summary_html(f: Finding) -> str:
    """`<summary>` holds inline HTML only; escaped text is safe there, code spans are not rendered."""
    where = _where(f)
    return (
        f"{_ICON[f.severity.value]} <b>{f.severity.value}</b> · {html_inline(canonical_tool(f.tool), 40)} · "
        f"<code>{html_inline(f.primary_id(), 80)}</code>"
        + (f" · <code>{html_inline(where, 120)}</code>" if where else "")
        + f" — {html_inline(f.title, 160)}"
    )


def counts_table(findings: list[Finding], new: set[str] | None) -> str:
    sev = count_by_severity(findings)
    new_sev = count_by_severity([f for f in findings if new is not None and f.fingerprint in new])
    rows = [
        "| severity | findings |" + (" new |" if new is not None else ""),
        "|---|---:|" + ("---:|" if new is not None else ""),
    ]
    for s in SEVERITY_ORDER:
        if sev[s.value] or s.value in ("critical", "high"):
            rows.append(
                f"| {_ICON[s.value]} {s.value} | {sev[s.value]} |"
                + (f" {new_sev[s.value]} |" if new is not None else "")
            )
    tools: dict[str, int] = {}
    for f in findings:
        tools[canonical_tool(f.tool)] = tools.get(canonical_tool(f.tool), 0) + 1
    trows = ["| tool | findings |", "|---|---:|"]
    for name, n in sorted(tools.items(), key=lambda kv: (-kv[1], kv[0]))[:30]:
        trows.append(f"| {md_code(name, 40, in_table=True)} | {n} |")
    return "\n".join(rows) + "\n\n" + ("\n".join(trows) if tools else "")


def model_section(data: RunData) -> str:
    ev = data.evaluation
    train = loss_series(data.training)
    val = loss_series(data.training, "val")
    if not ev and not train:
        return ""
    out = ["### Model"]
    if ev:
        rows = ["| | base | tuned |", "|---|---:|---:|"]
        for key, label in (("faithfulness", "faithfulness"), ("hallucination_rate", "invented ids")):
            b, t = _number(getattr(ev.base, key)), _number(getattr(ev.tuned, key))
            if b is not None or t is not None:
                rows.append(f"| {label} | {_fmt(b)} | {_fmt(t)} |")
        out += ["", "\n".join(rows)]
        out += ["", "Evaluation gate: " + ("passed ✅" if ev.gate.passed else "**failed** ❌")]
    if data.validation is not None:
        out.append("Validation: " + ("passed ✅" if data.validation.passed else "**failed** ❌"))
    if train:
        out += ["", loss_chart(train)]
        if val:
            best = min(val, key=lambda p: p[1])
            out.append(f"Best validation loss {best[1]:.3f} at step {best[0]}.")
    return "\n".join(out) + "\n"


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def loss_chart(series: list[tuple[int, float]], max_points: int = 40) -> str:
    if len(series) > max_points:
        stride = len(series) / max_points
        series = [series[int(i * stride)] for i in range(max_points - 1)] + [series[-1]]
    top = max(loss for _, loss in series)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            '    title "LoRA training loss"',
            '    x-axis "step" [' + ", ".join(str(s) for s, _ in series) + "]",
            f'    y-axis "loss" 0 --> {math.ceil(top * 10) / 10:.1f}',
            "    line [" + ", ".join(f"{loss:.3f}" for _, loss in series) + "]",
            "```",
        ]
    )


def links_section(data: RunData) -> str:
    links = publish_links(data.published.model_dump(mode="json") if data.published else None)
    if not links:
        return ""
    return "### Published\n\n" + "\n".join(f"- {md_link(label, url)}" for label, url in links) + "\n"


def _header(data: RunData, marker: str) -> str:
    m = data.meta
    bits = []
    if m.run_id:
        bits.append(md_link(f"run {m.run_id}", m.html_url) if m.html_url else f"run {md_inline(m.run_id, 30)}")
    if m.head_sha:
        bits.append(md_code(m.head_sha[:7], 10))
    if m.branch:
        bits.append("branch " + md_code(m.branch, 80))
    return f"{marker}\n## 🛡️ secai security report\n\n" + (f"<sub>{' · '.join(bits)}</sub>\n" if bits else "")


# -- the report ------------------------------------------------------------------------------------


def build_report(
    data: RunData,
    marker: str,
    limit: int,
    size: Callable[[str], int] = len,
    where_rest: str = "the job summary/artifact",
) -> str:
    findings = _sorted(data.findings)
    base = data.baseline
    current = {f.fingerprint for f in findings}
    if base is not None:
        new = [f for f in findings if f.fingerprint not in base.fingerprints]
        unchanged = [f for f in findings if f.fingerprint in base.fingerprints]
        fixed_fps = sorted(base.fingerprints - current)
        fixed = _sorted(base.findings[fp] for fp in fixed_fps if fp in base.findings)
        fixed_unknown = len(fixed_fps) - len(fixed)
        line = (
            f"**{len(findings)} finding(s)** — **{len(new)} new**, {len(fixed_fps)} fixed, "
            f"{len(unchanged)} unchanged compared with {md_inline(base.label, 120)}."
        )
    else:
        new, unchanged, fixed, fixed_unknown = findings, [], [], 0
        line = f"**{len(findings)} finding(s)**" + (
            " — no earlier run to compare with, so every finding is listed." if findings else "."
        )
    head = [_header(data, marker), line, ""]
    if findings:
        head += [counts_table(findings, {f.fingerprint for f in new} if base is not None else None), ""]
    if data.problems:
        head.append(f"⚠️ {len(data.problems)} input problem(s) while parsing; see `parse.json` in the run folder.\n")
    tail = [s for s in (model_section(data), links_section(data)) if s]
    footer = "\n<sub>Generated by secai. Scanner and model text is shown escaped.</sub>\n"

    fixed_block = [f"- {finding_line(f)}" for f in fixed]
    if fixed_unknown:
        fixed_block.append(
            f"- {fixed_unknown} more fixed finding(s) from a run whose details are no longer on this machine"
        )
    sections: list[tuple[str, list[str], str]] = []
    title_new = "### New findings" if base is not None else "### Findings"
    if new:
        sections.append(
            (f"{title_new} ({len(new)})\n", [finding_details(f, data.analysis.get(f.fingerprint)) for f in new], "")
        )
    if fixed_block:
        sections.append((f"### Fixed findings ({len(fixed_fps)})\n", fixed_block, "\n"))
    if unchanged:
        sections.append(
            (
                f"<details><summary>Unchanged findings ({len(unchanged)})</summary>\n",
                [f"- {finding_line(f)}" for f in unchanged],
                "\n</details>\n",
            )
        )

    fixed_part = "\n".join(head) + "\n"
    end = "\n" + "\n".join(tail) + footer
    total_items = sum(len(items) for _, items, _ in sections)
    reserve = size(end) + 200  # room for the truncation line
    body = fixed_part
    used = 0
    stop = False
    for title, items, close in sections:
        if stop:
            break
        if size(body) + size(title) + size(close) + reserve > limit:
            break
        body += title + "\n"
        for item in items:
            if size(body) + size(item) + 1 + size(close) + reserve > limit:
                stop = True
                break
            body += item + "\n"
            used += 1
        body += close + "\n"
    if used < total_items:
        body += f"\n> [!NOTE]\n> truncated — {total_items - used} more findings in {where_rest}.\n"
    return body + end


def write_reports(
    run_dir: str | Path,
    settings: Settings,
    baseline_fingerprints: Iterable[str] | None = None,
    *,
    repo: str | None = None,
) -> tuple[str, str]:
    """Write `comment.md` (the PR comment, for `repo`, by default the run's) and `summary.md` (the
    job summary) into the run folder. The job summary is added to the Actions job once, by the
    action's process step."""
    run_dir = Path(run_dir)
    data = load_run(run_dir, settings, baseline_fingerprints)
    marker = marker_comment(settings, repo or data.meta.repo)
    comment = _redacted_within(
        lambda limit: build_report(data, marker, limit, size=comment_size, where_rest="the job summary/artifact"),
        COMMENT_LIMIT,
        comment_size,
    )
    summary = _redacted_within(
        lambda limit: build_report(
            data, "", limit, size=_utf8_size, where_rest="`findings.json` in the run folder/artifact"
        ).lstrip("\n"),
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
