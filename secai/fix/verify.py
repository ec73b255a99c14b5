"""Whether a proposed edit fixes its finding: the scanner that reported the finding is the judge.

A candidate is `verified` only when every rule below holds, checked in this order:

1. the edit applies to the file as it was read, changes something, and touches no scanner
   ignore or configuration file;
2. it changes at most `fix.max_changed_lines` lines and is not deletion-only (added lines that
   are all blank or comments count as deletion);
3. it adds no suppression marker (`SUPPRESSION_MARKERS`, counted before and after);
4. the file still parses (when the original did): Python, HCL, JSON, YAML, Dockerfile; for
   Python also: statements outside the rewritten lines are unchanged, every name the file
   defined is still defined, and no undefined name is used (junk that happens to parse);
5. the reporting scanner, run here on the original file, reports the finding (else the result
   is `unverifiable`: secai cannot tell, so it never says `verified`);
6. the same scanner run on the patched file no longer reports the finding's rule at the
   finding's lines mapped through the edit, reports one fewer of that rule in the file, and no
   more of any other rule.

A scanner that is missing or fails makes the result `unverifiable`, never `verified`. Scans are
batched: ONE process per scanner for a whole batch of candidates, the original and each distinct
patched file in its own subfolder of one temporary tree.
"""

from __future__ import annotations

import ast
import hashlib
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from secai.config import Settings
from secai.errors import ScannerError
from secai.findings import Category, Finding
from secai.fix.edit import EditError, LineEdit, apply_edits, changed_lines, map_range
from secai.fix.syntax import is_text, kind_of, python_problem, syntax_error
from secai.scanners.base import SCANNER_CONFIG_NAMES, Scanner
from secai.scanners.registry import scanner_for_tool

#: Comments that make a scanner skip a line or a file, in any case.
SUPPRESSION_MARKERS = (
    "nosec",
    "nosemgrep",
    "checkov:skip",
    "trivy:ignore",
    "tfsec:ignore",
    "kics-scan ignore",
    "noqa",
    "gitleaks:allow",
    "pragma: allowlist",
    "nosonar",
    "eslint-disable",
    "lgtm[",
    "codeql[",
    "skipcq",
    "noinspection",
    "@suppresswarnings",
)

#: Files that tell a scanner what to ignore or how to run; a fix never edits them.
IGNORE_FILES = SCANNER_CONFIG_NAMES | {
    ".gitleaksignore",
    ".gitleaks.toml",
    ".secrets.baseline",
    ".snyk",
    ".eslintignore",
    ".eslintrc",
    ".eslintrc.json",
    ".eslintrc.js",
    ".eslintrc.yml",
    "bandit.yaml",
    "bandit.yml",
    ".flake8",
    "sonar-project.properties",
    ".kics.yaml",
    "tfsec.yml",
    ".tfsec.yml",
}

Status = Literal["verified", "rejected", "unverifiable"]
_COMMENT_STARTS = ("#", "//", "/*", "*", "<!--", "--", ";")


@dataclass
class Candidate:
    """One proposed edit of the file a finding points to."""

    finding: Finding
    path: str
    original: str
    edits: list[LineEdit]
    rationale: str = ""
    patched: str = field(default="", init=False)


@dataclass
class Verdict:
    status: Status
    reason: str


def static_problem(c: Candidate, settings: Settings, combined: bool = False) -> str | None:
    """Rules 1-4, which need no scanner; the reason to reject, or None. `combined`: several
    verified fixes of one file checked together (each was within the size limit alone)."""
    name = PurePosixPath(c.path).name
    if name in IGNORE_FILES or name.lower() in IGNORE_FILES:
        return f"edits {name}, a scanner ignore or configuration file"
    try:
        c.patched = apply_edits(c.original, c.edits)
    except EditError as e:
        return f"the edit does not apply: {e}"
    if c.patched == c.original:
        return "the edit changes nothing"
    n = changed_lines(c.edits)
    if n > settings.fix.max_changed_lines and not combined:
        return f"changes {n} lines, over fix.max_changed_lines ({settings.fix.max_changed_lines})"
    if _deletion_only(c.edits):
        return "deletion-only: removes code without replacing it"
    if _kept_secret(c):
        return "keeps part of a secret-looking value in the rewritten lines: a secret is fixed by removing it"
    before, after = c.original.lower(), c.patched.lower()
    for marker in SUPPRESSION_MARKERS:
        if after.count(marker) > before.count(marker):
            return f"adds a suppression marker ({marker})"
    if syntax_error(c.path, c.original) is None:
        problem = syntax_error(c.path, c.patched)
        if problem:
            return f"the patched file no longer parses: {problem}"
        if kind_of(c.path) == "python":
            problem = python_problem(c.original, c.patched, _regions(c.edits))
            if problem:
                return f"not a fix of those lines alone: {problem}"
    return None


_SECRETISH = re.compile(r"secret|passw|token|credential|api[_ -]?key|private[_ -]?key|access[_ -]?key", re.I)
_TOKEN_RE = re.compile(r"[A-Za-z0-9+/_-]{16,}")


