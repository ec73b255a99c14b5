"""In-source suppression markers (`# nosec B105 - reason`, `nosemgrep: id`, `checkov:skip=ID:reason`,
`trivy:ignore:ID`, `noqa`, ...): which tool, which rules, and the justification written with them."""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

_ID = r"[A-Za-z0-9_][\w.\-/]*"
_IDS = rf"{_ID}(?:\s*,\s*{_ID})*"

# (marker name, tool it speaks to or None, pattern with an optional `ids` group and the rest after it)
_MARKERS: list[tuple[str, str | None, re.Pattern[str]]] = [
    ("nosec", "bandit", re.compile(r"#\s*nosec\b(?::?\s*(?P<ids>B\d{3}(?:\s*,\s*B\d{3})*))?(?P<rest>.*)$", re.I)),
    ("nosemgrep", "semgrep", re.compile(rf"\bnosemgrep\b(?:\s*:\s*(?P<ids>{_IDS}))?(?P<rest>.*)$", re.I)),
    ("checkov:skip", "checkov", re.compile(rf"\bcheckov:skip=(?P<ids>{_ID})(?::(?P<rest>.*))?$", re.I)),
    ("trivy:ignore", "trivy", re.compile(rf"\b(?:trivy|tfsec):ignore:(?P<ids>{_ID})(?P<rest>.*)$", re.I)),
    ("noqa", None, re.compile(r"#\s*noqa\b(?::\s*(?P<ids>[A-Z]+\d+(?:\s*,\s*[A-Z]+\d+)*))?(?P<rest>.*)$", re.I)),
    ("gitleaks:allow", "gitleaks", re.compile(r"\bgitleaks:allow\b(?P<rest>.*)$", re.I)),
    ("pragma: allowlist secret", "detect-secrets", re.compile(r"pragma:\s*allowlist\s+secret\b(?P<rest>.*)$", re.I)),
    ("kics-scan ignore", "kics", re.compile(r"kics-scan\s+ignore(?:-line|-block)?\b(?P<rest>.*)$", re.I)),
    ("NOSONAR", "sonar", re.compile(r"\bNOSONAR\b(?P<rest>.*)$")),
]
_QUICK = re.compile(
    r"nosec|nosemgrep|checkov:skip|trivy:ignore|tfsec:ignore|noqa|gitleaks:allow|allowlist|kics-scan|NOSONAR", re.I
)
_LEAD = re.compile(r"^[\s:;,.\-–—#/*=>]+")
_TRAIL = re.compile(r"[\s*/#>-]+$")


@dataclass(frozen=True)
class Marker:
    marker: str
    tool: str | None
    rules: tuple[str, ...]
    justification: str
    line: int

    def covers(self, tool: str, rule_id: str) -> bool:
        if self.tool is not None and self.tool != tool:
            return False
        if not self.rules:
            return True
        rid = rule_id.lower()
        # Semgrep ids may carry the rules file's folder as a dotted prefix; trivy ids an AVD- prefix.
        return any(
            rid == r.lower()
            or rid.endswith("." + r.lower())
            or rid.endswith("-" + r.lower())
            or r.lower().endswith("-" + rid)
            for r in self.rules
        )


_QUOTED = re.compile(r"`[^`]*`|\"[^\"]*\"|'[^']*'")


def find_marker(text: str, line: int = 0) -> Marker | None:
    """The suppression marker on one line of code (or in its comment), if any; a marker quoted in
    the text (`` `# nosec` ``) is a mention, not a marker."""
    if not _QUICK.search(text):
        return None
    text = _QUOTED.sub(" ", text)
    for name, tool, pattern in _MARKERS:
        m = pattern.search(text)
        if m is None:
            continue
        ids = m.groupdict().get("ids") or ""
        rules = tuple(r.strip() for r in ids.split(",") if r.strip())
        rest = _TRAIL.sub("", _LEAD.sub("", m.groupdict().get("rest") or "")).strip()
        return Marker(marker=name, tool=tool, rules=rules, justification=rest[:500], line=line)
    return None


def markers_in(lines: list[tuple[int, str]]) -> list[Marker]:
    """Markers in (line, comment) pairs; a marker without a justification takes a comment line
    written just above it, as in `# only in tests\\n# nosec B101`."""
    out = []
    previous: tuple[int, str] | None = None
    for line, text in lines:
        m = find_marker(text, line)
        if m is not None:
            if not m.justification and previous and previous[0] == line - 1:
                comment = re.match(r"^\s*(?:#|//)\s*(.*)$", previous[1])
                if comment and not find_marker(previous[1]):
                    m = Marker(m.marker, m.tool, m.rules, comment.group(1).strip()[:500], m.line)
            out.append(m)
        previous = (line, text)
    return out


def comments(lines: list[str], path: str) -> dict[int, str]:
    """The comment on each line that has one ({line: text from the comment sign on}): Python through
    its tokenizer (a marker quoted in a string or a docstring is no marker), other files by the
    first `#` or `//` outside quotes."""
    if path.endswith((".py", ".pyw", ".pyi")):
        found: dict[int, str] = {}
        try:
            for tok in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
                if tok.type == tokenize.COMMENT:
                    found[tok.start[0]] = tok.string
            return found
        except (tokenize.TokenError, SyntaxError, ValueError):
            pass  # not valid Python (history has such commits): read it line by line
    out = {}
    for n, line in enumerate(lines, 1):
        text = _comment_part(line)
        if text:
            out[n] = text
    return out


def _comment_part(line: str) -> str | None:
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c == "#" or line.startswith("//", i):
            return line[i:]
        i += 1
    return None
