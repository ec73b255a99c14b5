"""Fix examples: (finding + the code around it -> the new text of the named lines + a rationale).

A mined history fix (`secai.history`) becomes an example in exactly the form the model provider
asks at fix time (`secai.fix.prompt`): the lines to rewrite are the finding's own lines widened to
whole statements, stretched to cover the human edit when it starts or ends just outside them; the
answer is the lines the edit changed (widened to a unique, non-blank anchor within them) before
and after, in the shape of the earlier fix the prompt shows, and the commit subject is the
rationale. Verified deterministic fixes (a dependency bump,
a codemod) become examples the same way.

An event is left out, with the reason counted, when its edit cannot be placed inside a span the
model could be asked for (a graph check fixed somewhere else in the file, an edit over
`fix.max_target_lines`), when its file holds anything `redact_code` would replace (the prompt shows
the code and a held-out case keeps the whole file, both published with the dataset), or when its
file cannot be read back from the repository. Commit subjects and finding text are redacted.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

from secai.config import Settings
from secai.findings import Category, Finding, Location, Severity, severity_from_text
from secai.fix.edit import LineEdit, search_region, widen_to_statements
from secai.fix.memory import PastFix, Recalled, past_fix
from secai.fix.prompt import FixFacts, format_fix_answer, render_fix_prompt
from secai.history.events import MinedEvent
from secai.ingest.redact import redact_code

#: Characters per token of code and prompt text, conservatively (SmolLM2 and Qwen tokenizers give
#: 3 to 4 on this kind of text): the size check of an example without loading a tokenizer.
CHARS_PER_TOKEN = 3
#: Fractions of `fix.context_lines` tried when an example is too long (the model provider's steps).
CONTEXT_STEPS = (1.0, 0.5, 0.25, 0.0)
#: Largest file an evaluation case carries (the whole before file is needed to verify a fix).
MAX_CASE_BYTES = 256 * 1024

_IAC_TOOLS = {"checkov", "trivy", "kics", "tfsec", "terrascan"}


class FixCase(BaseModel):
    """A held-out fix: everything needed to ask a model for it and to verify the answer."""

    id: str
    source: str  # history | deterministic
    commit: str | None = None
    date: str | None = None
    tool: str
    rule_id: str
    title: str = ""
    message: str = ""
    severity: str = ""
    cwe: list[int] = Field(default_factory=list)
    path: str
    line: int
    end_line: int
    #: The file before the fix (test cases only: the evaluator rebuilds the file from it).
    before_text: str | None = None
    #: What the human (or the deterministic provider) changed, for the record.
    search: str = ""
    replace: str = ""
    rationale: str = ""

    def finding(self) -> Finding:
        """The finding as the fix stage would see it."""
        return Finding(
            tool=self.tool,
            rule_id=self.rule_id,
            title=self.title or self.rule_id,
            severity=severity_from_text(self.severity, Severity.medium),
            category=Category.iac if self.tool in _IAC_TOOLS else Category.code,
            cwe=self.cwe,
            message=self.message,
            location=Location(path=self.path, start_line=self.line, end_line=self.end_line),
        )


class FixExample(BaseModel):
    case: FixCase
    #: The lines the prompt names (1-based, inclusive, in the before file).
    start: int
    end: int
    messages: list[dict[str, str]]
    #: The before file, and the new text of lines start..end (to render the prompt again with an
    #: earlier fix as its example).
    lines: list[str] = Field(default_factory=list, exclude=True, repr=False)
    new: list[str] = Field(default_factory=list, exclude=True, repr=False)

    def past_fix(self) -> PastFix | None:
        """This fix as an example for later prompts (None when too long to show)."""
        c = self.case
        return past_fix(
            id=c.id,
            tool=c.tool,
            rule_id=c.rule_id,
            cwe=c.cwe,
            path=c.path,
            commit=c.commit,
            date=c.date,
            old=self.lines[self.start - 1 : self.end],
            new=self.new,
        )

    def target_text(self) -> str:
        return "\n".join(self.lines[self.start - 1 : self.end])


def render_example(ex: FixExample, settings: Settings, past: Recalled | None = None) -> list[dict[str, str]] | None:
    """The example's messages (prompt and answer), showing less of the file when they would not
    fit in train.max_seq_length (as the model provider does); None when nothing fits."""
    c = ex.case
    facts = FixFacts(tool=c.tool, rule_id=c.rule_id, title=c.title, cwe=c.cwe, message=c.message, path=c.path)
    answer = {"role": "assistant", "content": _answer(ex.lines, ex.start, ex.end, ex.new, c.rationale)}
    # Training cuts an example at train.max_seq_length, and a cut answer teaches nothing.
    budget = settings.train.max_seq_length * CHARS_PER_TOKEN
    for step in CONTEXT_STEPS:
        messages = render_fix_prompt(facts, ex.lines, ex.start, ex.end, int(settings.fix.context_lines * step), past)
        if sum(len(m["content"]) for m in messages) + len(answer["content"]) <= budget:
            return [*messages, answer]
    return None


def target_span(path: str, text: str, start: int, end: int, settings: Settings) -> tuple[int, int] | None:
    """The lines the model is asked to rewrite for a finding on start..end (None when too long):
    the same rule the model provider uses."""
    limit = settings.fix.max_target_lines
    lo, hi = widen_to_statements(path, text, start, max(start, end), limit)
    return None if hi - lo + 1 > limit else (lo, hi)


def _answer(lines: list[str], start: int, end: int, new: list[str], rationale: str) -> str:
    old = lines[start - 1 : end]
    region = search_region(old, new)
    if region is None:  # no part of the lines is unique: all of them, before and after
        return format_fix_answer("\n".join(old), "\n".join(new), rationale)
    lo, hi, nlo, nhi = region
    return format_fix_answer("\n".join(old[lo:hi]), "\n".join(new[nlo:nhi]), rationale)


def example_for(
    case: FixCase, lines: list[str], edit: LineEdit, settings: Settings, *, keep_text: bool = False
) -> tuple[FixExample | None, str]:
    """The example of one fix (`edit` changes the before file `lines`), or None and why not."""
    text = "\n".join(lines)
    span = target_span(case.path, text, case.line, case.end_line, settings)
    if span is None:
        return None, "the finding spans more lines than the model is asked for"
    start, end = span
    e_lo, e_hi = edit.start, max(edit.start, edit.end)
    # An edit that starts or ends just outside the named lines (an added line after a call, a
    # decorator above it) stretches them; one elsewhere in the file is not this finding's fix.
    near = settings.mine.near_lines
    if e_lo < start - near or e_hi > end + near:
        return None, "the edit is not at the finding's lines"
    start, end = min(start, e_lo), max(end, e_hi)
    if end - start + 1 > settings.fix.max_target_lines:
        return None, "the finding and its edit span more lines than the model is asked for"
    new = lines[start - 1 : edit.start - 1] + edit.new + lines[edit.end : end]
    if new == lines[start - 1 : end]:
        return None, "the edit changes nothing"
    ex = FixExample(case=case, start=start, end=end, messages=[], lines=lines, new=new)
    messages = render_example(ex, settings)
    if messages is None:
        return None, "the example is longer than train.max_seq_length"
    ex.messages = messages
    if keep_text:
        case.before_text = text
    case.search = "\n".join(lines[edit.start - 1 : edit.end])
    case.replace = "\n".join(edit.new)
    return ex, ""


def case_of_event(e: MinedEvent) -> FixCase:
    return FixCase(
        id=e.id,
        source="history",
        commit=e.commit,
        date=e.date,
        tool=e.tool,
        rule_id=e.rule_id,
        title=e.title,
        message=e.message,
        severity=e.severity,
        cwe=list(e.cwe),
        path=e.before_path or e.path,
        line=e.line or 1,
        end_line=max(e.line or 1, e.end_line or e.line or 1),
        rationale=e.subject,
    )


def examples_from_events(
    events: Iterable[MinedEvent], read_blob, settings: Settings
) -> tuple[list[FixExample], Counter[str]]:
    """Examples of the mined fixes; `read_blob(oid) -> str | None` gives a before file."""
    out: list[FixExample] = []
    skipped: Counter[str] = Counter()
    for e in events:
        if e.kind != "fixed":
            continue
        if e.redacted:
            skipped["its code holds a redacted secret"] += 1
            continue
        if e.edit is None or not e.line or not e.before_blob:
            skipped["no edit or line recorded"] += 1
            continue
        text = read_blob(e.before_blob)
        if text is None:
            skipped["the before file cannot be read from the repository"] += 1
            continue
        if redact_code(text) != text:  # the file (not only the window) goes into prompts and cases
            skipped["its file holds a secret-looking value"] += 1
            continue
        lines = text.split("\n")
        if lines[e.edit.start_line - 1 : e.edit.end_line] != e.edit.search.split("\n"):
            skipped["the recorded edit does not match the file"] += 1
            continue
        edit = LineEdit(
            start=e.edit.start_line,
            end=e.edit.end_line,
            old=e.edit.search.split("\n"),
            new=e.edit.replace.split("\n") if e.edit.replace else [],
        )
        ex, why = example_for(case_of_event(e), lines, edit, settings, keep_text=len(text) <= MAX_CASE_BYTES)
        if ex is None:
            skipped[why] += 1
        else:
            out.append(ex)
    return out, skipped


def examples_from_fixes(fixed: Iterable[tuple[Finding, str, LineEdit, str, str]], settings: Settings):
    """Examples of verified deterministic fixes: (finding, file text, edit, provider, rationale)."""
    out: list[FixExample] = []
    skipped: Counter[str] = Counter()
    for f, text, edit, provider, rationale in fixed:
        loc = f.location
        if loc is None or not loc.start_line:
            skipped["no line"] += 1
            continue
        case = FixCase(
            id="det-" + hashlib.sha256(f"{f.fingerprint}\x1f{provider}".encode()).hexdigest()[:16],
            source="deterministic",
            tool=f.tool,
            rule_id=f.rule_id,
            title=f.title,
            message=f.message,
            severity=f.severity.value,
            cwe=list(f.cwe),
            path=loc.path,
            line=edit.start if f.package else loc.start_line,
            end_line=max(edit.start, edit.end) if f.package else max(loc.start_line, loc.end_line or loc.start_line),
            rationale=rationale or f"{provider} fix",
        )
        if redact_code(text) != text:
            skipped["its file holds a secret-looking value"] += 1
            continue
        ex, why = example_for(case, text.split("\n"), edit, settings)
        if ex is None:
            skipped[why] += 1
        else:
            out.append(ex)
    return out, skipped


def history_examples(
    events: list[MinedEvent], source: str | None, settings: Settings
) -> tuple[list[FixExample], Counter[str]]:
    """Examples of the mined fixes, reading each before file from the repository at `source`."""
    fixed = [e for e in events if e.kind == "fixed"]
    if not fixed:
        return [], Counter()
    if source is None:
        return [], Counter({"the repository is not available to read the files before each fix": len(fixed)})
    from secai.history.git import Git

    cap = settings.fix.max_file_kb * 1024
    with Git(source).blob_reader() as reader:

        def read_blob(oid: str) -> str | None:
            kind, data = reader.read(oid, max_bytes=cap)
            if kind != "blob" or data is None:
                return None
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                return None

        return examples_from_events(fixed, read_blob, settings)


def deterministic_examples(
    findings: list[Finding], source: str | None, settings: Settings, reuse: dict | None = None
) -> tuple[list[FixExample], Counter[str]]:
    """Examples of the fixes the deterministic providers make for today's findings and the
    scanner (or the manifest check) verifies."""
    providers = [p for p in ("dependency", "codemod") if p in settings.fix.providers]
    if source is None or not findings or not providers:
        return [], Counter()
    from secai.fix.run import fix_findings

    run = fix_findings(findings, source, settings, providers=providers, reuse=reuse)
    by_fp = {f.fingerprint: f for f in findings}
    fixed = []
    for r in run.results:
        if r.status != "verified" or r.fingerprint not in by_fp:
            continue
        for path, edits in r.changes.items():
            if len(edits) != 1:
                continue
            text = run.originals.get(path)
            if text is None:
                from secai.fix.source import SourceTree

                text = SourceTree(source, settings.fix.max_file_kb * 1024).read(path).text
            f = by_fp[r.fingerprint].model_copy(deep=True)
            if f.location is None or f.location.path != path:  # a dependency finding: its manifest line
                f.location = Location(path=path, start_line=edits[0].start, end_line=max(edits[0].start, edits[0].end))
            fixed.append((f, text, edits[0], r.provider or "deterministic", r.rationale))
    return examples_from_fixes(fixed, settings)
