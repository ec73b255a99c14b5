"""Small value helpers shared by parsers (not a parser: the registry skips `_` modules).

Report fields come from untrusted JSON/XML, so each helper says in its name what it does with a
value of the wrong kind: `..._or_none` and `..._or_empty` give an empty value, `..._or_error`
raises ValueError naming the field.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

# -- scalars -----------------------------------------------------------------------------------


def str_or_none(value: Any) -> str | None:
    """A text field, stripped; numbers become their text. None for an empty text, a missing
    value, a bool or a container."""
    if type(value) is str:
        return value.strip() or None
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value).strip() or None


def str_unstripped_or_none(value: Any) -> str | None:
    """A text field exactly as given (a secret or a matched line: surrounding spaces are part of
    what must be redacted). None for a blank text, a missing value, a bool or a container."""
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = value if type(value) is str else str(value)
    return text if text.strip() else None


def str_or_error(value: Any, what: str) -> str | None:
    """`str_or_none`, but a container where text belongs raises ValueError naming `what`."""
    if isinstance(value, (dict, list)):
        raise ValueError(f"'{what}' is not text")
    return str_or_none(value)


def positive_int(value: Any) -> int | None:
    """A line number or count given as an int or a digit string; None unless it is above 0."""
    if type(value) is int:
        return value if value > 0 else None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n > 0 else None


def cvss_score(value: Any) -> float | None:
    """A CVSS-style score (a number or a numeric text) from 0 to 10; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if 0.0 <= score <= 10.0 else None


# -- containers --------------------------------------------------------------------------------


def list_or_empty(value: Any) -> list:
    """The value if it is a list, else an empty list (a missing or misshapen optional field)."""
    return value if isinstance(value, list) else []


def dict_or_empty(value: Any) -> dict:
    """The value if it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def list_or_error(value: Any, what: str) -> list:
    """The value if it is a list; [] if it is missing (None); ValueError naming `what` otherwise."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"'{what}' is not a list")
    return value


# -- XML ---------------------------------------------------------------------------------------


def xml_local_name(tag: Any) -> str:
    """An element's tag without its `{namespace}` (comments and processing instructions: "")."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# -- paths -------------------------------------------------------------------------------------

# CI workspaces: what follows them is the repository checkout.
_WORKSPACE_RE = re.compile(
    "|".join(
        [
            r"^/home/runner/work/[^/]+/[^/]+/",  # GitHub-hosted runners
            r"^/__w/[^/]+/[^/]+/",  # GitHub container jobs
            r"^/Users/runner/work/[^/]+/[^/]+/",  # macOS runners
            r"^[A-Za-z]:/a/[^/]+/[^/]+/",  # Windows runners (D:\a\repo\repo\)
            r"^/github/workspace/",  # Docker actions
            r"^/builds/[^/]+/[^/]+/",  # GitLab
        ]
    )
)
DRIVE_RE = re.compile(r"[A-Za-z]:/")  # used with .match: anchored


def repo_relative(path: str, roots: list[str] = ()) -> str:
    """Best-effort repo-relative path: strips `file://`, known checkout roots and CI workspaces.

    An absolute path under no known root is kept absolute (the repository root is unknown)."""
    p = unquote(str(path).strip())
    if p.lower().startswith("file://"):
        p = p[len("file://") :]
        if p.startswith("//"):
            p = p[1:]
    p = p.replace("\\", "/")
    if p[:1] == "/" and DRIVE_RE.match(p, 1):
        p = p[1:]
    for root in sorted(roots, key=len, reverse=True) if roots else ():
        if root and root != "/" and p.startswith(root):
            return p[len(root) :].lstrip("/") or p
    m = _WORKSPACE_RE.match(p)
    if m:
        return p[m.end() :]
    while p.startswith("./"):
        p = p[2:]
    return p


# -- packages ----------------------------------------------------------------------------------

#: purl type -> ecosystem name (OSV spelling where OSV has one).
PURL_ECOSYSTEMS = {
    "maven": "Maven",
    "npm": "npm",
    "pypi": "PyPI",
    "golang": "Go",
    "cargo": "crates.io",
    "gem": "RubyGems",
    "composer": "Packagist",
    "nuget": "NuGet",
    "deb": "Debian",
    "apk": "Alpine",
    "rpm": "Red Hat",
    "pub": "Pub",
    "hex": "Hex",
    "swift": "SwiftURL",
    "cocoapods": "CocoaPods",
}
