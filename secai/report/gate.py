"""`--fail-on SEVERITY`: which findings fail a CI job.

A finding counts when it is live (not suppressed by the scanner, not accepted in the repository's
ignore list), rated at or above the threshold (report-side severity: unrated findings never count),
and, when a baseline is known (a pull request compared with its base branch), new.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from secai.findings import SEVERITY_ORDER, Finding, Severity
from secai.report.severity import UNRATED, rating

#: What `--fail-on` and `--severity` accept; `none` turns the gate off.
THRESHOLDS = [s.value for s in SEVERITY_ORDER] + ["none"]


def threshold(value: str | None) -> Severity | None:
    if value is None or value == "none" or value == "":
        return None
    return Severity(value)


def is_live(f: Finding, ignored: Collection[str] = ()) -> bool:
    """Not suppressed by the scanner and not accepted by the team (fingerprints in `ignored`)."""
    return not f.suppressed and f.fingerprint not in ignored


def at_or_above(f: Finding, level: Severity) -> bool:
    s = rating(f)
    return s is not None and s.rank >= level.rank


def gate_hits(
    findings: Iterable[Finding],
    level: Severity | None,
    *,
    baseline: Collection[str] | None = None,
    ignored: Collection[str] = (),
) -> list[Finding]:
    """The findings that fail the gate (empty when `level` is None)."""
    if level is None:
        return []
    return [
        f
        for f in findings
        if is_live(f, ignored) and at_or_above(f, level) and (baseline is None or f.fingerprint not in baseline)
    ]


def filter_severity(findings: Iterable[Finding], level: Severity | None) -> list[Finding]:
    """`--severity`: only findings rated at or above `level` (all when None)."""
    found = list(findings)
    return found if level is None else [f for f in found if at_or_above(f, level)]


def live_counts(findings: Iterable[Finding], ignored: Collection[str] = ()) -> dict[str, int]:
    """Live findings by report-side severity (plus `unrated`), and the suppressed ones apart."""
    counts = {s.value: 0 for s in SEVERITY_ORDER} | {UNRATED: 0, "suppressed": 0}
    for f in findings:
        if not is_live(f, ignored):
            counts["suppressed"] += 1
            continue
        s = rating(f)
        counts[UNRATED if s is None else s.value] += 1
    return counts


def describe(hits: list[Finding], level: Severity, new_only: bool) -> str:
    what = "new finding" if new_only else "finding"
    return f"{len(hits)} {what}{'s' if len(hits) != 1 else ''} at or above {level.value} (--fail-on {level.value})"


def run_gate(run_dir, settings, level: Severity | None, ignored: Collection[str] = ()) -> tuple[list[Finding], bool]:
    """The findings of a run folder that fail the gate, and whether only new ones counted (a pull
    request with a processed base-branch run to compare with)."""
    from secai.report.baseline import is_pull_request, store_baseline
    from secai.run import files

    if level is None:
        return [], False
    meta = files.read_run_meta(run_dir)
    base = store_baseline(meta, settings) if is_pull_request(meta) else None
    fps = base.fingerprints if base is not None else None
    from secai.triage.ignore import accepted
    from secai.triage.labels import read_labels

    ignored = set(ignored) | accepted(read_labels(run_dir))  # .secai/ignore.yml, via the labels stage
    return gate_hits(files.read_findings(run_dir), level, baseline=fps, ignored=ignored), fps is not None
