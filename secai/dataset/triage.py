"""Triage examples: (finding + the code around it -> the team's verdict and its reason).

Each label (`secai.triage.labels`) is one example; a finding without a label is no target. The
finding's facts come from this run's findings or the mined events with the label's fingerprint
(else the label's own tool, rule and place); the code window from the source tree for a finding of
this run, from the mined event's window for a past one, or from the report's snippet. Windows are
redacted and lose their suppression markers (a finding to be triaged has none, and a marker would
give the answer away); an example whose window held a secret-looking value keeps no window.

The answer is the label's verdict and the team's own words (redacted, one sentence); a label
without words gets a short neutral reason saying where the decision was read. Splits follow time
like the fix examples: the newest `dataset.test_fraction` of the dated labels are held out, the
`dataset.valid_fraction` before them validate, labels without a date train; labels with the same
date stay in one split.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel

from secai.config import Settings
from secai.findings import Finding
from secai.history.events import MinedEvent
from secai.ingest.redact import redact_code, redact_text
from secai.triage.labels import Label, Verdict
from secai.triage.prompt import TriageFacts, format_verdict_answer, one_sentence, render_triage_prompt, strip_markers

CASES = "triage_cases.jsonl"

_NEUTRAL: dict[str, str] = {
    "sarif-suppression": "suppressed in the scanner's report",
    "checkov-skip": "skipped with a checkov:skip comment",
    "trivy-ignored": "ignored in the Trivy ignore settings",
    "grype-ignored": "ignored in the Grype ignore settings",
    "detect-secrets-audit": "marked in the detect-secrets baseline audit",
    "dependency-check-suppressed": "suppressed in the Dependency-Check suppression file",
    "inline-marker": "suppressed with a marker in the code",
    "ignore-file": "accepted in the repository's ignore file",
}
_NEUTRAL_BY_VERDICT: dict[tuple[str, str], str] = {
    ("code-scanning", "true positive"): "fixed after code scanning reported it",
    ("code-scanning", "false positive"): "dismissed in code scanning as a false positive",
    ("code-scanning", "accepted risk"): "dismissed in code scanning as won't fix",
    ("history", "true positive"): "the team fixes findings like this one",
    ("history", "false positive"): "a later commit suppressed it",
    ("history", "accepted risk"): "a later commit suppressed it",
}


def neutral_reason(label: Label) -> str:
    """A short reason built from where a label was read, for labels without the team's words."""
    return _NEUTRAL_BY_VERDICT.get((label.source, label.verdict)) or _NEUTRAL.get(label.source, "the team's decision")


class TriageCase(BaseModel):
    """One labelled finding: what the prompt shows, and the team's answer."""

    id: str
    split: str = "train"
    source: str
    origin: str = ""
    date: str = ""
    tool: str
    rule_id: str
    title: str = ""
    message: str = ""
    path: str = ""
    line: int | None = None
    window: str = ""
    window_start: int | None = None
    verdict: Verdict
    reason: str

    def facts(self) -> TriageFacts:
        return TriageFacts(
            tool=self.tool,
            rule_id=self.rule_id,
            title=self.title,
            message=self.message,
            path=self.path,
            line=self.line,
            window=self.window,
            window_start=self.window_start,
        )

    def messages(self) -> list[dict[str, str]]:
        return [
            *render_triage_prompt(self.facts()),
            {"role": "assistant", "content": format_verdict_answer(self.verdict, self.reason)},
        ]


def clean_window(lines: list[str]) -> str | None:
    """Code lines as a prompt window: markers removed, redacted; None when redaction would change
    them (a secret-looking value never enters a prompt or the published dataset)."""
    text = "\n".join(strip_markers(x) for x in lines)
    return text if redact_code(text) == text else None


def window_around(text: str, line: int, context: int) -> tuple[str, int] | None:
    """The lines `line - context .. line + context` of `text`, cleaned, and the first one's number."""
    lines = text.split("\n")
    if not line or line > len(lines):
        return None
    lo, hi = max(1, line - context), min(len(lines), line + context)
    window = clean_window(lines[lo - 1 : hi])
    return None if window is None else (window, lo)


_NUMBERED = re.compile(r"^(\d+) ?(.*)$")


def _snippet_window(snippet: str, line: int, context: int) -> tuple[str, int] | None:
    """A report's snippet (already redacted by the parser) as a window; bandit-style snippets carry
    line numbers, which become the margin."""
    lines = snippet.rstrip("\n").split("\n")
    numbered = [_NUMBERED.match(x) for x in lines]
    start = line
    if lines and all(numbered):
        start = int(numbered[0].group(1))
        lines = [m.group(2) for m in numbered]
    lo = max(0, line - context - start)
    lines = lines[lo : lo + 2 * context + 1]
    text = "\n".join(strip_markers(x) for x in lines)
    return (text, start + lo) if text.strip() else None


