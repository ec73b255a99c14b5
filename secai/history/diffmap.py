"""Line mapping between the two versions of a file, and the text around a line.

The diff is computed here from the two blobs (common prefix and suffix stripped, then difflib on
the middle), so it needs no second git process per file. Lines are 1-based everywhere.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from difflib import SequenceMatcher


@dataclass(frozen=True)
class Hunk:
    """Before lines [a1, a2) were replaced by after lines [b1, b2) (0-based, half open)."""

    a1: int
    a2: int
    b1: int
    b2: int


def split_lines(text: str) -> list[str]:
    return text.splitlines()


class LineMap:
    def __init__(self, before: list[str], after: list[str]):
        self.before = before
        self.after = after
        self.hunks = _hunks(before, after)
        self._starts = [h.a1 for h in self.hunks]

    # -- mapping ---------------------------------------------------------------------------------
    def _shift_at(self, i: int) -> tuple[Hunk | None, int]:
        """The last hunk starting at or before 0-based before line i, and the line shift after it."""
        k = bisect_right(self._starts, i) - 1
        if k < 0:
            return None, 0
        h = self.hunks[k]
        return h, h.b2 - h.a2

    def map(self, line: int) -> int | None:
        """The after line of an unchanged before line; None when the commit changed it."""
        i = line - 1
        h, shift = self._shift_at(i)
        if h is not None and h.a1 <= i < h.a2:
            return None
        return i + shift + 1

    def map_near(self, line: int) -> int:
        """Where a before line ended up: its own after line, or the start of its replacement."""
        i = line - 1
        h, shift = self._shift_at(i)
        if h is not None and h.a1 <= i < h.a2:
            return min(h.b1 + (i - h.a1), max(h.b2 - 1, h.b1)) + 1
        return i + shift + 1

    def map_back(self, line: int) -> int:
        """Where an after line came from (the same, reversed)."""
        j = line - 1
        for h in reversed(self.hunks):
            if h.b1 <= j:
                if j < h.b2:
                    return min(h.a1 + (j - h.b1), max(h.a2 - 1, h.a1)) + 1
                return j - (h.b2 - h.a2) + 1
        return j + 1

    # -- changes near a line ---------------------------------------------------------------------
    def hunks_near_before(self, start: int, end: int, n: int) -> list[Hunk]:
        """Hunks whose before side touches lines [start - n, end + n] (an insertion between two
        lines touches both)."""
        lo, hi = start - 1 - n, end - 1 + n
        return [h for h in self.hunks if (h.a1 <= hi and h.a2 - 1 >= lo) or (h.a1 == h.a2 and lo <= h.a1 <= hi + 1)]

    def hunks_near_after(self, start: int, end: int, n: int) -> list[Hunk]:
        lo, hi = start - 1 - n, end - 1 + n
        return [h for h in self.hunks if (h.b1 <= hi and h.b2 - 1 >= lo) or (h.b1 == h.b2 and lo <= h.b1 <= hi + 1)]

    def added_lines(self, hunks: list[Hunk]) -> list[tuple[int, str]]:
        """(after line, text) of every line those hunks put in."""
        return [(j + 1, self.after[j]) for h in hunks for j in range(h.b1, h.b2)]

    def removed_lines(self, hunks: list[Hunk]) -> list[tuple[int, str]]:
        return [(i + 1, self.before[i]) for h in hunks for i in range(h.a1, h.a2)]


def _hunks(a: list[str], b: list[str]) -> list[Hunk]:
    lo = 0
    top = min(len(a), len(b))
    while lo < top and a[lo] == b[lo]:
        lo += 1
    hi_a, hi_b = len(a), len(b)
    while hi_a > lo and hi_b > lo and a[hi_a - 1] == b[hi_b - 1]:
        hi_a -= 1
        hi_b -= 1
    if lo == hi_a and lo == hi_b:
        return []
    sm = SequenceMatcher(None, a[lo:hi_a], b[lo:hi_b], autojunk=False)
    return [Hunk(lo + i1, lo + i2, lo + j1, lo + j2) for tag, i1, i2, j1, j2 in sm.get_opcodes() if tag != "equal"]


def window(lines: list[str], start: int, end: int, context: int) -> tuple[int, str]:
    """(first line, text) of lines [start - context, end + context], clipped to the file."""
    if not lines:
        return 1, ""
    lo = max(1, min(start, len(lines)) - context)
    hi = min(len(lines), max(end, start) + context)
    return lo, "\n".join(lines[lo - 1 : hi])


@dataclass(frozen=True)
class Edit:
    """Replace lines [start_line, end_line] of the before file (their text is `search`) by `replace`."""

    search: str
    replace: str
    start_line: int
    end_line: int


def edit_for(lm: LineMap, hunks: list[Hunk], *, max_context: int = 6) -> Edit | None:
    """The smallest SEARCH/REPLACE that turns the before file into the after file over these hunks:
    from the first hunk's start to the last hunk's end (unchanged lines between them in both). A pure
    insertion, or a SEARCH found more than once in the file, gets context lines (one above, one below,
    in turn) until it is non-blank and found once."""
    if not hunks:
        return None
    hunks = sorted(hunks, key=lambda h: h.a1)
    a1, a2 = hunks[0].a1, hunks[-1].a2
    b1, b2 = hunks[0].b1, hunks[-1].b2
    before, after = lm.before, lm.after
    text = "\n".join(before)
    for step in range(2 * max_context + 1):
        search = "\n".join(before[a1:a2])
        if a2 > a1 and search.strip() and _occurrences(text, search) == 1:
            return Edit(search=search, replace="\n".join(after[b1:b2]), start_line=a1 + 1, end_line=a2)
        if a1 > 0 and (step % 2 == 0 or a2 >= len(before)):
            a1, b1 = a1 - 1, b1 - 1
        elif a2 < len(before):
            a2, b2 = a2 + 1, b2 + 1
        else:
            break
    return None


def _occurrences(text: str, search: str, most: int = 2) -> int:
    """How many places (overlapping ones too) hold `search`, counting up to `most`."""
    n, at = 0, text.find(search)
    while at >= 0 and n < most:
        n += 1
        at = text.find(search, at + 1)
    return n
