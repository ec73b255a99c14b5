"""A pull request's diff as GitHub's files API gives it (`patch` per file): which lines of the new
version a review comment may sit on (RIGHT side, inside one hunk) and which lines the pull request
added. A file without a `patch` (binary, too large) takes no comments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


@dataclass
class FileLines:
    #: RIGHT-side line ranges of each hunk (inclusive).
    hunks: list[tuple[int, int]] = field(default_factory=list)
    #: Lines the pull request added or changed (the `+` lines).
    added: set[int] = field(default_factory=set)


@dataclass
class PullDiff:
    files: dict[str, FileLines] = field(default_factory=dict)

    def in_one_hunk(self, path: str, start: int, end: int) -> bool:
        """Whether lines start..end of the new file lie inside a single hunk (GitHub rejects a
        review comment, and the whole review with it, otherwise)."""
        f = self.files.get(path)
        return f is not None and start <= end and any(lo <= start and end <= hi for lo, hi in f.hunks)

    def changed(self, path: str, line: int) -> bool:
        f = self.files.get(path)
        return f is not None and line in f.added


def parse_patch(patch: str) -> FileLines:
    out = FileLines()
    line = 0
    end = -1
    for text in patch.splitlines():
        m = _HUNK.match(text)
        if m:
            start = int(m.group(1))
            count = int(m.group(2)) if m.group(2) is not None else 1
            line, end = start, start + count - 1
            if count > 0:
                out.hunks.append((start, end))
            continue
        if line > end or not text or text.startswith("\\"):
            continue
        tag = text[0]
        if tag == "+":
            out.added.add(line)
            line += 1
        elif tag == " ":
            line += 1
    return out


def pull_diff(files: list) -> PullDiff:
    """From the files API's entries (objects or dicts with `filename` and `patch`)."""
    diff = PullDiff()
    for f in files:
        name = f.get("filename") if isinstance(f, dict) else getattr(f, "filename", None)
        patch = f.get("patch") if isinstance(f, dict) else getattr(f, "patch", None)
        if isinstance(name, str) and isinstance(patch, str) and patch:
            diff.files[name] = parse_patch(patch)
    return diff
