"""Labels from mined history (events.jsonl): a commit that fixed a finding acted on it (true
positive; the reason is a neutral one, since a commit subject says how, not why); a commit that added a suppression marker decided as its
justification says. `introduced` and `disappeared` events decide nothing."""

from __future__ import annotations

from secai.history.events import MinedEvent
from secai.triage.labels import Label
from secai.triage.verdicts import clean_reason, from_justification


def event_label(e: MinedEvent) -> Label | None:
    if e.kind == "fixed":
        verdict, reason = "true positive", ""  # the subject says how it was fixed, not why it is real
    elif e.kind == "suppressed":
        verdict, reason = from_justification(e.justification), e.justification or ""
    else:
        return None
    return Label(
        fingerprint=e.fingerprint or f"event:{e.id}",
        tool=e.tool,
        rule_id=e.rule_id,
        path=e.path,
        line=e.after_line if e.kind == "suppressed" and e.after_line else e.line,
        verdict=verdict,
        reason=clean_reason(reason),
        source="history",
        origin=f"commit {e.commit[:12]}" + (f" ({e.origin})" if e.origin != "history" else ""),
        date=e.date,
    )


def event_labels(events: list[MinedEvent]) -> list[Label]:
    return [lb for e in events if e.rule_id and (lb := event_label(e)) is not None]
