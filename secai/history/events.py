"""What mining produces: one `MinedEvent` per finding a commit fixed, introduced or suppressed.

The fields are those the dataset (time split), the fix task and triage need; `events.jsonl` in a
run folder holds one per line (docs/mining.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from secai.history.diffmap import LineMap, edit_for, window
from secai.history.walk import CommitMeta, author_id
from secai.ingest.redact import redact_code, redact_text
from secai.run.folder import atomic_write_text

if TYPE_CHECKING:
    from secai.history.compare import Outcome

log = logging.getLogger("secai")

#: Windows longer than this (minified code) make no useful example.
MAX_WINDOW_CHARS = 20_000

EventKind = Literal["fixed", "introduced", "suppressed", "disappeared"]


class EditBlock(BaseModel):
    """A SEARCH/REPLACE edit: lines [start_line, end_line] of the before file are `search`."""

    model_config = ConfigDict(extra="forbid")

    search: str
    replace: str
    start_line: int
    end_line: int


class MinedEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = ""
    kind: EventKind
    #: `history`: scanned blob by blob; `workflow`: two processed workflow runs' findings.
    origin: Literal["history", "workflow"] = "history"
    commit: str
    parent: str | None = None
    merge: bool = False
    date: str = ""  # author date, ISO 8601
    author: str = ""  # a pseudonym (walk.author_id), never a name or address
    subject: str = ""  # first line of the commit message, redacted
    tool: str
    rule_id: str
    cwe: list[int] = Field(default_factory=list)
    title: str = ""
    severity: str = ""
    message: str = ""
    path: str
    before_path: str | None = None
    #: The finding's own line: in the before file (fixed, suppressed) or the after file (introduced).
    line: int | None = None
    end_line: int | None = None
    #: Where the finding's line is (or would be) in the after file.
    after_line: int | None = None
    before: str | None = None  # window of the before file around the finding
    before_start: int | None = None
    after: str | None = None  # the matching window of the after file
    after_start: int | None = None
    edit: EditBlock | None = None
    before_blob: str | None = None
    after_blob: str | None = None
    fingerprint: str = ""
    #: Suppressed events: the marker added (nosec, checkov:skip, ...) and its justification text.
    marker: str | None = None
    justification: str | None = None
    #: True when a secret-looking value was replaced in the code texts (then `edit` may not match the
    #: blob); a redacted subject or message does not set it.
    redacted: bool = False

    def with_id(self) -> MinedEvent:
        key = "\x1f".join(
            [self.kind, self.origin, self.commit, self.tool, self.rule_id, self.path, str(self.line), self.fingerprint]
        )
        self.id = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return self


def event_json(e: MinedEvent) -> dict:
    """The stable JSON shape (`mine --format json`, events.jsonl)."""
    return e.model_dump(mode="json")


EVENTS = "events.jsonl"


def write_events(run_dir: str | Path, events: list[MinedEvent]) -> Path:
    path = Path(run_dir) / EVENTS
    atomic_write_text(path, "".join(e.model_dump_json() + "\n" for e in events))
    return path


def read_events(run_dir: str | Path) -> list[MinedEvent]:
    """A run folder's events; a line that is not a valid event is left out with a warning naming it."""
    return read_events_file(Path(run_dir) / EVENTS)


