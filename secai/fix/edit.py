"""Edits to one file: line-range replacements, applied strictly, shown as unified diffs.

An edit replaces lines `start..end` (1-based, inclusive; `end == start - 1` inserts before
`start`) with new lines. It carries the lines it replaces and is applied only when the file still
holds exactly those lines. Several edits of one file must not overlap. Diffs name paths relative
to the source folder with git's `a/` and `b/` prefixes, so `git apply` takes them.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass

from pydantic import BaseModel, Field


class EditError(ValueError):
    """An edit that cannot be applied or was not allowed; the message is the reason."""


class LineEdit(BaseModel):
    start: int = Field(ge=1)
    end: int
    old: list[str]
    new: list[str]


@dataclass
class Lines:
    """A text split into lines, remembering its line ending and whether it ends with one."""

    lines: list[str]
    newline: str
    final_newline: bool

    @classmethod
    def of(cls, text: str) -> Lines:
        newline = "\r\n" if "\r\n" in text else "\n"
        parts = text.split(newline)
        final = bool(text) and parts[-1] == ""
        if final:
            parts.pop()
        if parts == [""]:
            parts = []
        return cls(parts, newline, final)

    def text(self, lines: list[str] | None = None) -> str:
        lines = self.lines if lines is None else lines
        if not lines:
            return ""
        return self.newline.join(lines) + (self.newline if self.final_newline else "")


def clean_new_lines(text: str) -> list[str]:
    """Model or tool text as lines: any line ending accepted, none kept."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n") if text else []


def replace_lines(text: str, start: int, end: int, new: list[str]) -> LineEdit:
    """The edit replacing lines start..end of `text` with `new`."""
    lines = Lines.of(text).lines
    if start < 1 or end < start - 1 or end > len(lines):
        raise EditError(f"lines {start}-{end} are not in the file ({len(lines)} lines)")
    return LineEdit(start=start, end=end, old=lines[start - 1 : end], new=new)


def apply_edits(text: str, edits: list[LineEdit]) -> str:
    """`text` with `edits` applied; EditError when one does not match the text or they overlap."""
    doc = Lines.of(text)
    lines = list(doc.lines)
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    for before, after in zip(ordered, ordered[1:]):
        if after.start <= before.end or (after.start == before.start and after.end < after.start):
            raise EditError(f"edits at lines {before.start}-{before.end} and {after.start}-{after.end} overlap")
    for e in reversed(ordered):
        if e.end > len(lines) or e.end < e.start - 1:
            raise EditError(f"lines {e.start}-{e.end} are not in the file ({len(lines)} lines)")
        if lines[e.start - 1 : e.end] != e.old:
            raise EditError(f"lines {e.start}-{e.end} are not the lines the edit was made from")
        lines[e.start - 1 : e.end] = e.new
    if not doc.lines and lines:  # a new text in an empty file ends the way edits usually do
        doc.final_newline = True
    return doc.text(lines)


def edits_between(before: str, after: str) -> list[LineEdit]:
    """The line edits that turn `before` into `after` (one per changed region)."""
    a, b = Lines.of(before).lines, Lines.of(after).lines
    edits = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            edits.append(LineEdit(start=i1 + 1, end=i2, old=a[i1:i2], new=b[j1:j2]))
    return edits


def changed_lines(edits: list[LineEdit]) -> int:
    """Lines an edit changes: a replaced region counts its longer side, a deletion or insertion its length."""
    total = 0
    for e in edits:
        old, new = e.old, e.new
        # unchanged lines at either end of a region do not count
        while old and new and old[0] == new[0]:
            old, new = old[1:], new[1:]
        while old and new and old[-1] == new[-1]:
            old, new = old[:-1], new[:-1]
        total += max(len(old), len(new))
    return total


def map_range(edits: list[LineEdit], start: int, end: int) -> tuple[int, int]:
    """Where lines start..end of the old text are in the new one (an edited region maps to its
    replacement; an emptied region to the lines around where it was)."""
    lo, hi = _map_line(edits, start, low=True), _map_line(edits, end, low=False)
    return (min(lo, hi), max(lo, hi))


def _map_line(edits: list[LineEdit], line: int, low: bool) -> int:
    shift = 0
    for e in sorted(edits, key=lambda e: e.start):
        size_old = e.end - e.start + 1
        if line < e.start:
            break
        if line <= e.end:  # inside the replaced region
            first = e.start + shift
            if not e.new:
                return max(1, first - 1) if low else first
            return first if low else first + len(e.new) - 1
        shift += len(e.new) - size_old
    return line + shift


def _git_path(prefix: str, path: str) -> str:
    name = prefix + path
    if any(c in name for c in '"\\\t\n') or any(ord(c) < 32 for c in name):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n")
        return f'"{escaped}"'
    return name


def unified_diff(path: str, before: str, after: str, context: int = 3) -> str:
    """A git-style unified diff of one file ("" when nothing changed)."""
    if before == after:
        return ""
    a = before.splitlines(keepends=True)
    b = after.splitlines(keepends=True)
    body = []
    for line in difflib.unified_diff(a, b, n=context, lineterm="\n"):
        if line.startswith(("---", "+++")):
            continue
        if not line.endswith(("\n", "\r")):
            line += "\n\\ No newline at end of file\n"
        body.append(line)
    head = (
        f"diff --git {_git_path('a/', path)} {_git_path('b/', path)}\n"
        f"--- {_git_path('a/', path)}\n+++ {_git_path('b/', path)}\n"
    )
    return head + "".join(body)


# -- the lines to rewrite ----------------------------------------------------------------------------


def widen_to_statements(path: str, text: str, start: int, end: int, max_lines: int) -> tuple[int, int]:
    """For Python, widen start..end to whole statements (a call split over lines is rewritten as a
    whole; a compound statement only by its header), when that stays within `max_lines`."""
    if not path.endswith((".py", ".pyw")):
        return start, end
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return start, end
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or node.end_lineno is None:
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        body = getattr(node, "body", None)
        last = body[0].lineno - 1 if isinstance(body, list) and body and body[0].lineno > node.lineno else None
        spans.append((first, node.end_lineno if last is None else max(node.lineno, last)))
    lo, hi = start, end
    changed = True
    while changed:
        changed = False
        for a, b in spans:
            if a <= hi and b >= lo and (a < lo or b > hi):
                lo, hi, changed = min(lo, a), max(hi, b), True
    if hi - lo + 1 > max_lines:
        return start, end
    return lo, hi


def search_region(old: list[str], new: list[str]) -> tuple[int, int, int, int] | None:
    """The smallest part of `old` that a SEARCH/REPLACE of `old` -> `new` needs: the changed lines,
    widened by unchanged neighbours (above first) until the SEARCH text is not blank and occurs
    once in `old`. `(lo, hi, nlo, nhi)`: `old[lo:hi]` becomes `new[nlo:nhi]`; None when no part
    of `old` is unique (or nothing changed)."""
    if old == new:
        return None
    a = 0
    while a < min(len(old), len(new)) and old[a] == new[a]:
        a += 1
    b = 0
    while b < min(len(old), len(new)) - a and old[len(old) - 1 - b] == new[len(new) - 1 - b]:
        b += 1
    lo, hi, nlo, nhi = a, len(old) - b, a, len(new) - b
    region = "\n".join(old)
    while True:
        search = "\n".join(old[lo:hi])
        if hi > lo and search.strip() and region.count(search) == 1:
            return lo, hi, nlo, nhi
        if lo > 0:
            lo, nlo = lo - 1, nlo - 1
        elif hi < len(old):
            hi, nhi = hi + 1, nhi + 1
        else:
            return None
