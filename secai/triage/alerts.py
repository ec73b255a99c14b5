"""Labels from GitHub code scanning alerts: dismissed (false positive, used in tests, won't fix)
and fixed alerts; open alerts decide nothing.

The REST API's alerts carry no SARIF fingerprints, so an alert is matched to a run finding by tool,
rule, path and line (secai.triage.match); a dismissed alert that matches none, and every fixed
alert (its finding is gone) keeps a key of its own (`code-scanning:<tool>:<number>`), unless a
mined fix of the same site gives it that event's fingerprint (one decision, seen twice). The reason
is the dismissal comment, else the dismissal reason.
"""

from __future__ import annotations

from secai.findings import canonical_tool
from secai.github.alerts import CodeScanningAlert
from secai.triage.labels import Label
from secai.triage.verdicts import clean_reason, from_alert


def alert_label(a: CodeScanningAlert) -> Label | None:
    verdict = from_alert(a.state, a.dismissed_reason, a.dismissed_comment)
    if verdict is None or not a.rule_id:
        return None
    if a.state == "fixed":
        reason, date = f"fixed (code scanning alert #{a.number})", a.fixed_at
    else:
        reason, date = (a.dismissed_comment or "").strip() or a.dismissed_reason or "dismissed", a.dismissed_at
    tool = canonical_tool(a.tool_name) if a.tool_name else "code-scanning"
    return Label(
        fingerprint=f"code-scanning:{tool}:{a.number}",
        tool=tool,
        rule_id=a.rule_id,
        path=a.path,
        line=a.start_line,
        verdict=verdict,
        reason=clean_reason(reason),
        source="code-scanning",
        origin=_origin(a),
        date=date or a.updated_at or "",
    )


def _origin(a: CodeScanningAlert) -> str:
    url = a.html_url or ""
    return url[:300] if url.startswith("https://") or url.startswith("http://") else f"alert #{a.number}"


def alert_labels(alerts: list[CodeScanningAlert]) -> list[Label]:
    return [lb for a in alerts if (lb := alert_label(a)) is not None]