def facts_for_finding(f: Finding, read_source=None, context: int = 4) -> TriageFacts:
    """The prompt facts of one of this run's findings; `read_source(path) -> str | None` gives its file."""
    loc = f.location
    facts = TriageFacts(
        tool=f.tool,
        rule_id=f.rule_id,
        title=f.title,
        message=f.message,
        path=loc.path if loc else (f.package.name if f.package else ""),
        line=loc.start_line if loc else None,
    )
    if loc and loc.start_line:
        text = read_source(loc.path) if read_source else None
        got = window_around(text, loc.start_line, context) if text else None
        if got is None and loc.snippet:
            got = _snippet_window(loc.snippet, loc.start_line, context)
        if got:
            facts.window, facts.window_start = got
    return facts


def _facts_for_event(e: MinedEvent, context: int) -> TriageFacts:
    facts = TriageFacts(
        tool=e.tool, rule_id=e.rule_id, title=e.title, message=e.message, path=e.before_path or e.path, line=e.line
    )
    if e.before and e.before_start and e.line and not e.redacted:
        lines = e.before.split("\n")
        lo = max(e.before_start, e.line - context)
        hi = min(e.before_start + len(lines) - 1, e.line + context)
        window = clean_window(lines[lo - e.before_start : hi - e.before_start + 1]) if lo <= e.line <= hi else None
        if window is not None:
            facts.window, facts.window_start = window, lo
    return facts


def _latest(labels: Iterable[Label]) -> list[Label]:
    """One label per finding: the latest decision (labels without a date count as oldest)."""
    from secai.dates import when

    by_fp: dict[str, Label] = {}
    for lb in labels:
        old = by_fp.get(lb.fingerprint)
        if old is None or when(lb.date) >= when(old.date):
            by_fp[lb.fingerprint] = lb
    return list(by_fp.values())


def triage_cases(
    labels: list[Label],
    findings: list[Finding],
    events: list[MinedEvent],
    settings: Settings,
    read_source=None,
) -> tuple[list[TriageCase], Counter[str]]:
    """A case per labelled finding (its facts joined from findings or events by fingerprint), and
    the counts of labels left out, by reason."""
    context = settings.verdict.context_lines
    by_finding = {f.fingerprint: f for f in findings if f.fingerprint}
    by_event: dict[str, MinedEvent] = {}
    for e in events:
        for key in (e.fingerprint, e.id, f"event:{e.id}" if e.id else ""):
            if key:
                by_event.setdefault(key, e)
    out: list[TriageCase] = []
    skipped: Counter[str] = Counter()
    for lb in _latest(labels):
        if not lb.tool or not lb.rule_id:
            skipped["no tool or rule"] += 1
            continue
        if lb.fingerprint in by_finding:
            facts = facts_for_finding(by_finding[lb.fingerprint], read_source, context)
        elif lb.fingerprint in by_event:
            facts = _facts_for_event(by_event[lb.fingerprint], context)
        else:
            facts = TriageFacts(tool=lb.tool, rule_id=lb.rule_id, path=lb.path or "", line=lb.line)
        reason = one_sentence(redact_text(lb.reason) or "") or neutral_reason(lb)
        out.append(
            TriageCase(
                id=lb.fingerprint or hashlib.sha256(lb.model_dump_json().encode()).hexdigest()[:16],
                source=lb.source,
                origin=redact_text(lb.origin) or "",
                date=lb.date,
                tool=facts.tool,
                rule_id=facts.rule_id,
                title=redact_text(facts.title) or "",
                message=redact_text(facts.message) or "",
                path=facts.path,
                line=facts.line,
                window=facts.window,
                window_start=facts.window_start,
                verdict=lb.verdict,
                reason=reason,
            )
        )
    return out, skipped


def triage_split(cases: list[TriageCase], settings: Settings) -> None:
    """Set each case's split by time (see the module docstring)."""
    from secai.dates import when

    dated: dict[str, list[TriageCase]] = {}
    for c in cases:
        c.split = "train"
        if c.date and when(c.date).year > 1:
            dated.setdefault(c.date, []).append(c)
    n = sum(len(v) for v in dated.values())
    want = {"test": round(n * settings.dataset.test_fraction), "valid": round(n * settings.dataset.valid_fraction)}
    taken = {"test": 0, "valid": 0}
    current = "test"
    for _, members in sorted(dated.items(), key=lambda kv: when(kv[0]), reverse=True):
        if current == "test" and taken["test"] >= want["test"]:
            current = "valid"
        if current == "valid" and taken["valid"] >= want["valid"]:
            current = "train"
        for c in members:
            c.split = current
        if current != "train":
            taken[current] += len(members)
