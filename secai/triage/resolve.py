"""One label per finding: when several sources labelled it, the latest decision wins.

Labels are ordered by `date`; a label without one (today's reports, the ignore file, a marker in
today's code) is the latest. Ties go by source priority (`PRIORITY`, highest first: the team's
explicit secai decision, then GitHub's alert state, the scanners' own record of a suppression,
a marker read from the code, and history last); a label without a reason loses to one with a
reason from the same time (it is the same decision, seen with less detail). Labels that agree with the winner are folded
into it (their reason fills an empty one); labels that contradict it are kept in `overridden`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

from secai.triage.labels import Label, LabelSource
from secai.triage.verdicts import parse_date

PRIORITY: dict[LabelSource, int] = {
    "ignore-file": 9,
    "code-scanning": 8,
    "checkov-skip": 7,
    "trivy-ignored": 7,
    "grype-ignored": 7,
    "detect-secrets-audit": 7,
    "dependency-check-suppressed": 7,
    "sarif-suppression": 6,
    "inline-marker": 5,
    "scanner-suppression": 4,
    "history": 3,
}
_LATEST = datetime.max.replace(tzinfo=UTC)


def _order(lb: Label) -> tuple[datetime, int]:
    return parse_date(lb.date) or _LATEST, PRIORITY.get(lb.source, 0)


def resolve(labels: list[Label]) -> tuple[list[Label], int]:
    """The winning label of each fingerprint (in first-seen order), and how many findings had
    contradicting labels."""
    groups: dict[str, list[Label]] = defaultdict(list)
    for lb in labels:
        groups[lb.fingerprint].append(lb)
    out, contradicted = [], 0
    for group in groups.values():
        # A wordless label at the same time as one with words (a SARIF `inSource` suppression and
        # the marker it comes from) is the same decision seen with less detail: it neither wins
        # nor contradicts.
        worded = {parse_date(lb.date) for lb in group if lb.reason}
        group = [lb for lb in group if lb.reason or parse_date(lb.date) not in worded] or group
        ranked = sorted(group, key=_order, reverse=True)
        win = ranked[0].model_copy(deep=True)
        agree = [lb for lb in ranked[1:] if lb.verdict == win.verdict]
        lost = [lb for lb in ranked[1:] if lb.verdict != win.verdict]
        if not win.reason:
            win.reason = next((lb.reason for lb in agree if lb.reason), "")
        if lost:
            contradicted += 1
            win.overridden = [lb.model_copy(update={"overridden": []}) for lb in lost] + win.overridden
        out.append(win)
    return out, contradicted


def counts(labels: list[Label]) -> dict[str, dict[str, int]]:
    """Labels by source and by verdict (sorted), for logs and summaries."""
    return {
        "by_source": dict(sorted(Counter(lb.source for lb in labels).items())),
        "by_verdict": dict(sorted(Counter(lb.verdict for lb in labels).items())),
    }
