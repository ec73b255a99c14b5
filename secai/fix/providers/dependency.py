"""Dependency findings with a fixed version: raise the constraint in the manifest that declares it.

Edited: `requirements*.txt` (PyPI) and `package.json` (npm). Lock files (`package-lock.json`,
`yarn.lock`, `pnpm-lock.yaml`, `poetry.lock`, `Pipfile.lock`, `uv.lock`, pip-compile output with
`--hash` lines) are left alone: the package manager writes them with resolved trees and integrity
hashes that a hand edit cannot produce; regenerate them after applying the fix.

New constraints (PyPI): `==X` becomes `==F`; a bare name becomes `>=F`; any other specifier
becomes `>=F` plus those of its `<`, `<=`, `!=` clauses that still admit F. npm: `X`/`=X` becomes
`F`, `^X` `^F`, `~X` `~F`, any other range `>=F`. All findings of one package in one manifest get
the highest of their fixed versions, so one edit fixes them all.

Verified by re-reading the manifest: every other line is unchanged, and the edited requirement
(same name, extras, markers) admits only versions at or above the fixed one.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from secai.findings import Category, Finding
from secai.fix.edit import LineEdit, edits_between
from secai.fix.source import SourceProblem, SourceTree
from secai.fix.task import FixContext, FixTask, Outcome
from secai.ingest import versions

NAME = "dependency"

LOCK_FILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "Pipfile.lock",
        "uv.lock",
    }
)
_NPM_SECTIONS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")
_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", ".tox", "__pycache__", "site-packages", "dist", "build"}
_MAX_DEPTH = 4
_NPM_RANGE = re.compile(r"^(?P<op>\^|~|=|v|>=)?\s*(?P<v>\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?)$")


def _ecosystem(f: Finding) -> str | None:
    eco = (f.package.ecosystem or "").lower() if f.package else ""
    return {"pypi": "pypi", "pip": "pypi", "npm": "npm"}.get(eco)


def _is_manifest(name: str, eco: str) -> bool:
    if eco == "pypi":
        return name.startswith("requirements") and name.endswith((".txt", ".in"))
    return name == "package.json"


def fixed_version(f: Finding) -> str | None:
    """The smallest fixed version above the installed one (the parsers order them so)."""
    pkg = f.package
    if not pkg or not pkg.fixed_versions:
        return None
    ordered = versions.smallest_fix_above(pkg.version, pkg.fixed_versions, pkg.ecosystem)
    return ordered[0] if ordered else None


def _manifests(source: SourceTree, f: Finding, eco: str) -> list[str]:
    """Manifests that may declare the package: the one the finding names, the one next to the
    lock file it names, else every manifest in the tree (a few levels deep)."""
    path = f.location.path if f.location else ""
    if path:
        p = PurePosixPath(path)
        if _is_manifest(p.name, eco):
            return [path]
        if p.name in LOCK_FILES and eco == "npm":
            return [str(p.with_name("package.json"))]
    return [m for m in manifest_paths(source) if _is_manifest(PurePosixPath(m).name, eco)]


def manifest_paths(source: SourceTree) -> list[str]:
    """Every requirements*.txt and package.json in the tree, a few levels deep."""
    found = []
    root = source.root
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        depth = 0 if rel == "." else rel.count(os.sep) + 1
        dirnames[:] = sorted(
            d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".") and depth < _MAX_DEPTH
        )
        for name in sorted(filenames):
            if _is_manifest(name, "pypi") or _is_manifest(name, "npm"):
                found.append(name if rel == "." else f"{PurePosixPath(*PurePosixPath(rel).parts)}/{name}")
    return found


# -- requirements files --------------------------------------------------------------------------------


def _split_comment(line: str) -> tuple[str, str]:
    m = re.search(r"(^|\s)#", line)
    return (line[: m.start()], line[m.start() :]) if m else (line, "")


def _requirement(line: str) -> Requirement | None:
    body, _ = _split_comment(line)
    body = body.strip().removesuffix("\\").strip()
    if not body or body.startswith("-") or "://" in body:
        return None
    try:
        return Requirement(body)
    except InvalidRequirement:
        return None


def _new_specifier(spec: SpecifierSet, fixed: Version) -> str:
    specs = list(spec)
    if len(specs) == 1 and specs[0].operator in ("==", "==="):
        return f"=={fixed}"
    keep = [s for s in specs if s.operator in ("<", "<=", "!=") and fixed in SpecifierSet(str(s), prereleases=True)]
    return ",".join([f">={fixed}", *sorted(str(s) for s in keep)])


def edit_requirements(text: str, name: str, fixed: str) -> tuple[str, str]:
    """(new text, what changed) with every requirement of `name` raised to admit only >= `fixed`."""
    target = Version(fixed)
    lines = text.split("\n")
    changed = []
    for i, line in enumerate(lines):
        req = _requirement(line.rstrip("\r"))
        if req is None or canonicalize_name(req.name) != canonicalize_name(name):
            continue
        if line.rstrip().endswith("\\") or "--hash" in line:
            raise SourceProblem("the requirement is pinned with --hash; regenerate the file (pip-compile)")
        if _admits_only_at_least(req.specifier, target):
            raise SourceProblem(f"{req.name} already requires {req.specifier} (>= {fixed})")
        body, comment = _split_comment(line.rstrip("\r"))
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        marker = f"; {req.marker}" if req.marker else ""
        new_spec = _new_specifier(req.specifier, target)
        new = f"{req.name}{extras}{new_spec}{marker}" + (f" {comment.strip()}" if comment else "")
        lines[i] = new + ("\r" if line.endswith("\r") else "")
        changed.append(f"{req.name}{req.specifier or ' (any version)'} -> {new_spec}")
    if not changed:
        raise SourceProblem(f"{name} is not declared in it (a transitive dependency?)")
    return "\n".join(lines), "; ".join(changed)


def _admits_only_at_least(spec: SpecifierSet, fixed: Version) -> bool:
    """Whether `spec` has a lower bound at or above `fixed` and admits some version."""
    for s in spec:
        try:
            v = Version(s.version.replace(".*", ""))
        except InvalidVersion:
            continue
        if s.operator in ("==", "===", ">=", "~=", ">") and v >= fixed:
            return True
    return False


def check_requirements(old: str, new: str, name: str, fixed: str) -> str | None:
    """Re-read an edited requirements file: None when only `name`'s lines changed and each now
    admits only versions >= `fixed`; otherwise why not."""
    a, b = old.split("\n"), new.split("\n")
    if len(a) != len(b):
        return "the number of lines changed"
    for x, y in zip(a, b):
        if x == y:
            continue
        rx, ry = _requirement(x.rstrip("\r")), _requirement(y.rstrip("\r"))
        if rx is None or ry is None or canonicalize_name(ry.name) != canonicalize_name(name):
            return f"a line other than {name}'s changed"
        if canonicalize_name(rx.name) != canonicalize_name(ry.name) or rx.extras != ry.extras or rx.marker != ry.marker:
            return "the requirement's name, extras or markers changed"
        if not _admits_only_at_least(ry.specifier, Version(fixed)):
            return f"{ry} still admits versions below {fixed}"
        if not any(ry.specifier.contains(s.version, prereleases=True) for s in ry.specifier if "*" not in s.version):
            return f"{ry} admits no version"
    return None


# -- package.json --------------------------------------------------------------------------------------


def _npm_new_range(old: str, fixed: str) -> str:
    m = _NPM_RANGE.match(old.strip())
    op = m.group("op") if m else None
    if m and op in (None, "=", "v"):
        return fixed
    if m and op in ("^", "~"):
        return f"{op}{fixed}"
    return f">={fixed}"


def _npm_min(rng: str) -> str | None:
    m = _NPM_RANGE.match(rng.strip())
    return m.group("v") if m else None


def edit_package_json(text: str, name: str, fixed: str) -> tuple[str, str]:
    try:
        doc = json.loads(text)
    except ValueError:
        raise SourceProblem("package.json is not valid JSON") from None
    if not isinstance(doc, dict):
        raise SourceProblem("package.json is not an object")
    lines = text.split("\n")
    changed = []
    for section in _NPM_SECTIONS:
        deps = doc.get(section)
        if not isinstance(deps, dict) or not isinstance(deps.get(name), str):
            continue
        old = deps[name]
        if old.startswith(("git", "http", "file:", "link:", "workspace:", "npm:")) or "/" in old:
            raise SourceProblem(f"{name} comes from {old!r}, not a version range")
        minimum = _npm_min(old)
        if minimum and versions.compare(minimum, fixed, "npm") >= 0:
            raise SourceProblem(f"{name} already requires {old} (>= {fixed})")
        new = _npm_new_range(old, fixed)
        pattern = re.compile(r"()" + re.escape(json.dumps(name)) + r"(\s*:\s*)" + re.escape(json.dumps(old)))
        hits = [i for i, line in enumerate(lines) if pattern.search(line)]
        if len(hits) != 1 and section == "dependencies":
            hits = hits[:1]
        if not hits:
            raise SourceProblem(f"{name} is declared in a way secai does not edit by line")
        i = hits[0]
        lines[i] = pattern.sub(
            lambda m, new=new: m.group(1) + json.dumps(name) + m.group(2) + json.dumps(new), lines[i], count=1
        )
        changed.append(f"{section}: {name} {old} -> {new}")
    if not changed:
        raise SourceProblem(f"{name} is not declared in it (a transitive dependency?)")
    return "\n".join(lines), "; ".join(changed)


def check_package_json(old: str, new: str, name: str, fixed: str) -> str | None:
    try:
        a, b = json.loads(old), json.loads(new)
    except ValueError:
        return "the edited package.json is not valid JSON"
    for section in _NPM_SECTIONS:
        if isinstance(b.get(section), dict) and name in b[section] and b[section][name] != a[section][name]:
            minimum = _npm_min(b[section][name])
            if minimum is None or versions.compare(minimum, fixed, "npm") < 0:
                return f"{section}.{name} = {b[section][name]!r} still admits versions below {fixed}"
            a[section][name] = b[section][name]
    if a != b:
        return f"something other than {name}'s version range changed"
    return None


# -- the provider ----------------------------------------------------------------------------------------


def propose(tasks: list[FixTask], ctx: FixContext) -> dict[int, Outcome]:
    out: dict[int, Outcome] = {}
    groups: dict[tuple[str, str, str], list[tuple[FixTask, str]]] = {}
    for t in tasks:
        f = t.finding
        if f.category != Category.dependency or f.package is None:
            continue
        eco = _ecosystem(f)
        if eco is None:
            out[t.id] = Outcome(NAME, "no_proposal", f"{f.package.ecosystem or 'unknown'} manifests are not edited")
            continue
        fixed = fixed_version(f)
        if fixed is None:
            out[t.id] = Outcome(NAME, "no_proposal", "the scanner reports no fixed version")
            continue
        manifests = _manifests(ctx.source, f, eco)
        if not manifests:
            kind = "requirements*.txt" if eco == "pypi" else "package.json"
            out[t.id] = Outcome(NAME, "no_proposal", f"no {kind} found in --source")
            continue
        for m in manifests:
            name = canonicalize_name(f.package.name) if eco == "pypi" else f.package.name
            groups.setdefault((m, eco, name), []).append((t, fixed))
    done: dict[int, list[tuple[str, list[LineEdit], str]]] = {}
    failed: dict[int, list[str]] = {}
    for (manifest, eco, name), members in groups.items():
        ecosystem = "PyPI" if eco == "pypi" else "npm"
        target = members[0][1]
        for _, v in members[1:]:
            if versions.compare(v, target, ecosystem) > 0:
                target = v
        result = _bump(ctx.source, manifest, eco, name, target)
        for t, own in members:
            if isinstance(result, str):
                failed.setdefault(t.id, []).append(f"{manifest}: {result}")
            else:
                note = f" (this advisory is fixed in {own})" if own != target else ""
                done.setdefault(t.id, []).append((manifest, result[0], f"{manifest}: {result[1]}{note}"))
        for t, _ in members:
            out.setdefault(
                t.id, Outcome(NAME, "no_proposal", "")
            ).rationale = f"Upgrade {name} to {target}, which fixes the reported advisories."
    for tid, reasons in failed.items():
        if tid not in done:
            out[tid] = Outcome(NAME, "no_proposal", "; ".join(reasons))
    for tid, changes in done.items():
        out[tid] = Outcome(
            NAME,
            "verified",
            "; ".join(what for _, _, what in changes) + "; verified by re-reading the manifest",
            changes={m: e for m, e, _ in changes},
            rationale=out[tid].rationale,
            candidates=1,
            verified_at=1,
        )
    return out


def _bump(source: SourceTree, manifest: str, eco: str, name: str, fixed: str) -> tuple[list[LineEdit], str] | str:
    try:
        original = source.read(manifest).text
        if eco == "pypi":
            Version(fixed)
            new, what = edit_requirements(original, name, fixed)
            problem = check_requirements(original, new, name, fixed)
        else:
            new, what = edit_package_json(original, name, fixed)
            problem = check_package_json(original, new, name, fixed)
    except SourceProblem as e:
        return e.reason
    except InvalidVersion:
        return f"fixed version {fixed!r} is not a PEP 440 version"
    if problem:
        return f"the edit did not pass the manifest check: {problem}"
    return edits_between(original, new), what