def _kept_secret(c: Candidate) -> str | None:
    """For a finding about a secret: a secret-looking value of the rewritten lines (16+ characters
    of upper case, lower case and digits, or of two of them without underscores) that the new
    lines still hold 8 characters of. The tuned model 'fixed'
    the demo's AWS key by changing its last letters, which the scanner's pattern no longer matched."""
    f = c.finding
    if f.category.value != "secret" and not _SECRETISH.search(" ".join([f.rule_id, f.title, f.message or ""])):
        return None
    new = "\n".join(line for e in c.edits for line in e.new)
    for e in c.edits:
        for token in _TOKEN_RE.findall("\n".join(e.old)):
            kinds = sum(bool(re.search(p, token)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
            random_looking = kinds == 3 or (kinds == 2 and "_" not in token)  # not DB_PASSWORD_V2
            if random_looking and any(token[i : i + 8] in new for i in range(len(token) - 7)):
                return token
    return None


def _regions(edits: list[LineEdit]) -> list[tuple[int, int, int, int]]:
    """Each edit's lines before and after it; an empty side is the empty range (n, n - 1), which
    touches only a statement that spans the point where lines were inserted or deleted."""
    out, shift = [], 0
    for e in sorted(edits, key=lambda e: e.start):
        old = (e.start, e.end)
        first = e.start + shift
        new = (first, first + len(e.new) - 1)
        out.append((*old, *new))
        shift += len(e.new) - (e.end - e.start + 1)
    return out


def _deletion_only(edits: list[LineEdit]) -> bool:
    for e in edits:
        old = Counter(x.strip() for x in e.old)
        for line in e.new:
            s = line.strip()
            if s and not s.startswith(_COMMENT_STARTS) and old[s] <= 0:
                return False
            old[s] -= 1
    return True


def _lines(f: Finding) -> tuple[int, int] | None:
    loc = f.location
    if loc is None or not loc.start_line:
        return None
    return loc.start_line, max(loc.start_line, loc.end_line or loc.start_line)


def _overlaps(f: Finding, span: tuple[int, int] | None) -> bool:
    mine = _lines(f)
    if mine is None or span is None:
        return True  # a finding about the whole file is at every line
    return mine[0] <= span[1] and span[0] <= mine[1]


#: A milder check that the scanner's own recommended fix of a rule trips, by design. bandit's advice
#: for B602/B604 (a shell) is an argument list, which bandit then notes as B603 ("check for untrusted
#: input") and, for a program named without its path, B607. Such a finding is accepted only on the
#: fixed lines, only when it is less severe than the finding fixed, and only when the call's command is
#: no longer a string (`_command_string_at`); anything else new rejects.
SUCCESSORS: dict[tuple[str, str], set[str]] = {
    ("bandit", "B602"): {"B603", "B607"},
    ("bandit", "B604"): {"B603", "B607"},
}


def _command_string_at(text: str, span: tuple[int, int] | None) -> bool:
    """Whether a call on these lines passes a command string as its first argument: without a shell
    that runs a program named by the whole string, so a B602 'fixed' that way is broken, not milder."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and span is not None:
            if node.lineno <= span[1] and span[0] <= (node.end_lineno or node.lineno) and is_text(node.args[0]):
                return True
    return False


class Verifier:
    """Verifies batches of candidates; keeps one scanner object per tool."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._scanners: dict[str, Scanner | None] = {}
        self.scanner_processes = 0

    def scanner_for(self, finding: Finding) -> tuple[Scanner | None, str]:
        """The scanner that can judge fixes of `finding`, or None and why not."""
        tool = finding.tool
        if tool not in self._scanners:
            self._scanners[tool] = scanner_for_tool(tool, self.settings)
        scanner = self._scanners[tool]
        if scanner is None:
            return None, f"secai cannot run {tool} to verify a fix"
        why = scanner.unavailable_reason()
        if why:
            return None, f"{scanner.name} is not available: {why}"
        if scanner.name == "trivy" and finding.category != Category.iac:
            return None, "trivy config verifies misconfigurations only"
        path = finding.location.path if finding.location else ""
        if not scanner.covers(path):
            return None, f"{scanner.name} does not scan {PurePosixPath(path).name or 'this file'}"
        return scanner, ""

    def verify(self, candidates: list[Candidate], combined: bool = False) -> list[Verdict]:
        verdicts: list[Verdict | None] = [None] * len(candidates)
        by_scanner: dict[str, list[int]] = {}
        scanners: dict[str, Scanner] = {}
        for i, c in enumerate(candidates):
            problem = static_problem(c, self.settings, combined)
            if problem:
                verdicts[i] = Verdict("rejected", problem)
                continue
            scanner, why = self.scanner_for(c.finding)
            if scanner is None:
                verdicts[i] = Verdict("unverifiable", why)
                continue
            scanners[scanner.name] = scanner
            by_scanner.setdefault(scanner.name, []).append(i)
        for name, indices in by_scanner.items():
            for i, v in zip(indices, self._scan(scanners[name], [candidates[i] for i in indices])):
                verdicts[i] = v
        return [v for v in verdicts if v is not None]

    def _scan(self, scanner: Scanner, cands: list[Candidate]) -> list[Verdict]:
        """Rules 5 and 6 for candidates of one scanner, in one scanner process.

        When the scanner fails on the batch (other than by timing out) but not on the original
        files alone, a patched file made it fail: the batch is split in halves until the
        candidates that make it fail are found, and only they are unverifiable."""
        try:
            return self._scan_once(scanner, cands)
        except ScannerError as e:
            failure = e
        if len(cands) > 1 and "timed out" not in str(failure):
            unchanged = []
            for c in cands:
                u = Candidate(c.finding, c.path, c.original, [])
                u.patched = c.original
                unchanged.append(u)
            try:
                self._scan_once(scanner, unchanged)
            except ScannerError:
                pass  # it fails on the files as they are: nothing to single out
            else:
                return self._bisect(scanner, cands, failure)
        return [Verdict("unverifiable", f"the scanner failed: {failure}")] * len(cands)

    def _bisect(self, scanner: Scanner, cands: list[Candidate], failure: ScannerError) -> list[Verdict]:
        if len(cands) == 1:
            return [Verdict("unverifiable", f"the scanner failed on the patched file: {failure}")]
        verdicts: list[Verdict] = []
        for half in (cands[: len(cands) // 2], cands[len(cands) // 2 :]):
            try:
                verdicts += self._scan_once(scanner, half)
            except ScannerError as e:
                verdicts += self._bisect(scanner, half, e)
        return verdicts

    def _scan_once(self, scanner: Scanner, cands: list[Candidate]) -> list[Verdict]:
        originals: dict[tuple[str, str], str] = {}
        patched: dict[tuple[str, str], str] = {}
        texts: dict[str, str] = {}
        for c in cands:
            for table, text, prefix in ((originals, c.original, "o"), (patched, c.patched, "p")):
                key = (c.path, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
                if key not in table:
                    table[key] = f"{prefix}{len(table)}/{c.path}"
                    texts[table[key]] = text
        with tempfile.TemporaryDirectory(prefix="secai-verify-") as tmp:
            root = Path(tmp)
            for rel, text in texts.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text, encoding="utf-8", newline="")
            out = scanner.scan(root, list(texts))
            self.scanner_processes += out.processes
        verdicts = []
        for c in cands:
            o = originals[(c.path, hashlib.sha256(c.original.encode("utf-8", "surrogatepass")).hexdigest())]
            p = patched[(c.path, hashlib.sha256(c.patched.encode("utf-8", "surrogatepass")).hexdigest())]
            verdicts.append(
                self._judge(scanner, c, out.findings.get(o, []), out.findings.get(p, []), out.errors.get(p))
            )
        return verdicts

    def _judge(
        self, scanner: Scanner, c: Candidate, before: list[Finding], after: list[Finding], error: str | None
    ) -> Verdict:
        f = c.finding
        span = _lines(f)
        where = f"{c.path}:{span[0]}" if span else c.path
        matches = [g for g in before if scanner.same_rule(g.rule_id, f.rule_id) and _overlaps(g, span)]
        if not matches:
            return Verdict(
                "unverifiable",
                f"{scanner.name} run here does not report {f.rule_id} at {where} on the original file "
                "(another version or configuration made the report?)",
            )
        if error:
            return Verdict("rejected", f"{scanner.name} could not read the patched file: {error}")
        target = matches[0]
        rule = target.rule_id
        t_span = _lines(target)
        mapped = map_range(c.edits, *t_span) if t_span else None
        still = [a for a in after if a.rule_id == rule and _overlaps(a, mapped)]
        if still:
            at = _lines(still[0])
            return Verdict("rejected", f"{scanner.name} still reports {rule}" + (f" at line {at[0]}" if at else ""))
        count_before = Counter(g.rule_id for g in before)
        count_after = Counter(a.rule_id for a in after)
        milder = SUCCESSORS.get((scanner.name, rule), set())
        for r, n in sorted(count_after.items()):
            allowed = count_before[r] - (1 if r == rule else 0)
            if r in milder:  # the scanner's own advice for the target leads there: only on the fixed lines
                allowed += sum(
                    1
                    for a in after
                    if a.rule_id == r
                    and _overlaps(a, mapped)
                    and a.severity.rank < target.severity.rank
                    and not _command_string_at(c.patched, _lines(a))
                )
            if n > allowed:
                new = next(a for a in after if a.rule_id == r)
                at = _lines(new)
                return Verdict(
                    "rejected",
                    f"introduces a new finding: {scanner.name} {r}" + (f" at line {at[0]}" if at else ""),
                )
        version = scanner.version() or ""
        return Verdict(
            "verified",
            f"{scanner.name} {version}".strip() + f" no longer reports {rule} and reports nothing new; the file parses",
        )
