"""The fix stage's `fixes.jsonl`, as the report reads it: one row per finding with the fixed keys
`fingerprint, tool, rule_id, path, line, provider, status, reason, diff, rationale`
(docs/run-folder.md). Rows that are not such a row are skipped with one warning naming the file.

Only `verified` rows with a diff reach a user; a diff is split into its file and hunks so a fix
can become a pull-request suggestion (`secai.github.review`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from secai.fix.task import FixResult

log = logging.getLogger("secai")

FIXES = "fixes.jsonl"
MAX_BYTES = 50 * 1024 * 1024
#: Providers whose rationale is deterministic text, not model output.
DETERMINISTIC = frozenset({"dependency", "codemod"})


class FixRecord(FixResult):
    """A row of `fixes.jsonl`, validated with the fix stage's own model (one contract)."""

    @property
    def verified(self) -> bool:
        return self.status == "verified" and bool(self.diff.strip())


def read_fixes(run_dir: str | Path) -> dict[str, FixRecord]:
    """fingerprint -> its fix record (the last row wins)."""
    path = Path(run_dir) / FIXES
    out: dict[str, FixRecord] = {}
    bad = 0
    try:
        if path.stat().st_size > MAX_BYTES:
            log.warning("%s: over %d bytes; fixes not shown", path, MAX_BYTES)
            return out
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    rec = FixRecord.model_validate(json.loads(line))
                except (ValueError, ValidationError):
                    bad += 1
                    continue
                out[rec.fingerprint] = rec
    except FileNotFoundError:
        return out
    except (OSError, UnicodeDecodeError) as e:
        log.warning("%s: unreadable (%s); fixes not shown", path, e)
        return {}
    if bad:
        log.warning("%s: %d row(s) are not fix records; left out", path, bad)
    return out


# -- unified diffs ---------------------------------------------------------------------------------

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class Hunk:
    """One hunk of a fix: lines `old_start..old_start+len(old)-1` of the original file become `new`."""

    old_start: int
    old: list[str]
    new: list[str]
    #: Context lines before the first change (kept for anchoring a pure insertion).
    before: list[str]


@dataclass
class FileDiff:
    path: str
    hunks: list[Hunk]


def parse_diff(diff: str) -> list[FileDiff]:
    """A unified diff (git's `a/`/`b/` prefixes or none) as files and hunks, each hunk reduced to
    the changed block. Raises ValueError on anything that is not a well-formed unified diff."""
    files: list[FileDiff] = []
    lines = diff.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- "):
            if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
                raise ValueError("'---' without '+++'")
            path = lines[i + 1][4:].split("\t")[0].strip()
            if path.startswith("b/"):
                path = path[2:]
            files.append(FileDiff(path, []))
            i += 2
            continue
        m = _HUNK.match(line)
        if m:
            if not files:
                raise ValueError("hunk before a file header")
            old_n = int(m.group(2)) if m.group(2) is not None else 1
            new_n = int(m.group(4)) if m.group(4) is not None else 1
            i += 1
            body: list[str] = []
            seen_old = seen_new = 0
            while i < len(lines) and (seen_old < old_n or seen_new < new_n):
                b = lines[i]
                if b.startswith("\\"):
                    i += 1
                    continue
                tag = b[:1] or " "
                if tag not in " -+":
                    raise ValueError(f"unexpected line in a hunk: {b[:40]!r}")
                body.append(b if b else " ")
                seen_old += tag in " -"
                seen_new += tag in " +"
                i += 1
            if (seen_old, seen_new) != (old_n, new_n):
                raise ValueError("hunk shorter than its header says")
            files[-1].hunks.extend(_changed_blocks(int(m.group(1)), body))
            continue
        i += 1
    if not files or not any(f.hunks for f in files):
        raise ValueError("no hunks")
    return files


def _changed_blocks(old_start: int, body: list[str]) -> list[Hunk]:
    """Each run of `-`/`+` lines of a hunk body as its own block, with its original line number."""
    out: list[Hunk] = []
    line = old_start
    context: list[str] = []
    cur: Hunk | None = None
    for b in body:
        tag, text = b[0], b[1:]
        if tag == " ":
            cur = None
            context.append(text)
            line += 1
            continue
        if cur is None:
            cur = Hunk(old_start=line, old=[], new=[], before=list(context))
            out.append(cur)
        if tag == "-":
            cur.old.append(text)
            line += 1
        else:
            cur.new.append(text)
    return out
