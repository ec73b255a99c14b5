"""Workflow-command annotations (`::error file=…,line=…::…`) for a pull request's new findings on
the lines it changed, so they show in the diff view.

GitHub shows at most 10 error and 10 warning annotations per step (and 50 per job): critical and
high findings become errors, the rest warnings, at most `PER_LEVEL` each, highest first. Text is
escaped the way GitHub's actions toolkit escapes it (data: `%`, CR, LF; properties also `:` and
`,`), so finding text can never end the command or start another one.
"""

from __future__ import annotations

from collections.abc import Callable

from secai.findings import Severity
from secai.log import escape_data
from secai.report.entries import Entry
from secai.report.severity import UNRATED

PER_LEVEL = 10
_MAX_MESSAGE = 1000


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(e: Entry) -> tuple[str, str]:
    """(level, the workflow command) for one entry."""
    s = e.severity
    level = "error" if s is not None and s.rank >= Severity.high.rank else "warning"
    f = e.first
    rules = ", ".join(dict.fromkeys(f"{x.tool} {x.primary_id()}" for x in e.findings))
    title = f"secai: {s.value if s else UNRATED} · {rules}"[:200]
    message = (f.title if not f.message or f.message == f.title else f"{f.title}: {f.message}")[:_MAX_MESSAGE]
    props = [f"file={escape_property(e.path or '')}", f"line={int(e.line or 1)}"]
    end = f.location.end_line if f.location else None
    if end and end > (e.line or 0):
        props.append(f"endLine={int(end)}")
    props.append(f"title={escape_property(title)}")
    return level, f"::{level} {','.join(props)}::{escape_data(message)}"


def annotations(new: list[Entry], changed: Callable[[str, int], bool]) -> tuple[list[str], int]:
    """Commands for the new entries on changed lines (`changed(path, line)`), within the caps; and
    how many such entries were left out."""
    out: dict[str, list[str]] = {"error": [], "warning": []}
    left = 0
    for e in new:
        if not e.path or not e.line or e.suppressed or not changed(e.path, e.line):
            continue
        level, cmd = annotation(e)
        if len(out[level]) < PER_LEVEL:
            out[level].append(cmd)
        else:
            left += 1
    return out["error"] + out["warning"], left
