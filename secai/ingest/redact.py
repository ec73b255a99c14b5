"""The one redaction layer. Every finding passes through `redact_finding` at ingest, before it is
stored, analyzed, trained on, commented or uploaded; reports and model output pass through
`redact_text` again before they are written; logs pass through `secai.log.mask_tokens`.

A secret is replaced by `[REDACTED:<first 12 hex of its sha256>]`, so equal secrets stay
recognisable (and countable) without the value ever being kept.

Every pattern here runs on RE2, whose matching time is linear in the text: a report crafted to
make a backtracking engine explode (`password` followed by megabytes of word characters) costs
what any text of its size costs.
"""

from __future__ import annotations

import hashlib
from typing import Any

import re2
from pydantic import BaseModel

from secai.log import known_tokens

#: Token formats whose provider prefixes are distinctive enough to redact in any text.
TOKEN_PATTERNS = (
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
    # A private key up to its END line, or to the end of the text (before a last line break).
    r"-----BEGIN[ A-Z]*PRIVATE KEY-----[\s\S]*?(?:-----END[ A-Z]*PRIVATE KEY-----|\n?\z)",
)

#: Key names whose assigned value is a secret (`db_password = "..."`, `API-KEY: ...`), in any case,
#: anywhere in a longer name. A `_` stands for `_`, `-` or nothing.
SECRET_KEY_NAMES = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "client_secret",
)

# Python's `\w` and `\s` on text, spelled out for RE2 (whose own are ASCII-only).
_WORD = r"\pL\pN_"
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"


def key_name_pattern(name: str) -> str:
    return name.replace("_", "[_-]?")


_KEY_NAMES = "|".join(key_name_pattern(n) for n in SECRET_KEY_NAMES)
# `password = "hunter2"`-style assignments: group 1 is the key up to the value (kept), group 2 the
# value (redacted). The key may sit inside a longer name (`db_password_file`) whose last character
# is a word character, and is followed by `:` or `=`; the value is six or more characters up to a
# space, quote, comma or semicolon.
ASSIGNMENT_PATTERN = (
    rf"(?i)([{_WORD}.-]*(?:{_KEY_NAMES})s?(?:_|[_.-][{_WORD}.-]*[{_WORD}])?"
    rf"[{_SPACE}]*[:=][{_SPACE}]*[\"']?)"
    rf"([^{_SPACE}\"'`,;]{{6,}})"
)
TOKEN_PATTERN = "|".join(f"(?:{p})" for p in TOKEN_PATTERNS)

_TOKEN = re2.compile(TOKEN_PATTERN.encode())
_ASSIGNMENT = re2.compile(ASSIGNMENT_PATTERN.encode())
#: Either of the two: a text in which it finds nothing has nothing to redact but given secrets.
_ANY = re2.compile(f"(?:{TOKEN_PATTERN})|(?:{ASSIGNMENT_PATTERN})".encode())


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def redaction_marker(value: str) -> str:
    """The `[REDACTED:<hash>]` text that stands in for a secret value."""
    return f"[REDACTED:{secret_hash(value)[:12]}]"


def _utf8(text: str) -> bytes:
    # RE2 scans UTF-8; `surrogatepass` keeps the lone surrogates JSON allows, byte for byte.
    return text.encode("utf-8", "surrogatepass")


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


def _marker_bytes(value: bytes) -> bytes:
    return redaction_marker(_text(value)).encode()


def _token(m) -> bytes:
    token = m.group(0)
    if token.endswith(b"\n"):  # a private key without an END line: the text's last line break stays
        return _marker_bytes(token[:-1]) + b"\n"
    return _marker_bytes(token)


def _assignment(m) -> bytes:
    value = m.group(2)
    if value.startswith(b"[REDACTED"):  # redacted before (a marker, or a token inside the value)
        return m.group(0)
    return m.group(1) + _marker_bytes(value)


def redact_text(text: str | None, secrets: list[str] | tuple[str, ...] = ()) -> str | None:
    """Redact the given secret values, known tokens from the environment, token formats and
    `key = value` assignments."""
    return _redact(text, _secret_list(secrets))


def _secret_list(secrets) -> list[str]:
    # Longest first, so that a secret containing another is replaced whole.
    return sorted({s for s in (*secrets, *known_tokens()) if s and len(s) >= 4}, key=len, reverse=True)


def _redact(text: str | None, secrets: list[str]) -> str | None:
    if not text:
        return text
    for s in secrets:
        if s in text:
            text = text.replace(s, redaction_marker(s))
    data = _utf8(text)
    if _ANY.search(data) is None:
        return text
    return _text(_ASSIGNMENT.sub(_assignment, _TOKEN.sub(_token, data)))


