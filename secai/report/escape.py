"""Markdown escaping of untrusted text (scanner output, model output, file names) for GitHub.

Everything a scanner or a model wrote is shown as text: no raw HTML (so no fake
`<!-- secai-report -->` marker and no `<script>`), no @-mentions or #-references that ping people
or link issues, no markdown that breaks the layout (headings, lists, tables, fences), and no
invisible bidi controls.
"""

from __future__ import annotations

import re

ZWJ = "\u200d"

# Everything CommonMark lets a backslash escape, except those we turn into entities.
_MD_PUNCT = set("\\`*_{}[]()#+-.!|~=:^$")
_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}
# @user, @org/team; #123, owner/repo#123, GH-123 auto-links.
_MENTION_RE = re.compile(r"(?<![A-Za-z0-9_])@(?=[A-Za-z0-9])")
_REF_RE = re.compile(r"(#|GH-)(?=\d)", re.IGNORECASE)
# Bidi overrides/isolates and other format characters that reorder or hide text.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}


# Cc (C0 but tab and newline, DEL, C1) and Cs (lone surrogates) become spaces; bidi controls go.
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_BIDI_RE = re.compile("[" + "".join(sorted(_BIDI)) + "]")


def _clean(text: object) -> str:
    s = "" if text is None else str(text)
    s = _CONTROL_RE.sub(" ", _BIDI_RE.sub("", s))
    return s.replace("\r\n", "\n").replace("\r", "\n")


def _head(text: object, limit: int | None) -> str:
    """Enough of `text` for a one-line excerpt of `limit` characters (whitespace runs collapse)."""
    s = "" if text is None else str(text)
    return s if limit is None or len(s) <= 4 * limit + 64 else s[: 4 * limit + 64]


def truncate(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + "…"


def _defang(s: str) -> str:
    s = _MENTION_RE.sub("@" + ZWJ, s)
    return _REF_RE.sub(lambda m: m.group(1) + ZWJ, s)


def _escape_line(line: str) -> str:
    out = []
    for ch in _defang(line):  # defanged first: escaping `-` would hide `GH-123` from the pattern
        if ch in _HTML:
            out.append(_HTML[ch])
        elif ch in _MD_PUNCT:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def md_inline(text: object, limit: int | None = 300) -> str:
    """One line of escaped text, for table cells, list items and `<summary>`."""
    s = " ".join(_clean(_head(text, limit)).split())
    return _escape_line(truncate(s, limit))


def html_inline(text: object, limit: int | None = 300) -> str:
    """One line of text inside raw HTML (e.g. `<summary>`), where markdown escapes would show."""
    s = truncate(" ".join(_clean(_head(text, limit)).split()), limit)
    return _defang("".join(_HTML.get(ch, ch) for ch in s).replace("'", "&#39;"))


def md_block(text: object, limit: int | None = 4000) -> str:
    """Escaped multi-line text: paragraphs and line breaks kept, nothing else interpreted."""
    s = truncate(_clean(text).strip(), limit)
    paras = [p for p in re.split(r"\n\s*\n", s) if p.strip()]
    return "\n\n".join(
        "  \n".join(_escape_line(" ".join(line.split())) for line in p.splitlines() if line.strip()) for p in paras
    )


def md_code(text: object, limit: int | None = 200, *, in_table: bool = False) -> str:
    """Inline code span: shown verbatim (no HTML, no mentions inside code), on one line."""
    s = truncate(" ".join(_clean(text).split()), limit).replace("<!--", "<!" + ZWJ + "--")
    if not s:
        return "` `"
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or (s.startswith(" ") and s.endswith(" ")) else ""
    if in_table:  # a `|` splits a table cell even inside code; GitHub accepts `\|` there
        s = s.replace("|", "\\|")
    return f"{fence}{pad}{s}{pad}{fence}"


def md_link(label: object, url: object) -> str:
    """A link only when the URL is plain http(s); otherwise the escaped label and URL as code."""
    u = _clean(url).strip()
    if re.fullmatch(r"https?://[^\s<>()\"'`\\]+", u):
        return f"[{md_inline(label, 120)}]({u})"
    return f"{md_inline(label, 120)} ({md_code(u)})"


def md_fence(text: object, lang: str = "", max_lines: int | None = None) -> str:
    """A fenced code block shown verbatim: the fence is longer than any backtick run inside, so no
    line of `text` can close it; control and bidi characters are removed as everywhere else."""
    lines = _clean(text).rstrip("\n").split("\n")
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines] + [f"… {len(lines) - max_lines} more line(s)"]
    body = "\n".join(lines)
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body}\n{fence}"
