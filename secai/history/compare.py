"""Findings of one file before and after a commit → what the commit did to them.

Findings are matched by (tool, rule) and location mapped through the diff, in three passes: at the
mapped line (unchanged code, shifted or not), by the text of the flagged line anywhere in the file
(a moved line), and inside the commit's rewrite of the flagged lines (edited, still flagged). What
stays unmatched before the commit disappeared; after it, appeared. A disappearance is a fix only
when the commit changed lines within `near` lines of it (or, for a Terraform resource, added a
reference to it: graph checks are fixed that way) and added no suppression marker for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from secai.findings import Finding
from secai.history.diffmap import Hunk, LineMap
from secai.history.suppress import Marker, comments, markers_in

#: A change of more lines than this around a flagged line is a rewrite unless a line like the
#: flagged one is still there; a deletion of more than DELETE_LINES lines is a removal. Deleting a
#: function is not fixing it (and makes no useful example).
REWRITE_LINES = 8
DELETE_LINES = 3


@dataclass
class Outcome:
    kind: str  # fixed | introduced | suppressed; "gone": disappeared, no fix (kept to recognise moves)
    finding: Finding | None  # None for a marker with no finding the scanner reported
    side: str  # "before" or "after": which file the finding (or marker) line belongs to
    line: int | None
    end_line: int | None
    hunks: list[Hunk] = field(default_factory=list)
    marker: Marker | None = None
    #: The flagged line's text, to recognise a line moved to another file in the same commit.
    text: str = ""


@dataclass
class FileComparison:
    outcomes: list[Outcome] = field(default_factory=list)
    #: Disappearances that are no fix: {reason: count}.
    not_fixes: dict[str, int] = field(default_factory=dict)


def span(f: Finding) -> tuple[int, int] | None:
    loc = f.location
    if loc is None or not loc.start_line or loc.start_line < 1:
        return None
    end = loc.end_line if loc.end_line and loc.end_line >= loc.start_line else loc.start_line
    return loc.start_line, end


def _key(f: Finding) -> tuple[str, str]:
    return f.tool, f.rule_id


_SPACE = re.compile(r"\s+")


def line_text(lines: list[str], f: Finding) -> str:
    s = span(f)
    if s is None or s[0] > len(lines):
        return ""
    return _SPACE.sub(" ", lines[s[0] - 1]).strip()


def compare_file(
    before: list[Finding],
    after: list[Finding],
    lm: LineMap,
    *,
    near: int,
    path: str = "",
    marker_tools: set[str] | frozenset[str] = frozenset(),
) -> FileComparison:
    """Compare the findings of a file that exists on both sides (an added file: `before` empty and
    `lm.before` empty); `path` (the after path) tells how comments are written."""
    res = FileComparison()
    free_after = list(after)
    pairs: list[tuple[Finding, Finding]] = []
    left: list[Finding] = []

    # Pass 1: at the mapped line (whole-file findings: by key alone).
    for b in before:
        s = span(b)
        if s is None:
            a = _take(free_after, b, lambda a: span(a) is None)
        else:
            target = lm.map(s[0])
            a = None if target is None else _take(free_after, b, lambda a, t=target: (span(a) or (0,))[0] == t)
        (pairs.append((b, a)) if a is not None else left.append(b))
    # Pass 2: the same flagged text elsewhere in the file (moved).
    still = []
    for b in left:
        text = line_text(lm.before, b)
        a = _take(free_after, b, lambda a, text=text: bool(text) and line_text(lm.after, a) == text)
        (pairs.append((b, a)) if a is not None else still.append(b))
    # Pass 3: the flagged lines were rewritten and the rewrite is still flagged.
    gone = []
    for b in still:
        s = span(b)
        a = None
        if s is not None and lm.map(s[0]) is None:
            hunks = lm.hunks_near_before(s[0], s[1], 0)
            ranges = [(h.b1 + 1, max(h.b2, h.b1 + 1)) for h in hunks]
            a = _take(
                free_after,
                b,
                lambda a, ranges=ranges: span(a) is not None and any(lo <= span(a)[0] <= hi for lo, hi in ranges),
            )
        (pairs.append((b, a)) if a is not None else gone.append(b))

    used_markers: set[int] = set()
    all_hunks = lm.hunks

    said: dict[int, str] | None = None

    def markers_near(hunks: list[Hunk]) -> list[Marker]:
        nonlocal said
        added = lm.added_lines(hunks)
        if not any(_MARKER_HINT.search(text) for _, text in added):
            return []
        if said is None:
            said = comments(lm.after, path)
        return markers_in([(n, said[n]) for n, _ in added if n in said])

    # A finding the scanner now reports as suppressed (Checkov's skip comments, SARIF suppressions).
    for b, a in pairs:
        if a.suppressed and not b.suppressed:
            s = span(a) or (1, len(lm.after))
            hunks = lm.hunks_near_after(s[0], s[1], near)
            marker = _marker_for(markers_near(hunks), a)
            if marker:
                used_markers.add(marker.line)
            res.outcomes.append(Outcome("suppressed", b, "before", *(span(b) or (None, None)), hunks, marker))

    for b in gone:
        s = span(b)
        hunks = (lm.hunks_near_before(s[0], s[1], near) or _referring_hunks(lm, s[0])) if s else list(all_hunks)
        if not hunks:
            _count(res.not_fixes, "no change near it")
            res.outcomes.append(Outcome("gone", b, "before", *s, text=line_text(lm.before, b)))
            continue
        marker = _marker_for(markers_near(hunks), b)
        if marker is not None:
            used_markers.add(marker.line)
            res.outcomes.append(Outcome("suppressed", b, "before", *(s or (None, None)), hunks, marker))
            continue
        why = _rewritten(lm, b, after) if s else None
        if why:
            _count(res.not_fixes, why)
            res.outcomes.append(Outcome("gone", b, "before", *s, text=line_text(lm.before, b)))
            continue
        # The edit: the hunks that touch the flagged lines themselves when there are any (not an
        # unrelated block added a line above), else the change near them.
        own = lm.hunks_near_before(s[0], s[1], 0) if s else []
        res.outcomes.append(
            Outcome("fixed", b, "before", *(s or (None, None)), own or hunks, text=line_text(lm.before, b))
        )

    for a in free_after:
        s = span(a)
        hunks = (lm.hunks_near_after(s[0], s[1], 0) or lm.hunks_near_after(s[0], s[1], near)) if s else list(all_hunks)
        kind = "suppressed" if a.suppressed else "introduced"
        marker = _marker_for(markers_near(hunks), a) if a.suppressed else None
        if marker:
            used_markers.add(marker.line)
        res.outcomes.append(Outcome(kind, a, "after", *(s or (None, None)), hunks, marker, text=line_text(lm.after, a)))

    # Markers the commit added for findings the scanner no longer reports at all (bandit drops a
    # `# nosec` line): labels for triage, with the rule the marker names.
    for m in markers_near(all_hunks):
        if m.line in used_markers or m.tool not in marker_tools:
            continue
        hunks = lm.hunks_near_after(m.line, m.line, 0)
        res.outcomes.append(Outcome("suppressed", None, "after", m.line, m.line, hunks, m))
    return res


_MARKER_HINT = re.compile(r"nosec|nosemgrep|checkov:skip|trivy:ignore|tfsec:ignore|noqa|gitleaks:allow|allowlist", re.I)


def _rewritten(lm: LineMap, b: Finding, after: list[Finding]) -> str | None:
    """Why a finding whose own line the commit changed is not fixed by that change, or None: the
    rewritten code still has the rule's finding, or the change is large and keeps nothing like the
    flagged line (the code was removed or rewritten, not fixed)."""
    line = span(b)[0]
    if lm.map(line) is not None:
        return None  # its line stayed: the change near it is the fix (a check added above, ...)
    for h in lm.hunks_near_before(line, line, 0):
        if not h.a1 <= line - 1 < h.a2:
            continue
        if any(_key(a) == _key(b) and span(a) and h.b1 < span(a)[0] <= max(h.b2, h.b1 + 1) for a in after):
            return "rewritten, the rule still reported there"
        if h.b1 == h.b2 and h.a2 - h.a1 > DELETE_LINES:
            return "code removed around it"
        if h.a2 - h.a1 > REWRITE_LINES:
            flagged = _SPACE.sub(" ", lm.before[line - 1]).strip()
            if not any(_similar(flagged, lm.after[j]) for j in range(h.b1, min(h.b2, h.b1 + 200))):
                return "code rewritten around it"
    return None


def _similar(a: str, b: str) -> bool:
    b = _SPACE.sub(" ", b).strip()
    sm = SequenceMatcher(None, a, b, autojunk=False)
    return sm.real_quick_ratio() >= 0.5 and sm.quick_ratio() >= 0.5 and sm.ratio() >= 0.5


_TF_RESOURCE = re.compile(r'^\s*resource\s+"([\w-]+)"\s+"([\w-]+)"')


def _referring_hunks(lm: LineMap, line: int) -> list[Hunk]:
    """Hunks that add a reference to the Terraform resource declared on `line` (`aws_s3_bucket.logs`):
    graph checks (Checkov's CKV2_*) are fixed by a new resource that points at the flagged one."""
    m = _TF_RESOURCE.match(lm.before[line - 1]) if 0 < line <= len(lm.before) else None
    if m is None:
        return []
    ref = re.compile(rf"\b{re.escape(m.group(1))}\.{re.escape(m.group(2))}\b")
    return [h for h in lm.hunks if any(ref.search(lm.after[j]) for j in range(h.b1, h.b2))]


def _take(pool: list[Finding], b: Finding, accept) -> Finding | None:
    """Remove and return the first finding of `pool` with b's key that `accept` takes."""
    key = _key(b)
    for i, a in enumerate(pool):
        if _key(a) == key and accept(a):
            return pool.pop(i)
    return None


def _marker_for(markers: list[Marker], f: Finding) -> Marker | None:
    for m in markers:
        if m.covers(f.tool, f.rule_id):
            return m
    return None


def _count(d: dict[str, int], reason: str) -> None:
    d[reason] = d.get(reason, 0) + 1
