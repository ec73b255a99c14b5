"""Version comparison that knows the ecosystems scanners report.

`compare(a, b, ecosystem)` orders two versions; `smallest_fix_above(installed, fixed, ecosystem)`
orders an advisory's fixed versions so the applicable one (the smallest above the installed
version) comes first. PyPI uses `packaging`; Maven, semver (npm, Go, crates.io), Debian-style
(dpkg, also used for Alpine and RPM) have their own rules; anything else falls back to a
Maven-like tokenizing comparison, which handles most version schemes sensibly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

from packaging.version import InvalidVersion, Version

Comparator = Callable[[str, str], int]


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


# -- Maven (ComparableVersion) and generic -------------------------------------------------------

_QUALIFIERS = {"alpha": 0, "beta": 1, "milestone": 2, "rc": 3, "snapshot": 4, "": 5, "sp": 6}
_QUALIFIER_ALIASES = {
    "a": "alpha",
    "b": "beta",
    "m": "milestone",
    "cr": "rc",
    "pre": "rc",
    "preview": "rc",
    "dev": "alpha",
    "ga": "",
    "final": "",
    "release": "",
}
_TOKEN_RE = re.compile(r"\d+|[a-z]+")


@functools.lru_cache(maxsize=4096)  # sorting an advisory's fixes compares each version several times
def _maven_items(v: str) -> tuple[int | str, ...]:
    text = v.strip().lower()
    if text.startswith("v") and text[1:2].isdigit():
        text = text[1:]
    items: list[int | str] = []
    tokens = _TOKEN_RE.findall(text)
    for i, tok in enumerate(tokens):
        if tok.isdigit():
            items.append(int(tok))
        else:
            followed_by_digit = i + 1 < len(tokens) and tokens[i + 1].isdigit()
            if len(tok) == 1 and not followed_by_digit:
                items.append(tok)  # a lone letter ("1.0a") is not an alias of alpha
            else:
                items.append(_QUALIFIER_ALIASES.get(tok, tok))
    while items and items[-1] in (0, ""):
        items.pop()
    return tuple(items)


def _qualifier_rank(q: str) -> tuple[int, str]:
    if q in _QUALIFIERS:
        return (_QUALIFIERS[q], "")
    return (len(_QUALIFIERS), q)  # unknown qualifiers sort after known ones, alphabetically


def _item_cmp(a: int | str | None, b: int | str | None) -> int:
    if a is None and b is None:
        return 0
    if a is None:
        return -_item_cmp(b, None)
    if b is None:
        if isinstance(a, int):
            return _sign(a)
        if a in _QUALIFIERS:
            return _sign(_QUALIFIERS[a] - _QUALIFIERS[""])
        return 1  # unknown qualifiers ("1-jre") sort after the plain release
    if isinstance(a, int) and isinstance(b, int):
        return _sign(a - b)
    if isinstance(a, int):
        return 1  # 1.0.1 > 1.0-rc1: a number beats a qualifier
    if isinstance(b, int):
        return -1
    ra, rb = _qualifier_rank(a), _qualifier_rank(b)
    return (ra > rb) - (ra < rb)


def compare_maven(a: str, b: str) -> int:
    ia, ib = _maven_items(a), _maven_items(b)
    for i in range(max(len(ia), len(ib))):
        c = _item_cmp(ia[i] if i < len(ia) else None, ib[i] if i < len(ib) else None)
        if c:
            return c
    return 0


# -- semver (npm, Go, crates.io) -----------------------------------------------------------------

_SEMVER_RE = re.compile(r"^\s*[=v]*\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?\s*$")


@functools.lru_cache(maxsize=4096)  # like _maven_items: a sort compares each version several times
def _semver(v: str):
    m = _SEMVER_RE.match(v)
    if not m:
        return None
    core = tuple(int(x or 0) for x in m.group(1, 2, 3))
    pre = m.group(4)
    return core, (tuple(pre.split(".")) if pre else None)


def _pre_cmp(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> int:
    if a is None or b is None:
        return (a is None) - (b is None)  # a release is greater than any pre-release
    for x, y in zip(a, b):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return _sign(int(x) - int(y))
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return _sign(len(a) - len(b))


def compare_semver(a: str, b: str) -> int:
    sa, sb = _semver(a), _semver(b)
    if sa is None or sb is None:
        return compare_maven(a, b)
    if sa[0] != sb[0]:
        return -1 if sa[0] < sb[0] else 1
    return _pre_cmp(sa[1], sb[1])


def compare_go(a: str, b: str) -> int:
    def clean(v: str) -> str:
        v = v.strip()
        return v[: -len("+incompatible")] if v.endswith("+incompatible") else v

    return compare_semver(clean(a), clean(b))


# -- PyPI ------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _pep440(v: str) -> Version | None:
    try:
        return Version(v)
    except InvalidVersion:
        return None


def compare_pypi(a: str, b: str) -> int:
    va, vb = _pep440(a.strip()), _pep440(b.strip())
    if va is None or vb is None:
        return compare_maven(a, b)
    return (va > vb) - (va < vb)


# -- Debian / Ubuntu (dpkg), also used for Alpine and RPM ------------------------------------------


def _dpkg_order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _dpkg_order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _dpkg_order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return _sign(ac - bc)
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return _sign(first_diff)
    return 0


def _dpkg_split(v: str) -> tuple[int, str, str]:
    v = v.strip()
    epoch = 0
    if ":" in v:
        e, rest = v.split(":", 1)
        if e.isdigit():
            epoch, v = int(e), rest
    upstream, _, revision = v.rpartition("-") if "-" in v else (v, "", "")
    return epoch, upstream, revision


def compare_dpkg(a: str, b: str) -> int:
    ea, ua, ra = _dpkg_split(a)
    eb, ub, rb = _dpkg_split(b)
    if ea != eb:
        return _sign(ea - eb)
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


_APK_PRE = re.compile(r"_(alpha|beta|pre|rc)")


def compare_apk(a: str, b: str) -> int:
    # Alpine pre-release suffixes sort before the release, like dpkg's "~".
    return compare_dpkg(_APK_PRE.sub(r"~\1", a), _APK_PRE.sub(r"~\1", b))


# -- dispatch --------------------------------------------------------------------------------------

_ECOSYSTEMS: dict[str, Comparator] = {}
for _names, _cmp in (
    (("pypi", "pip", "python", "pipenv", "poetry", "python-pkg", "conda", "uv"), compare_pypi),
    (("maven", "jar", "pom", "gradle", "sbt", "java", "java-archive"), compare_maven),
    (
        (
            "npm",
            "yarn",
            "pnpm",
            "node",
            "node-pkg",
            "nodejs",
            "javascript",
            "bun",
            "crates.io",
            "cargo",
            "rust",
            "rust-binary",
            "nuget",
            "dotnet-core",
            "dotnet-deps",
            "pub",
            "hex",
            "swift",
            "cocoapods",
        ),
        compare_semver,
    ),
    (("go", "golang", "gomod", "gobinary", "go-module"), compare_go),
    (
        (
            "debian",
            "ubuntu",
            "deb",
            "dpkg",
            "redhat",
            "centos",
            "rocky",
            "alma",
            "almalinux",
            "fedora",
            "amazon",
            "oracle",
            "rpm",
            "suse",
            "opensuse",
            "opensuse.leap",
            "sles",
            "photon",
            "cbl-mariner",
            "azurelinux",
            "rhel",
            "mageia",
            "red hat",
            "rocky linux",
            "amazon linux",
            "oracle linux",
            "photon os",
            "azure linux",
            "openeuler",
            "openeuler",
        ),
        compare_dpkg,
    ),
    (("alpine", "apk", "wolfi", "chainguard"), compare_apk),
):
    for _n in _names:
        _ECOSYSTEMS[_n] = _cmp


def comparator(ecosystem: str | None) -> Comparator:
    """The comparison for an ecosystem name (OSV, Trivy `Type`, Grype, purl type, any case).

    OSV names may carry a release (`Debian:12`, `Alpine:v3.19`, `Ubuntu:22.04:LTS`)."""
    key = (ecosystem or "").strip().lower().split(":", 1)[0]
    return _ECOSYSTEMS.get(key, compare_maven)


def compare(a: str, b: str, ecosystem: str | None = None) -> int:
    """-1, 0 or 1 as `a` is older than, equal to or newer than `b` in `ecosystem`."""
    if a == b:
        return 0
    return comparator(ecosystem)(a, b)


def is_newer(a: str, b: str, ecosystem: str | None = None) -> bool:
    return compare(a, b, ecosystem) > 0


_VERSION_SEPARATORS = re.compile(r"[,|]|\s+or\s+")


def split_versions(text: str | None) -> list[str]:
    """`"1.5.13, 1.3.15"` (Trivy's several branches) into `["1.5.13", "1.3.15"]`."""
    if not text:
        return []
    out = []
    for part in _VERSION_SEPARATORS.split(str(text)):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


def smallest_fix_above(installed: str | None, fixed_versions: Iterable[str], ecosystem: str | None = None) -> list[str]:
    """All fixed versions, the applicable one first.

    The versions above `installed` come first, smallest first (the first is the minimal upgrade);
    fixed versions at or below `installed` (fixes on other branches) follow, in their order.
    Without an installed version the versions are sorted ascending.
    """
    seen: list[str] = []
    for v in fixed_versions:
        v = (v or "").strip()
        if v and v not in seen:
            seen.append(v)
    cmp = comparator(ecosystem)
    key = functools.cmp_to_key(cmp)
    if not installed:
        return sorted(seen, key=key)
    above = sorted((v for v in seen if cmp(v, installed) > 0), key=key)
    rest = [v for v in seen if v not in above]
    return above + rest
