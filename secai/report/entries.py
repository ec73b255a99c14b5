"""Findings as a reviewer reads them: one entry per problem.

Findings from different tools on the same file and line (Bandit's B608 and Semgrep's SQL
injection rule on `app/web.py:25`) are one entry that names every tool and rule. Findings of one
tool alone stay separate, and suppressed findings are never merged with live ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from secai.findings import Finding, Severity, canonical_tool
from secai.report.severity import rank, rating


@dataclass
class Entry:
    findings: list[Finding]

    @property
    def first(self) -> Finding:
        return self.findings[0]

    @property
    def severity(self) -> Severity | None:
        rated = [s for f in self.findings if (s := rating(f)) is not None]
        return max(rated, key=lambda s: s.rank) if rated else None

    @property
    def rank(self) -> int:
        return max(rank(f) for f in self.findings)

    @property
    def tools(self) -> list[str]:
        return list(dict.fromkeys(canonical_tool(f.tool) for f in self.findings))

    @property
    def fingerprints(self) -> list[str]:
        return [f.fingerprint for f in self.findings]

    @property
    def suppressed(self) -> bool:
        return all(f.suppressed for f in self.findings)

    @property
    def path(self) -> str | None:
        return self.first.location.path if self.first.location else None

    @property
    def line(self) -> int | None:
        return self.first.location.start_line if self.first.location else None


def _sort_key(e: Entry) -> tuple:
    return (-e.rank, e.path or "~", e.line or 0, canonical_tool(e.first.tool), e.first.rule_id, e.first.fingerprint)


def group(findings: Iterable[Finding]) -> list[Entry]:
    """Entries, highest severity first; cross-tool findings at one location merged."""
    by_place: dict[tuple, list[Finding]] = {}
    alone: list[Finding] = []
    for f in findings:
        if f.location and f.location.start_line:
            by_place.setdefault((f.suppressed, f.location.path, f.location.start_line), []).append(f)
        else:
            alone.append(f)
    entries: list[Entry] = [Entry([f]) for f in alone]
    for members in by_place.values():
        if len({canonical_tool(f.tool) for f in members}) > 1:
            entries.append(Entry(sorted(members, key=lambda f: (-rank(f), canonical_tool(f.tool), f.rule_id))))
        else:
            entries.extend(Entry([f]) for f in members)
    return sorted(entries, key=_sort_key)
