"""Readable rich tables for the terminal."""

from __future__ import annotations

from collections import Counter
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from secai.findings import SEVERITY_ORDER, Finding, count_by_severity

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def _where(f: Finding) -> str:
    if f.package:
        fix = ", ".join(f.package.fixed_versions) or "no fix"
        return f"{f.package.name} {f.package.version or '?'} -> {fix}"
    if f.location:
        return f.location.path + (f":{f.location.start_line}" if f.location.start_line else "")
    return f.url or ""


def print_findings_table(findings: list[Finding], file: IO[str] | None = None) -> None:
    console = Console(file=file, soft_wrap=False, width=None if file is None else 200)
    order = {s.value: i for i, s in enumerate(SEVERITY_ORDER)}
    table = Table(title=f"{len(findings)} findings", show_lines=False)
    for col in ("severity", "tool", "id", "title", "where"):
        table.add_column(col, overflow="fold")
    for f in sorted(findings, key=lambda f: (order[f.severity.value], f.tool, f.primary_id())):
        # Finding text is untrusted: Text() shows it literally instead of reading rich markup in it.
        table.add_row(
            Text(f.severity.value, style=_STYLE[f.severity.value]),
            Text(f.tool),
            Text(f.primary_id()),
            Text((f.title or "")[:80]),
            Text(_where(f)),
            style="dim" if f.suppressed else None,
        )
    console.print(table)
    sev = count_by_severity(findings)
    summary = Table(title="by severity and tool")
    summary.add_column("tool")
    for s in SEVERITY_ORDER:
        summary.add_column(s.value, justify="right")
    summary.add_column("total", justify="right")
    per_tool: dict[str, Counter] = {}
    for f in findings:
        per_tool.setdefault(f.tool, Counter())[f.severity.value] += 1
    for tool, c in sorted(per_tool.items()):
        summary.add_row(Text(tool), *(str(c[s.value]) for s in SEVERITY_ORDER), str(sum(c.values())))
    summary.add_row("[bold]all[/]", *(str(sev[s.value]) for s in SEVERITY_ORDER), str(len(findings)))
    console.print(summary)
