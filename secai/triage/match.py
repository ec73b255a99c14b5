"""Which of a run's findings a decision made elsewhere (a mined commit, a code scanning alert) is
about: same tool, same rule, same file, and the nearest line within a few lines (code moves)."""

from __future__ import annotations

from collections import defaultdict

from secai.findings import Finding, canonical_tool

#: How far (in lines) a decision's line may be from the finding's.
NEAR = 3


def rule_key(rule_id: str) -> str:
    """A rule id compared loosely: case, Trivy's `AVD-` prefix, and a Semgrep rules file's dotted
    folder prefix do not matter (`AVD-AWS-0089` = `AWS-0089`, `rules.weak-md5` = `weak-md5`)."""
    r = rule_id.strip().lower()
    if r.startswith("avd-"):
        r = r[4:]
    return r.rsplit(".", 1)[-1] if "." in r and "/" not in r and not r[:1].isdigit() else r


def tool_key(tool: str) -> str:
    t = canonical_tool(tool)
    return "trivy" if t.startswith("trivy") else t


class FindingIndex:
    def __init__(self, findings: list[Finding]):
        self.by_fingerprint = {f.fingerprint: f for f in findings if f.fingerprint}
        self._by_site: dict[tuple[str, str, str], list[Finding]] = defaultdict(list)
        for f in findings:
            if f.location is not None:
                self._by_site[(tool_key(f.tool), rule_key(f.rule_id), f.location.path)].append(f)

    def find(self, tool: str, rule_id: str, path: str | None, line: int | None, near: int = NEAR) -> Finding | None:
        """The finding at that site: the only one of the rule in the file when no line is given,
        else the one nearest the line, within `near` lines."""
        if not path:
            return None
        cands = self._by_site.get((tool_key(tool), rule_key(rule_id), path), [])
        if line is None:
            return cands[0] if len(cands) == 1 else None
        best = min(cands, key=lambda f: abs((f.location.start_line or 0) - line), default=None)
        if best is None or abs((best.location.start_line or 0) - line) > near:
            return None
        return best
