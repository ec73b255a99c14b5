"""The one redaction layer. Every finding passes through `redact_finding` at ingest, before it is
stored, analyzed, trained on, commented or uploaded; logs pass through `secai.log.mask_tokens`.

A secret is replaced by `[REDACTED:<first 12 hex of its sha256>]`, so equal secrets stay
recognisable (and countable) without the value ever being kept.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
import re
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

try:  # linear-time scans of a whole report's text at once; without it every text is scanned alone
    import re2
except ImportError:  # pragma: no cover - google-re2 is a core dependency, but has no wheel everywhere
    re2 = None

from secai.log import known_tokens

# Common token formats (provider prefixes are distinctive enough to redact in any text).
_TOKEN_PATTERNS = [
    r"gh[pousr]_[A-Za-z0-9]{30,255}",
    r"github_pat_[A-Za-z0-9_]{40,255}",
    r"hf_[A-Za-z0-9]{30,}",
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}",
    r"xox[abposr]-[A-Za-z0-9-]{10,}",
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    r"sk_live_[A-Za-z0-9]{20,}",
    r"rk_live_[A-Za-z0-9]{20,}",
    r"AIza[0-9A-Za-z_-]{35}",
    r"glpat-[A-Za-z0-9_-]{20,}",
    r"npm_[A-Za-z0-9]{36}",
    r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
    r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
    r"-----BEGIN[ A-Z]*PRIVATE KEY-----[\s\S]*?(?:-----END[ A-Z]*PRIVATE KEY-----|$)",
]
_TOKEN_ALTERNATIVES = "|".join(f"(?:{p})" for p in _TOKEN_PATTERNS)
# The lookahead (the characters a token can start with) lets the scan pass other positions fast.
_TOKEN_RE = re.compile(f"(?=[ghAxsrnpSe-])(?:{_TOKEN_ALTERNATIVES})")
# `password = "hunter2"`-style assignments: keep the key, redact the value.
_ASSIGN_RE = re.compile(
    r"""(?ix)
    (\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret)s?(?:[_.-][\w.-]*)?\b
     \s*[:=]\s*["']?)
    ([^\s"'`,;]{6,})
    """
)
_REDACTED_RE = re.compile(r"\[REDACTED:[0-9a-f]{12}\]")


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def redaction_marker(value: str) -> str:
    """The `[REDACTED:<hash>]` text that stands in for a secret value."""
    return f"[REDACTED:{secret_hash(value)[:12]}]"


_ASSIGN_HINTS = ("pass", "pwd", "secret", "token", "key")
# What `_ASSIGN_RE` needs after its keyword; checked at each keyword before running the full regex.
_ASSIGN_TAIL = re.compile(r"[\w.-]*\s*[:=]")
_ASSIGN_HINT_RE = re.compile(r"(?=[pstk])(?:pass|pwd|secret|token|key)[\w.-]*\s*[:=]", re.IGNORECASE)


def redact_text(text: str | None, secrets: list[str] | tuple[str, ...] = ()) -> str | None:
    """Redact the given secret values, known tokens from the environment, and token-like strings."""
    return _redact(text, _secret_list(secrets))


def _secret_list(secrets) -> list[str]:
    return sorted({s for s in (*secrets, *known_tokens()) if s and len(s) >= 4}, key=len, reverse=True)


def _assign(m: re.Match) -> str:
    value = m.group(2)
    if _REDACTED_RE.fullmatch(value) or value.startswith("[REDACTED"):
        return m.group(0)
    return m.group(1) + redaction_marker(value)


def _token(m: re.Match) -> str:
    return redaction_marker(m.group(0))


def _may_assign(text: str) -> bool:
    """Cheap necessary condition for `_ASSIGN_RE` to match: a keyword followed by `:` or `=`."""
    if ":" not in text and "=" not in text:
        return False
    if not text.isascii():  # case folding beyond ASCII: let the case-insensitive regex decide
        return _ASSIGN_HINT_RE.search(text) is not None
    low = text.lower()
    for hint in _ASSIGN_HINTS:
        i = low.find(hint)
        while i >= 0:
            if _ASSIGN_TAIL.match(low, i + len(hint)):
                return True
            i = low.find(hint, i + 1)
    return False


def _redact(text: str | None, secrets: list[str]) -> str | None:
    if not text:
        return text
    for s in secrets:
        if s in text:
            text = text.replace(s, redaction_marker(s))
    text = _TOKEN_RE.sub(_token, text)
    if _may_assign(text):
        text = _ASSIGN_RE.sub(_assign, text)
    return text


def _redact_assignments(text: str) -> str:
    """`_redact` of a text known to hold no given secret and no token."""
    return _ASSIGN_RE.sub(_assign, text)


def _certain_prefix(pattern: str) -> str:
    """A pattern that matches wherever `pattern` does, cut where a match is certain: a trailing
    repeat at its least count, a private key's header alone (what follows it always matches)."""
    return re.sub(r"\{(\d+),\d*\}$", r"{\1}", pattern.split(r"[\s\S]*?")[0])


# `_TOKEN_RE` and `_ASSIGN_RE` as RE2 prefilters, run over many ASCII texts joined by newlines: a
# text where neither finds anything needs no redaction (beyond given secrets). Each is cut to what
# makes a match certain (`_certain_prefix`; an assignment from its keyword on, with six characters
# of its value), so they match wherever the exact patterns do, and RE2's lazy DFA, which a fresh
# process builds as it scans, needs far fewer states than for counted and open repeats. A match may
# run on into the next text (only ever a false alarm). On ASCII, RE2's `\w` and `\b` are Python's;
# its `\s` is not, hence the explicit class of what Python's `\s` matches in ASCII. Other
# characters are scanned as their `_ascii_stand_ins`.
_S = r"\t\n\x0b\x0c\r\x1c-\x1f "
_RE2_PREFILTERS = (
    [
        "|".join(f"(?:{_certain_prefix(p)})" for p in _TOKEN_PATTERNS),
        r"(?i)(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
        rf"|client[_-]?secret)s?(?:[_.-][\w.-]*)?\b[{_S}]*[:=][{_S}]*[\"']?[^{_S}\"'`,;]{{6}}",
    ]
    if re2 is not None
    else []
)
_RE2_TOKEN = re2.compile(_RE2_PREFILTERS[0].encode()) if re2 is not None else None
# Either pattern, so the joined texts are scanned once; the few texts it flags are then scanned
# alone for tokens.
_RE2_ANY = re2.compile("|".join(f"(?:{p})" for p in _RE2_PREFILTERS).encode()) if re2 is not None else None


# The non-ASCII characters that Python's case-insensitive matching takes for ASCII letters.
_ASCII_FOLDS = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}


def _stand_in(char: str) -> str:
    if char in _ASCII_FOLDS:
        return _ASCII_FOLDS[char]
    if char.isalnum():  # Python's `\w`; a letter that is in no keyword nor token prefix
        return "z"
    if char.isspace():  # Python's `\s`
        return " "
    return "!"  # in no class of the patterns but their negated one


def _ascii_stand_ins(error: UnicodeError) -> tuple[str, int]:
    r"""Encoding error handler: each non-ASCII character stands in as an ASCII one that both
    patterns treat alike, so that wherever `_TOKEN_RE` or `_ASSIGN_RE` (Unicode, case-insensitive)
    matches in a text, the RE2 patterns match in its encoding at the same offsets. Tokens are
    ASCII (bar a private key's body, which may be anything), and what `_ASSIGN_RE` asks of a
    character (a keyword's letter, `\w`, `\s`, `\b` between them, or none of `\s"'`,;`) holds
    for its stand-in too."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(map(_stand_in, error.object[error.start : error.end])), error.end


_STAND_INS = "secai.ingest.redact.ascii_stand_ins"
codecs.register_error(_STAND_INS, _ascii_stand_ins)


def _suspects(texts: list[str]) -> tuple[set[int], set[int]]:
    """The indexes of `texts` in which a token may be, and those in which a token or an
    assignment may be."""
    joined = "\n".join(texts).encode("ascii", _STAND_INS)  # a byte a character: the texts' offsets
    m = _RE2_ANY.search(joined)
    if m is None:  # the usual case
        return set(), set()
    starts = [*itertools.accumulate(map((1).__add__, map(len, texts[:-1])), initial=0)]
    hits: set[int] = set()
    while m is not None:
        i = bisect_right(starts, m.start()) - 1
        hits.add(i)
        if i + 1 >= len(starts):
            break
        # A match may run on into later texts; look at each text afresh.
        m = _RE2_ANY.search(joined, starts[i + 1])
    tokens = {i for i in hits if _RE2_TOKEN.search(texts[i].encode("ascii", _STAND_INS)) is not None}
    return tokens, hits


class Redactor:
    """Redacts with one list of secret values. Results are remembered per text, because report
    text repeats (the same rule help on every result), so keep one per document, not forever."""

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()):
        self.secrets = _secret_list(secrets)
        self._clean: set[str] = set()
        self._redacted: dict[str, str] = {}
        self._no_token: set[str] = set()  # prefiltered: an assignment at most

    def text(self, text: str | None) -> str | None:
        """`text` redacted; the very same object when there was nothing to redact."""
        if not text or text in self._clean:
            return text
        out = self._redacted.get(text)
        if out is None:
            out = _redact_assignments(text) if text in self._no_token else _redact(text, self.secrets)
            if out == text:
                self._clean.add(text)
                return text
            self._redacted[text] = out
        return out

    def prefilter(self, texts: Iterable[str]) -> None:
        """Scan many texts in one pass and remember the ones with nothing to redact."""
        if _RE2_ANY is None:
            return
        clean, redacted = self._clean, self._redacted
        unique_texts = texts if isinstance(texts, (set, frozenset)) else set(texts)
        todo = [*unique_texts]
        if clean or redacted:
            todo = [t for t in todo if t not in clean and t not in redacted]
        if not todo:
            return
        tokens, assignments = _suspects(todo)
        if self.secrets:  # a text holding a given secret is redacted in full, like one with a token
            tokens |= {i for i, t in enumerate(todo) if any(s in t for s in self.secrets)}
        clean.update(todo)
        clean.difference_update([todo[i] for i in assignments | tokens])
        self._no_token.update([todo[i] for i in assignments - tokens])

    def value(self, value: Any) -> Any:
        """`value` with its strings redacted, at any depth; the same object when nothing changed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            new = [self.value(v) for v in value]
            return value if all(a is b for a, b in zip(new, value)) else new
        if isinstance(value, dict):
            new = {k: self.value(v) for k, v in value.items()}
            return value if all(new[k] is v for k, v in value.items()) else new
        return value

    def findings(self, findings: list) -> None:
        """Redact many findings in place. Their texts are sorted out first (most reports have
        nothing to redact), so the findings are walked again only when some text changes."""
        texts: list[str] = []
        ends = []  # finding i's texts end at ends[i]
        for f in findings:
            _collect_texts(f, texts)
            ends.append(len(texts))
        unique_texts = set(texts)
        self.prefilter(unique_texts)
        text = self.text
        changing = {t for t in unique_texts - self._clean if text(t) is not t}
        if changing:
            for f, start, end in zip(findings, [0, *ends], ends):
                if not changing.isdisjoint(texts[start:end]):
                    self.finding(f)

    def finding(self, finding):
        text = self.text
        for name in ("title", "message", "description", "remediation", "url"):
            old = getattr(finding, name)
            if old and text(old) is not old:
                setattr(finding, name, text(old))
        for name in ("references", "extra"):
            old = getattr(finding, name)
            if old and self.value(old) is not old:
                setattr(finding, name, self.value(old))
        loc = finding.location
        if loc is not None and loc.snippet and text(loc.snippet) is not loc.snippet:
            loc.snippet = text(loc.snippet)
        for inst in finding.instances:
            for name in ("evidence", "attack", "url"):
                old = getattr(inst, name)
                if old and text(old) is not old:
                    setattr(inst, name, text(old))
        return finding


def redact_finding(finding, secrets: list[str] | None = None):
    """Redact every text field of a Finding in place and return it.

    `secrets` are values a scanner reported as matched secrets; parsers of secret scanners pass
    them here (or set `extra['secret_sha256']` and never keep the value at all).
    """
    return Redactor(secrets or ()).finding(finding)


def redact_findings(findings, secrets_of=lambda f: ()) -> None:
    """Redact many findings in place, sharing the work between findings with the same secrets.
    `secrets_of(finding)` gives the secret values a scanner reported for that finding."""
    reported = [secrets_of(f) for f in findings]
    if not any(reported):  # the usual case: no scanner-reported secrets
        if findings:
            Redactor(()).findings(findings)
        return
    groups: dict[tuple[str, ...], list] = {}
    for f, found in zip(findings, reported):
        groups.setdefault(tuple(found or ()), []).append(f)
    for secrets, members in groups.items():
        Redactor(secrets).findings(members)


def _collect_texts(f, out: list[str]) -> None:
    """Append the strings `Redactor.finding` looks at."""
    # The field values straight from the models' `__dict__`: a pydantic model's attribute read
    # costs about three plain ones (BaseModel defines `__getattr__`).
    fields = f.__dict__
    for v in (fields["title"], fields["message"], fields["description"], fields["remediation"], fields["url"]):
        if v:
            out.append(v)
    out += fields["references"]
    if extra := fields["extra"]:
        for v in extra.values():  # mostly plain strings and numbers
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, (list, dict)):
                _strings(v, out)
    loc = fields["location"]
    if loc is not None and (snippet := loc.__dict__["snippet"]):
        out.append(snippet)
    for inst in fields["instances"]:
        inst_fields = inst.__dict__
        for v in (inst_fields["evidence"], inst_fields["attack"], inst_fields["url"]):
            if v:
                out.append(v)


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
