"""All the labels of one run folder, from every source, one per finding: `labels.jsonl`.

Sources (docs/triage.md): the run's reports (scanner suppressions), markers in the code window of
each finding (with a source tree), mined history (`events.jsonl`), code scanning alerts
(`alerts.json`, from `fetch` or `run --alerts`) and the repository's ignore file. A decision made
elsewhere (a commit, an alert) that is about one of the run's findings takes that finding's
fingerprint; one about a finding since gone keeps its own.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel, Field

from secai.findings import Finding
from secai.triage.labels import Label
from secai.triage.match import FindingIndex
from secai.triage.resolve import counts, resolve

log = logging.getLogger("secai")


class LabelSet(BaseModel):
    labels: list[Label] = Field(default_factory=list)
    #: Findings whose sources disagreed (the latest won; the others are in `overridden`).
    contradicted: int = 0
    #: One line per problem or fact worth telling (ignore file entries, alerts not readable, ...).
    notes: list[str] = Field(default_factory=list)

    def summary(self) -> dict:
        return {"labels": len(self.labels), "contradicted": self.contradicted, **counts(self.labels)}

    def note(self) -> str:
        if not self.labels:
            return "no labels" + (f"; {len(self.notes)} ignore-file warning(s)" if self.notes else "")
        c = counts(self.labels)
        verdicts = ", ".join(f"{n} {v}" for v, n in c["by_verdict"].items())
        sources = ", ".join(f"{s} {n}" for s, n in c["by_source"].items())
        extra = f"; {self.contradicted} contradicted (latest won)" if self.contradicted else ""
        if self.notes:
            extra += f"; {len(self.notes)} ignore-file warning(s)"
        return f"{len(self.labels)} labels: {verdicts} (from {sources}){extra}"


def attach(labels: list[Label], index: FindingIndex) -> list[Label]:
    """Labels made elsewhere that are about one of the run's findings take its fingerprint and
    location. A `true positive` (fixed) is about a finding that is gone: it keeps its own."""
    out = []
    for lb in labels:
        if lb.fingerprint not in index.by_fingerprint and lb.verdict != "true positive":
            f = index.find(lb.tool, lb.rule_id, lb.path, lb.line)
            if f is not None:
                loc = f.location
                lb = lb.model_copy(
                    update={"fingerprint": f.fingerprint, "path": loc.path, "line": loc.start_line, "tool": f.tool}
                )
        out.append(lb)
    return out


def join_fixes(labels: list[Label]) -> list[Label]:
    """A fixed alert about the same site as a mined fix (same tool, rule, path, nearest line within
    a few) is that fix: it takes the event's fingerprint, so the two fold into one label."""
    from secai.triage.match import NEAR, rule_key, tool_key

    fixes: dict[tuple, list[Label]] = {}
    for lb in labels:
        if lb.source == "history" and lb.verdict == "true positive" and lb.path:
            fixes.setdefault((tool_key(lb.tool), rule_key(lb.rule_id), lb.path), []).append(lb)
    out = []
    for lb in labels:
        if lb.source == "code-scanning" and lb.verdict == "true positive" and lb.line is not None:
            near = [e for e in fixes.get((tool_key(lb.tool), rule_key(lb.rule_id), lb.path or ""), []) if e.line]
            best = min(near, key=lambda e: abs(e.line - lb.line), default=None)
            if best is not None and abs(best.line - lb.line) <= NEAR:
                lb = lb.model_copy(update={"fingerprint": best.fingerprint})
        out.append(lb)
    return out


def build_labels(
    findings: list[Finding],
    *,
    events: list | None = None,
    tree=None,
    extra: list[Label] | None = None,
) -> LabelSet:
    """Every label of a run: scanner suppressions and markers of its findings, the mined events,
    and `extra` (already made: alerts, ignore file), matched to the findings and resolved."""
    from secai.triage.markers import marker_labels
    from secai.triage.mined import event_labels
    from secai.triage.scanners import scanner_labels

    index = FindingIndex(findings)
    labels = scanner_labels(findings) + marker_labels(findings, tree)
    labels += join_fixes(attach(event_labels(events or []) + list(extra or []), index))
    resolved, contradicted = resolve(labels)
    res = LabelSet(labels=resolved, contradicted=contradicted)
    if contradicted:
        log.info("labels: %d finding(s) had contradicting labels; the latest decision won", contradicted)
    return res


def run_labels(run_dir: Path, settings, source: Path | None) -> LabelSet:
    """The labels stage over a run folder (findings.json, events.jsonl, alerts, ignore file)."""
    from secai.fix.source import SourceTree
    from secai.history.events import read_events
    from secai.run.files import read_findings
    from secai.triage.alerts import ALERTS, alert_labels, read_alerts_file
    from secai.triage.ignore import ignore_labels

    findings = read_findings(run_dir)
    tree = SourceTree(source, settings.fix.max_file_kb * 1024) if source is not None and source.is_dir() else None
    accepted, notes = ignore_labels(source if tree is not None else None, findings)
    alerts, alert_notes = read_alerts_file(Path(run_dir) / ALERTS)
    for n in alert_notes:
        log.warning("%s", n)
    res = build_labels(findings, events=read_events(run_dir), tree=tree, extra=alert_labels(alerts) + accepted)
    res.notes += notes
    return res
