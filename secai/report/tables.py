"""Readable rich tables for the terminal."""

from __future__ import annotations

from collections import Counter
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from secai.findings import SEVERITY_ORDER, Finding
from secai.log import escape_data
from secai.report.severity import UNRATED, label, rank

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim", UNRATED: "dim"}
#: Columns of the summary: the scale, then findings no scanner rated (report-side severity).
_LEVELS = [s.value for s in SEVERITY_ORDER] + [UNRATED]


def _where(f: Finding) -> str:
    if f.package:
        fix = ", ".join(f.package.fixed_versions) or "no fix"
        return f"{f.package.name} {f.package.version or '?'} -> {fix}"
    if f.location:
        return f.location.path + (f":{f.location.start_line}" if f.location.start_line else "")
    return f.url or ""


def print_findings_table(findings: list[Finding], file: IO[str] | None = None) -> None:
    console = Console(file=file, soft_wrap=False, width=None if file is None else 200)
    table = Table(title=f"{len(findings)} findings", show_lines=False)
    for col in ("severity", "tool", "id", "title", "where"):
        table.add_column(col, overflow="fold")
    for f in sorted(findings, key=lambda f: (-rank(f), f.tool, f.primary_id())):
        # Finding text is untrusted: Text() shows it literally instead of reading rich markup in it,
        # and escape_data keeps each cell on one line (no line of its own for a workflow command).
        table.add_row(
            Text(label(f) + (" (suppressed)" if f.suppressed else ""), style=_STYLE[label(f)]),
            Text(escape_data(f.tool)),
            Text(escape_data(f.primary_id())),
            Text(escape_data((f.title or "")[:80])),
            Text(escape_data(_where(f))),
            style="dim" if f.suppressed else None,
        )
    console.print(table)
    summary = Table(title="by severity and tool")
    summary.add_column("tool")
    for level in _LEVELS:
        summary.add_column(level, justify="right")
    summary.add_column("total", justify="right")
    per_tool: dict[str, Counter] = {}
    for f in findings:
        per_tool.setdefault(f.tool, Counter())[label(f)] += 1
    for tool, c in sorted(per_tool.items()):
        summary.add_row(Text(escape_data(tool)), *(str(c[level]) for level in _LEVELS), str(sum(c.values())))
    every = Counter(label(f) for f in findings)
    summary.add_row("[bold]all[/]", *(str(every[level]) for level in _LEVELS), str(len(findings)))
    console.print(summary)


_KIND_STYLE = {"fixed": "green", "introduced": "red", "suppressed": "yellow", "disappeared": "cyan"}


def print_mined_events(result, file: IO[str] | None = None, limit: int = 200) -> None:
    """The events of `secai-runner mine` (newest last), then counts by kind and tool."""
    console = Console(file=file, soft_wrap=False, width=None if file is None else 200)
    events = result.events
    table = Table(title=f"{len(events)} events in {result.commits_scanned} commits of {result.branch or '?'}")
    for col in ("kind", "commit", "date", "tool", "rule", "where", "subject"):
        table.add_column(col, overflow="fold")
    for e in events[-limit:]:
        table.add_row(
            Text(e.kind, style=_KIND_STYLE.get(e.kind)),
            Text(e.commit[:10]),
            Text(e.date[:10]),
            Text(e.tool),
            Text(e.rule_id),
            Text(e.path + (f":{e.line}" if e.line else "")),
            Text((e.justification or e.subject)[:70] if e.kind == "suppressed" else e.subject[:70]),
        )
    console.print(table)
    if len(events) > limit:
        console.print(f"(the newest {limit} of {len(events)}; --format json for all)")
    counts: dict[str, Counter] = {}
    for e in events:
        counts.setdefault(e.tool, Counter())[e.kind] += 1
    kinds = ["fixed", "introduced", "suppressed", "disappeared"]
    summary = Table(title="by tool and kind")
    summary.add_column("tool")
    for k in kinds:
        summary.add_column(k, justify="right")
    for tool, c in sorted(counts.items()):
        summary.add_row(Text(tool), *(str(c[k]) for k in kinds))
    console.print(summary)
    console.print(
        f"scanner processes: {result.scanner_processes}   files scanned: {result.blobs_scanned}   "
        f"from cache: {result.blobs_cached}"
    )
    for note in result.notes:
        console.print(Text(f"note: {note}"))
    for reason, n in result.skipped.items():
        console.print(Text(f"skipped: {reason}: {n}"))


_FIX_STYLE = {
    "verified": "green",
    "rejected": "red",
    "unverifiable": "yellow",
    "no_proposal": "dim",
    "no_source": "dim",
}


def print_fixes_table(fixes, file: IO[str] | None = None) -> None:
    """One row per finding of a fix run (`secai.fix.run.FixRun`), then the counts."""
    console = Console(file=file, soft_wrap=False, width=None if file is None else 200)
    table = Table(title=f"fixes for {len(fixes.results)} findings")
    for col in ("status", "tool", "rule", "where", "provider", "reason"):
        table.add_column(col, overflow="fold")
    order = {"verified": 0, "rejected": 1, "unverifiable": 2, "no_proposal": 3, "no_source": 4}
    for r in sorted(fixes.results, key=lambda r: (order[r.status], r.tool, r.rule_id, r.path or "")):
        where = (r.path or "") + (f":{r.line}" if r.line else "")
        table.add_row(
            Text(r.status, style=_FIX_STYLE[r.status]),
            Text(escape_data(r.tool)),
            Text(escape_data(r.rule_id)),
            Text(escape_data(where)),
            Text(r.provider or "-"),
            Text(escape_data(r.reason[:160])),
        )
    console.print(table)
    counts = fixes.counts()
    console.print(Text("  ".join(f"{k} {counts.get(k, 0)}" for k in order)))
    rates = fixes.model_rates()
    if rates["n"]:
        console.print(
            Text(
                f"model: verified@1 {rates['verified_at_1']}/{rates['n']} ({rates['rate_at_1']:.2f}), "
                f"verified@k {rates['verified_at_k']}/{rates['n']} ({rates['rate_at_k']:.2f})"
            )
        )
