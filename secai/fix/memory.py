"""The team's earlier fixes, recalled into the fix prompt as a worked example.

A small model learns little of a rule's fix from a few dozen training steps, but it copies a
pattern it is shown well. So the prompt for a finding carries the closest earlier fix this
repository made for the same rule (same tool and rule id; failing that, the same CWE in the same
kind of file): the lines that fix changed, before and after. Training rows carry one the same
way, always from an earlier commit, so the adapter learns to apply the example rather than to
recall it.

The memory is the fixes of a dataset's train and valid splits (`memory.jsonl` in the dataset
folder, copied next to the adapter trained on it): history fixes on trusted branches and
verified deterministic fixes, already redacted and screened like every training row. A fix
recalled for an evaluation case must be older than the case (`as_of`), so held-out fixes never
see their own future.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field, ValidationError

from secai.dates import when
from secai.fix.edit import search_region
from secai.fix.syntax import kind_of

log = logging.getLogger("secai")

#: The dataset's memory file; the trained adapter folder holds a copy.
MEMORY_FILE = "memory.jsonl"
#: A fix changing more lines than this (on either side) is not an example a prompt can carry.
MAX_LINES = 8
_MAX_CHARS = 800


class PastFix(BaseModel):
    """One earlier fix: the lines it changed, as they were and as it left them."""

    id: str
    tool: str
    rule_id: str
    cwe: list[int] = Field(default_factory=list)
    path: str
    commit: str | None = None
    #: When the fix was committed; None for a fix made today (a deterministic provider's).
    date: str | None = None
    before: str
    after: str


def past_fix(
    *,
    id: str,
    tool: str,
    rule_id: str,
    cwe: Iterable[int],
    path: str,
    commit: str | None,
    date: str | None,
    old: list[str],
    new: list[str],
) -> PastFix | None:
    """The example of a fix that turned lines `old` into `new` (None when it is too long to show):
    the part a SEARCH/REPLACE answer would hold, so the changed lines, with the unchanged ones
    above (or below) them that make the old text unique and not blank."""
    region = search_region(old, new)
    if region is None:
        return None
    lo, hi, nlo, nhi = region
    before, after = old[lo:hi], new[nlo:nhi]
    if max(len(before), len(after)) > MAX_LINES:
        return None
    before_text, after_text = "\n".join(before), "\n".join(after)
    if len(before_text) > _MAX_CHARS or len(after_text) > _MAX_CHARS:
        return None
    return PastFix(
        id=id,
        tool=tool,
        rule_id=rule_id,
        cwe=list(cwe),
        path=path,
        commit=commit,
        date=date,
        before=before_text,
        after=after_text,
    )


def _kind(path: str) -> str:
    """The kind of file (`python`, `hcl`, `dockerfile`, ...; else its suffix)."""
    return kind_of(path) or PurePosixPath(path).suffix.lower() or PurePosixPath(path).name.lower()


class Recalled(BaseModel):
    fix: PastFix
    #: True for the same tool and rule; False for a fix of the same CWE in the same kind of file.
    same_rule: bool


class FixMemory:
    """Earlier fixes by rule; `recall` picks the one whose old lines look most like the code."""

    def __init__(self, fixes: Iterable[PastFix] = ()):
        self.fixes = list(fixes)
        self._by_rule: dict[tuple[str, str], list[PastFix]] = {}
        for f in self.fixes:
            self._by_rule.setdefault((f.tool, f.rule_id), []).append(f)

    def __len__(self) -> int:
        return len(self.fixes)

    def recall(
        self,
        *,
        tool: str,
        rule_id: str,
        cwe: Iterable[int],
        path: str,
        code: str,
        as_of: str | None = None,
        exclude_commit: str | None = None,
        exclude_id: str | None = None,
    ) -> Recalled | None:
        """The earlier fix to show for a finding of `rule_id` on the lines `code` of `path`.

        With `as_of`, only fixes committed before that date count (a fix of today's, with no date,
        never does); fixes of `exclude_commit` and the fix `exclude_id` never count."""

        def usable(f: PastFix) -> bool:
            if f.id == exclude_id or (exclude_commit and f.commit == exclude_commit):
                return False
            if as_of is None:
                return True
            return f.date is not None and when(f.date) < when(as_of)

        same = [f for f in self._by_rule.get((tool, rule_id), []) if usable(f)]
        if same:
            return Recalled(fix=self._closest(same, code), same_rule=True)
        cwes, kind = set(cwe), _kind(path)
        if not cwes:
            return None
        similar = [f for f in self.fixes if cwes & set(f.cwe) and _kind(f.path) == kind and usable(f)]
        return Recalled(fix=self._closest(similar, code), same_rule=False) if similar else None

    @staticmethod
    def _closest(fixes: list[PastFix], code: str) -> PastFix:
        def score(f: PastFix):
            return (difflib.SequenceMatcher(None, code, f.before, autojunk=False).ratio(), when(f.date), f.id)

        return max(fixes, key=score)

    def write(self, path: str | Path) -> None:
        from secai.run.folder import atomic_write_text

        atomic_write_text(Path(path), "".join(f.model_dump_json() + "\n" for f in self.fixes))

    @classmethod
    def read(cls, path: str | Path) -> FixMemory:
        """The memory in `path` (empty when there is none); a bad line is skipped with a warning
        that names the file and the line."""
        p = Path(path)
        if not p.is_file():
            return cls()
        fixes = []
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                fixes.append(PastFix.model_validate(json.loads(line)))
            except (ValueError, ValidationError) as e:
                log.warning("%s:%d: not an earlier fix, skipped (%s)", p, n, str(e).splitlines()[0])
        return cls(fixes)


def memory_beside(adapter: str | Path | None, dataset: str | Path | None = None) -> FixMemory:
    """The memory an adapter was trained with (its folder's copy), else the dataset's, else none."""
    for folder in (adapter, dataset):
        if folder is not None and (Path(folder) / MEMORY_FILE).is_file():
            return FixMemory.read(Path(folder) / MEMORY_FILE)
    return FixMemory()