# Source code is not prose: `http_tokens = "required"` sets an option and `password =
# os.environ["DB_PASSWORD"]` reads one, and the prose rule would garble both. In code (mined history
# windows and edits), an assignment to a secret-named key is redacted only when its value is a
# quoted literal that looks like a secret: two or more kinds of character (lower, upper, digit,
# other), no spaces, not a URL without credentials, not a template (`${...}`, `{{...}}`, `%(...)`).
_CODE_ASSIGNMENT = re2.compile(
    (
        rf"(?i)([{_WORD}.-]*(?:{_KEY_NAMES})[{_WORD}.-]*[\"']?[{_SPACE}]*(?::=|=>|:|=)[{_SPACE}]*[bru]?)"
        r"(?:\"([^\"\n]{6,200})\"|'([^'\n]{6,200})')"
    ).encode()
)
_TEMPLATE_MARKS = ("${", "{{", "%(", "[REDACTED")


def _looks_secret(value: str) -> bool:
    if any(c.isspace() for c in value) or any(m in value for m in _TEMPLATE_MARKS):
        return False
    if value.startswith(("http://", "https://")) and "@" not in value:
        return False
    kinds = (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )
    return kinds >= 2


def _code_assignment(m) -> bytes:
    quote = b'"' if m.group(2) is not None else b"'"
    value = m.group(2) if m.group(2) is not None else m.group(3)
    if not _looks_secret(_text(value)):
        return m.group(0)
    return m.group(1) + quote + _marker_bytes(value) + quote


def redact_code(text: str | None, secrets: list[str] | tuple[str, ...] = ()) -> str | None:
    """Redact source code (see above): given secrets, known tokens, token formats, and quoted
    secret-looking literals assigned to secret-named keys. Equal secrets get equal markers, so a
    before/after pair stays consistent."""
    if not text:
        return text
    for s in _secret_list(secrets):
        if s in text:
            text = text.replace(s, redaction_marker(s))
    data = _TOKEN.sub(_token, _utf8(text))
    return _text(_CODE_ASSIGNMENT.sub(_code_assignment, data))


class Redactor:
    """Redacts with one list of secret values. Results are remembered per text, because report
    text repeats (the same rule help on every result), so keep one per document, not forever."""

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()):
        self.secrets = _secret_list(secrets)
        self._done: dict[str, str] = {}

    def text(self, text: str | None) -> str | None:
        """`text` redacted; the very same object when there was nothing to redact."""
        if not text:
            return text
        out = self._done.get(text)
        if out is None:
            out = _redact(text, self.secrets)
            self._done[text] = text if out == text else out
        return text if out == text else out

    def value(self, value: Any) -> Any:
        """`value` with every string in it redacted (dict keys too), at any depth; a pydantic model
        is changed in place. The same object when nothing changed."""
        kind = type(value)
        if kind is str:  # exactly str: a str-valued Enum (Severity, Category) is ours, not text
            return self.text(value)
        if kind is list:
            new = [self.value(v) for v in value]
            return value if all(a is b for a, b in zip(new, value)) else new
        if kind is dict:
            new = {self.value(k): self.value(v) for k, v in value.items()}
            pairs = zip(new.items(), value.items())
            same = len(new) == len(value) and all(a is b and x is y for (a, x), (b, y) in pairs)
            return value if same else new
        if isinstance(value, BaseModel):
            self.model(value)
        return value

    def model(self, model: BaseModel) -> BaseModel:
        """Redact every string of a pydantic model (a Finding and the models it holds) in place."""
        for name, old in model.__dict__.items():
            if not old:  # None, "", [], {}, 0, False: nothing to redact
                continue
            new = self.value(old)
            if new is not old:
                setattr(model, name, new)
        return model

    def finding(self, finding):
        return self.model(finding)

    def findings(self, findings: list) -> None:
        for f in findings:
            self.model(f)


def redact_finding(finding, secrets: list[str] | None = None):
    """Redact every string of a Finding in place and return it.

    `secrets` are values a scanner reported as matched secrets; parsers of secret scanners pass
    them here (or set `extra['secret_sha256']` and never keep the value at all).
    """
    return Redactor(secrets or ()).finding(finding)


def redact_findings(findings, secrets_of=lambda f: ()) -> None:
    """Redact many findings in place, sharing the work between findings with the same secrets.
    `secrets_of(finding)` gives the secret values a scanner reported for that finding."""
    groups: dict[tuple[str, ...], list] = {}
    for f in findings:
        groups.setdefault(tuple(secrets_of(f) or ()), []).append(f)
    for secrets, members in groups.items():
        Redactor(secrets).findings(members)
