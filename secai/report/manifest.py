"""Where a dependency finding lives: the manifest line that names its package.

Dependency scanners often report a package without a file (Safety, OSV, npm audit) or with only
the manifest's name. Code scanning needs a file and a line, so the SARIF export points such a
finding at the first line of a manifest of its ecosystem that declares the package, found in the
checkout (or the sources a bundle carries). Files are read as text with a size cap; nothing is
followed outside the root, and nothing is executed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from secai.findings import Finding

#: Manifest file names by ecosystem (lower case), lock files after the manifests they pin.
MANIFESTS: dict[str, tuple[str, ...]] = {
    "pypi": ("requirements*.txt", "requirements*.in", "constraints*.txt", "pyproject.toml", "Pipfile", "setup.cfg"),
    "npm": ("package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml"),
    "go": ("go.mod",),
    "maven": ("pom.xml",),
    "rubygems": ("Gemfile", "Gemfile.lock"),
    "crates.io": ("Cargo.toml", "Cargo.lock"),
    "cargo": ("Cargo.toml", "Cargo.lock"),
    "packagist": ("composer.json", "composer.lock"),
    "nuget": ("*.csproj", "packages.config"),
}
_ALIASES = {"pip": "pypi", "python": "pypi", "node": "npm", "javascript": "npm", "golang": "go", "gem": "rubygems"}
_SKIP_DIRS = {".git", "node_modules", "vendor", ".venv", "venv", "__pycache__", ".tox", "dist", "build"}
MAX_DEPTH = 4
MAX_BYTES = 2 * 1024 * 1024
MAX_FILES = 200

Locate = Callable[[Finding], "tuple[str, int] | None"]


def _ecosystem(f: Finding) -> str | None:
    eco = (f.package.ecosystem or "").strip().lower() if f.package else ""
    return _ALIASES.get(eco, eco) or None


def _match(name: str, patterns: tuple[str, ...]) -> bool:
    import fnmatch

    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _all_patterns() -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for ps in MANIFESTS.values() for p in ps))


def _pypi_name(name: str) -> str:
    """A regex for a Python package name in any of its PEP 503 spellings (`-`, `_`, `.` alike)."""
    return "[-_.]+".join(re.escape(p) for p in re.split(r"[-_.]+", name.lower()))


def _line_patterns(filename: str, name: str) -> list[re.Pattern]:
    n = re.escape(name)
    low = filename.lower()
    if low.endswith((".txt", ".in")) or low == "pipfile" or low == "setup.cfg":
        pep = _pypi_name(name)
        return [re.compile(rf"^\s*{pep}\s*(\[[^\]]*\])?\s*(===|==|>=|<=|~=|!=|<|>|@|;|$|=)", re.I)]
    if low == "pyproject.toml":
        pep = _pypi_name(name)
        return [
            re.compile(rf"""["']{pep}\s*(\[[^\]]*\])?\s*(===|==|>=|<=|~=|!=|<|>|@|;|["'])""", re.I),
            re.compile(rf"^\s*{pep}\s*=", re.I),
        ]
    if low in ("package.json", "composer.json"):
        return [re.compile(rf'^\s*"{n}"\s*:')]
    if low == "package-lock.json":
        return [re.compile(rf'^\s*"node_modules/{n}"\s*:'), re.compile(rf'^\s*"{n}"\s*:\s*\{{')]
    if low == "yarn.lock":
        return [re.compile(rf'^"?{n}@')]
    if low == "pnpm-lock.yaml":
        return [re.compile(rf"^\s*/?'?{n}[@/:]")]
    if low == "go.mod":
        return [re.compile(rf"^\s*(require\s+)?{n}\s+v")]
    if low == "pom.xml":
        artifact = re.escape(name.split(":")[-1])
        return [re.compile(rf"<artifactId>\s*{artifact}\s*</artifactId>")]
    if low == "gemfile":
        return [re.compile(rf"""^\s*gem\s+["']{n}["']""")]
    if low == "gemfile.lock":
        return [re.compile(rf"^\s{{4}}{n} \(")]
    if low in ("cargo.toml",):
        return [re.compile(rf"^\s*{n}\s*=")]
    if low.endswith(".lock") or low == "poetry.lock" or low == "uv.lock":
        return [re.compile(rf'^\s*name\s*=\s*"{n}"', re.I)]
    if low.endswith(".csproj") or low == "packages.config":
        return [re.compile(rf'(Include|id)="{n}"', re.I)]
    return [re.compile(rf"\b{n}\b")]


def find_line(text: str, filename: str, name: str) -> int | None:
    pats = _line_patterns(filename, name)
    for i, line in enumerate(text.splitlines(), start=1):
        if any(p.search(line) for p in pats):
            return i
    return None


def _manifests(root: Path) -> list[str]:
    """Manifest files under `root` (shallow, no links, no vendored trees), relative, sorted by depth."""
    out: list[str] = []
    patterns = _all_patterns()
    base = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        depth = len(Path(dirpath).parts) - base
        dirnames[:] = (
            sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")) if depth < MAX_DEPTH else []
        )
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if _match(name, patterns) and p.is_file() and not p.is_symlink():
                out.append(p.relative_to(root).as_posix())
                if len(out) >= MAX_FILES:
                    return sorted(out, key=lambda s: (s.count("/"), s))
    return sorted(out, key=lambda s: (s.count("/"), s))


def locator(root: str | Path | None) -> Locate | None:
    """A function giving (manifest path, line) for a dependency finding, or None without a root."""
    if root is None or not Path(root).is_dir():
        return None
    root = Path(root)
    manifests = _manifests(root)

    @lru_cache(maxsize=512)
    def text_of(rel: str) -> str | None:
        p = root / rel
        try:
            if p.is_symlink() or not p.is_file() or p.stat().st_size > MAX_BYTES:
                return None
            return p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def locate(f: Finding) -> tuple[str, int] | None:
        if f.package is None or not f.package.name:
            return None
        eco = _ecosystem(f)
        patterns = MANIFESTS.get(eco or "", _all_patterns())
        ours = [m for m in manifests if _match(Path(m).name, patterns)]
        candidates: list[str] = []
        if f.location and f.location.path:
            # the file the scanner named, then the other manifests of its folder
            here = f.location.path
            if _match(Path(here).name, patterns):
                candidates.append(here)
            candidates += [m for m in ours if Path(m).parent == Path(here).parent]
        candidates += ours
        for rel in dict.fromkeys(candidates):
            if ".." in Path(rel).parts or rel.startswith("/"):
                continue
            text = text_of(rel)
            if text is None:
                continue
            line = find_line(text, Path(rel).name, f.package.name)
            if line:
                return rel, line
        return None

    return locate
