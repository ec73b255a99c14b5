"""The source files findings point to, carried in the bundle so the self-hosted runner never checks
out pull-request code: `collect` (on the hosted runner, which has the checkout) copies them into
`sources/` of the bundle; `run --bundle` copies them into the run folder's `source/`, where the
fix stage reads and verifies edits.

Both sides treat the files as untrusted data: only regular text files inside the root, no links
anywhere on the path, no `.git`, capped per file and in total, and redacted like everything else
(`redact_code`: secret literals become markers, the code still parses). What was left out is listed
with the reason in `sources.json`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field, ValidationError

from secai.config import Limits
from secai.findings import Finding
from secai.ingest.redact import redact_code
from secai.run.folder import atomic_write_json, atomic_write_text

log = logging.getLogger("secai")

SOURCES_DIR = "sources"
SOURCES_FILE = "sources.json"
MAX_FILES = 2000


class SourceFile(BaseModel):
    path: str
    bytes: int
    sha256: str
    redacted: bool = False


class SourcesRecord(BaseModel):
    """`sources.json`: the files carried and those left out, with why."""

    files: list[SourceFile] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)


def safe_relpath(path: str) -> str | None:
    """A repository-relative POSIX path with no `..`, no absolute start, no `.git`; else None."""
    if not path or "\\" in path or "\0" in path or path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return None
    parts = PurePosixPath(path).parts
    if not parts or any(p in ("..", ".", "") or p == ".git" for p in parts):
        return None
    return "/".join(parts)


def _read_regular(root: Path, rel: str, max_bytes: int) -> bytes:
    """The bytes of `root/rel`, refusing links on any part of the path and anything but a regular
    file; ValueError with the reason otherwise."""
    here = root
    for part in rel.split("/"):
        here = here / part
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            raise ValueError("not in the source folder") from None
        except OSError as e:
            raise ValueError(f"cannot read ({e.strerror or e})") from None
        if stat.S_ISLNK(st.st_mode):
            raise ValueError("a symbolic link on the path")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("not a regular file")
    if st.st_size > max_bytes:
        raise ValueError(f"{st.st_size} bytes, over the {max_bytes} byte limit per file")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(here, flags)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"over the {max_bytes} byte limit per file")
    return data


def _text(data: bytes) -> str:
    if b"\0" in data:
        raise ValueError("binary (NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None


def wanted_paths(findings: Iterable[Finding]) -> list[str]:
    """The files findings point to, in order of first mention."""
    return list(dict.fromkeys(f.location.path for f in findings if f.location and f.location.path))


def copy_sources(paths: Iterable[str], root: Path, dest: Path, limits: Limits) -> SourcesRecord:
    """Copy the text files `paths` (relative to `root`) into `dest`, redacted, within the caps."""
    rec = SourcesRecord()
    root = Path(root)
    per_file = int(limits.max_source_kb * 1024)
    budget = int(limits.max_sources_mb * 1024 * 1024)
    if not root.is_dir():
        return rec
    for raw in paths:
        rel = safe_relpath(raw)
        if rel is None:
            rec.skipped[raw[:300]] = "not a path inside the repository"
            continue
        if rel in rec.skipped or any(f.path == rel for f in rec.files):
            continue
        if len(rec.files) >= MAX_FILES:
            rec.skipped[rel] = f"more than {MAX_FILES} files"
            continue
        try:
            text = _text(_read_regular(root, rel, per_file))
        except ValueError as e:
            rec.skipped[rel] = str(e)
            continue
        clean = redact_code(text) or ""
        data = clean.encode("utf-8")
        if len(data) > budget:
            rec.skipped[rel] = "over the total size limit of the carried sources"
            continue
        budget -= len(data)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, clean)
        rec.files.append(
            SourceFile(path=rel, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), redacted=clean != text)
        )
    return rec


def bundle_sources(
    findings: list[Finding], root: Path, bundle: Path, limits: Limits, extra: Iterable[str] = ()
) -> SourcesRecord:
    """collect: the files `findings` point to (and `extra` ones, e.g. the manifests that pin their
    packages), from the checkout `root` into `bundle/sources/`."""
    paths = list(dict.fromkeys([*wanted_paths(findings), *extra]))
    rec = copy_sources(paths, Path(root), bundle / SOURCES_DIR, limits)
    atomic_write_json(bundle / SOURCES_FILE, rec.model_dump(mode="json"))
    if rec.files or rec.skipped:
        log.info("bundle sources: %d file(s) carried, %d left out", len(rec.files), len(rec.skipped))
    return rec


def unpack_sources(bundle: Path, dest: Path, limits: Limits) -> SourcesRecord | None:
    """run --bundle: the bundle's listed sources into `dest`, checked again (the bundle crossed from
    another job); None when the bundle carries none."""
    try:
        listed = SourcesRecord.model_validate_json((bundle / SOURCES_FILE).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, ValidationError) as e:
        log.warning("%s: not a list of sources (%s); sources left out", bundle / SOURCES_FILE, str(e)[:200])
        return None
    return copy_sources([f.path for f in listed.files], bundle / SOURCES_DIR, dest, limits)
