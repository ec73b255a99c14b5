"""Labels from a run's own reports: the suppressions scanners record next to their findings.

SARIF `suppressions` (any tool), Checkov `skipped_checks`, Trivy `ModifiedFindings`, grype
`ignoredMatches`, detect-secrets audits and Dependency-Check suppressions all reach a finding as
`suppressed` plus the tool's own words (`extra["suppression"]` or `extra["suppress_comment"]`);
the parsers keep them. Any other tool's suppressed finding (Semgrep Supply Chain `ignored`, ...)
is a `scanner-suppression`. A suppression still `underReview` decides nothing and gives no label.
"""

from __future__ import annotations

from secai.findings import Finding
from secai.triage.labels import Label, LabelSource, Verdict
from secai.triage.verdicts import clean_reason, from_justification

#: VEX statuses that say the finding does not apply.
_NOT_AFFECTED = {"not_affected", "fixed", "false_positive"}


def finding_label(f: Finding, verdict: Verdict, reason: str | None, source: LabelSource, origin: str) -> Label:
    loc = f.location
    return Label(
        fingerprint=f.fingerprint,
        tool=f.tool,
        rule_id=f.rule_id,
        path=loc.path if loc else None,
        line=loc.start_line if loc else None,
        verdict=verdict,
        reason=clean_reason(reason),
        source=source,
        origin=origin,
    )


def scanner_label(f: Finding) -> Label | None:
    """The label a suppressed finding's own report gives it, if any."""
    if not f.suppressed or f.extra.get("accepted"):
        return None  # `accepted`: flagged by the ignore file at collect, which gives its own label
    origin = f.source
    sup = f.extra.get("suppression") if isinstance(f.extra.get("suppression"), dict) else {}
    status = str(sup.get("status") or "").strip()
    justification = str(sup.get("justification") or "").strip()
    if f.tool == "checkov" and f.extra.get("suppress_comment"):
        reason = str(f.extra["suppress_comment"])
        return finding_label(f, from_justification(reason), reason, "checkov-skip", origin)
    if f.tool == "detect-secrets":
        return finding_label(f, "false positive", "audited: not a secret", "detect-secrets-audit", origin)
    if status.lower() in ("underreview", "under_review", "under_investigation", "affected"):
        return None
    if f.tool == "trivy" and sup.get("kind") == "external":
        verdict = "false positive" if status in _NOT_AFFECTED else from_justification(justification)
        return finding_label(f, verdict, justification or status, "trivy-ignored", _where(origin, sup))
    if f.tool == "grype":
        verdict = "false positive" if status in _NOT_AFFECTED else from_justification(justification)
        return finding_label(f, verdict, justification, "grype-ignored", origin)
    if f.tool == "dependency-check":
        return finding_label(f, from_justification(justification), justification, "dependency-check-suppressed", origin)
    source: LabelSource = "sarif-suppression" if sup else "scanner-suppression"
    return finding_label(f, from_justification(justification), justification, source, origin)


def _where(origin: str, sup: dict) -> str:
    ignore_file = sup.get("source")
    return f"{origin} ({ignore_file})" if ignore_file else origin


def scanner_labels(findings: list[Finding]) -> list[Label]:
    return [lb for f in findings if (lb := scanner_label(f)) is not None]