def read_events_file(path: str | Path) -> list[MinedEvent]:
    """Events from an events.jsonl, or from the one JSON object `mine --format json` prints."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as e:
        log.warning("%s: unreadable (%s); treated as missing", path, str(e)[:200])
        return []
    if text.lstrip().startswith("{") and '"events"' in text[:4096] + text[-4096:]:
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("events"), list):
            lines = [json.dumps(e) for e in doc["events"]]
        else:
            lines = text.splitlines()
    else:
        lines = text.splitlines()
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(MinedEvent.model_validate_json(line))
        except ValueError:
            log.warning("%s: line %d is not a valid event; left out", path, i)
    return out


@dataclass(frozen=True)
class Where:
    """The commit (or pair of workflow runs) and file an outcome belongs to."""

    commit: str
    parent: str | None
    tool: str  # the scanner, for a marker with no finding
    path: str
    before_path: str | None
    before_blob: str | None
    after_blob: str | None
    merge: bool = False
    origin: str = "history"


def build_event(
    where: Where,
    lm: LineMap,
    o: Outcome,
    fingerprints: dict[int, str],
    meta: CommitMeta,
    author_key: str,
    context: int,
) -> MinedEvent | None:
    """The event of one outcome: windows around the finding and the commit's change near it, the
    edit, and the commit facts; every text redacted. None when a window is too long to be useful."""
    hunks = o.hunks
    if o.side == "before":
        lo_b = min([x for x in [o.line] + [h.a1 + 1 for h in hunks] if x] or [1])
        hi_b = max([x for x in [o.end_line] + [h.a2 for h in hunks] if x] or [lo_b])
        lo_a = min([lm.map_near(lo_b)] + [h.b1 + 1 for h in hunks])
        hi_a = max([lm.map_near(hi_b)] + [h.b2 for h in hunks])
        after_line = lm.map_near(o.line) if o.line else None
    else:
        lo_a = min([x for x in [o.line] + [h.b1 + 1 for h in hunks] if x] or [1])
        hi_a = max([x for x in [o.end_line] + [h.b2 for h in hunks] if x] or [lo_a])
        lo_b = min([lm.map_back(lo_a)] + [h.a1 + 1 for h in hunks])
        hi_b = max([lm.map_back(hi_a)] + [h.a2 for h in hunks])
        after_line = o.line
    before_start, before_text = window(lm.before, lo_b, max(hi_b, lo_b), context) if lm.before else (None, None)
    after_start, after_text = window(lm.after, lo_a, max(hi_a, lo_a), context) if lm.after else (None, None)
    if len(before_text or "") > MAX_WINDOW_CHARS or len(after_text or "") > MAX_WINDOW_CHARS:
        return None
    edit = edit_for(lm, hunks) if lm.before else None
    f, marker = o.finding, o.marker
    redacted = False

    def red(text: str | None, code: bool = False) -> str | None:
        nonlocal redacted
        if not text:
            return text
        out = redact_code(text) if code else redact_text(text)
        redacted = redacted or (code and out != text)  # only code can stop matching its blob
        return out

    ev = MinedEvent(
        kind=o.kind,
        origin=where.origin,
        commit=where.commit,
        parent=where.parent,
        merge=where.merge,
        date=meta.date,
        author=author_id(meta.author_email, author_key),
        subject=red(_clean(meta.subject, 200)) or "",
        tool=f.tool if f else (marker.tool if marker and marker.tool else where.tool),
        rule_id=f.rule_id if f else (marker.rules[0] if marker and marker.rules else ""),
        cwe=list(f.cwe) if f else [],
        title=red(_clean(f.title, 300)) or "" if f else "",
        severity=f.severity.value if f else "",
        message=red(_clean(f.message, 1000)) or "" if f else "",
        path=where.path,
        before_path=where.before_path,
        line=o.line,
        end_line=o.end_line,
        after_line=after_line,
        before=red(before_text, True),
        before_start=before_start,
        after=red(after_text, True),
        after_start=after_start,
        edit=EditBlock(
            search=red(edit.search, True) or "",
            replace=red(edit.replace, True) or "",
            start_line=edit.start_line,
            end_line=edit.end_line,
        )
        if edit
        else None,
        before_blob=where.before_blob,
        after_blob=where.after_blob,
        fingerprint=fingerprints.get(id(f), "") if f else "",
        marker=marker.marker if marker else None,
        justification=red(_clean(marker.justification, 500)) if marker else None,
    )
    ev.redacted = redacted
    return ev.with_id()


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(text: str | None, limit: int) -> str:
    return _CONTROL.sub(" ", text or "").strip()[:limit]
