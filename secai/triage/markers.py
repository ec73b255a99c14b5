"""Labels from suppression markers written in the code next to a finding (`# nosec B105 - reason`,
`nosemgrep: id -- reason`, `#checkov:skip=ID:reason`, `#trivy:ignore:ID`); the marker parser is
secai.history.suppress.

The code window is the finding's lines and the two lines above them (a marker may sit on its own
line above the code it silences), read from the run's source tree (a checkout or a bundle's carried
files) or, without one, the finding's snippet. A marker counts only when it speaks to the finding's
tool and rule.
"""

from __future__ import annotations

from secai.findings import Finding
from secai.fix.source import SourceProblem, SourceTree
from secai.history.suppress import Marker, comments, markers_in
from secai.triage.labels import Label
from secai.triage.scanners import finding_label
from secai.triage.verdicts import from_justification

#: Lines above the finding's first line that may hold its marker, and the longest window read.
ABOVE = 2
MAX_WINDOW = 40


def window(f: Finding, tree: SourceTree | None) -> tuple[int, list[str], str] | None:
    """(first line number, lines, path) of the code around a finding, or None."""
    loc = f.location
    if loc is None or not loc.path:
        return None
    if tree is not None and loc.start_line:
        try:
            lines = tree.read(loc.path).text.splitlines()
        except SourceProblem:
            lines = []
        if lines:
            start = max(1, loc.start_line - ABOVE)
            end = min(len(lines), max(loc.end_line or loc.start_line, loc.start_line), start + MAX_WINDOW - 1)
            return start, lines[start - 1 : end], loc.path
    if loc.snippet:
        return loc.start_line or 1, loc.snippet.splitlines()[:MAX_WINDOW], loc.path
    return None


def marker_for(f: Finding, tree: SourceTree | None) -> Marker | None:
    """The marker in the finding's code window that silences it (the nearest to its line)."""
    got = window(f, tree)
    if got is None:
        return None
    first, lines, path = got
    found = comments(lines, path)
    marks = markers_in([(first + n - 1, text) for n, text in sorted(found.items())])
    # A marker of no particular tool (noqa) counts only when it names the rule.
    marks = [m for m in marks if (m.tool is not None or m.rules) and m.covers(f.tool, f.rule_id)]
    if not marks:
        return None
    line = f.location.start_line if f.location and f.location.start_line else first
    return min(marks, key=lambda m: (abs(m.line - line), m.line))


def marker_labels(findings: list[Finding], tree: SourceTree | None) -> list[Label]:
    out = []
    for f in findings:
        m = marker_for(f, tree)
        if m is None:
            continue
        where = f"{f.location.path}:{m.line}" if f.location else ""
        out.append(finding_label(f, from_justification(m.justification), m.justification, "inline-marker", where))
    return out
