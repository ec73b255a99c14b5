"""Turn paths (report files, directory trees, artifact zips) into deduplicated findings.

Which files are reports is decided by content: JSON (object or array) and XML documents are
offered to the parser registry; other files (HTML, Markdown, images, logs) inside directories and
zips are skipped and listed at verbose level. Every problem names its file and the run goes on.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import itertools
import json
import logging
import operator
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

try:  # fast JSON decoding; the json module alone gives the same results
    import msgspec

    _msgspec_decode = msgspec.json.Decoder().decode
except ImportError:  # pragma: no cover - msgspec is a core dependency
    msgspec = None
    _msgspec_decode = None

from secai.config import Limits
from secai.errors import InputError, ParseError, UnknownFormat
from secai.findings import Finding, dedupe
from secai.ingest import archives
from secai.ingest.parsers import Document, Findings, find_parser, run_parser
from secai.run.records import ParseRecord, ProblemRecord, ReportRecord

log = logging.getLogger("secai")

Level = Literal["error", "warning", "skipped"]

_SKIP_SUFFIXES = {
    ".html",
    ".htm",
    ".md",
    ".markdown",
    ".txt",
    ".log",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".svg",
    ".pdf",
    ".css",
    ".js",
    ".csv",
    ".ico",
    ".woff",
    ".woff2",
    ".ttf",
}


#: Malformed items of one report listed one by one; the rest are counted.
_SKIPPED_NOTES = 10


@dataclass
class Problem:
    path: str
    message: str
    level: Level = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Report:
    path: str
    format: str
    findings: int


@dataclass
class IngestResult:
    findings: list[Finding] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    def record(self) -> ParseRecord:
        """What `parse.json` keeps: the reports read and the problems."""
        return ParseRecord(
            reports=[ReportRecord(**r.__dict__) for r in self.reports],
            problems=[ProblemRecord(**p.__dict__) for p in self.problems],
        )


def _sniff(head: bytes) -> Literal["json", "xml", "html", "empty", "other"]:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        return "empty"
    low = text[:64].lower()
    if low.startswith(b"<!doctype html") or low.startswith(b"<html"):
        return "html"
    if text[:1] in (b"{", b"["):
        return "json"
    if text.startswith(b"null"):
        return "json"
    if text[:1] == b"<":
        return "xml"
    return "other"


def _read_limited(path: Path, limits: Limits) -> bytes:
    max_bytes = int(limits.max_file_mb * 1024 * 1024)
    try:
        # os-level calls: a buffered open() adds an isatty ioctl, a seek and a second stat per file
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError
            if info.st_size > max_bytes:
                raise InputError(path, f"file is {info.st_size} bytes, over the {limits.max_file_mb:g} MB limit")
            # Ask for what fstat() saw, then read on to the end in case the file grew meanwhile.
            chunks = [os.read(fd, info.st_size + 1)]
            total = len(chunks[0])
            while chunks[-1] and total <= max_bytes:
                chunks.append(os.read(fd, max_bytes + 1 - total))
                total += len(chunks[-1])
        finally:
            os.close(fd)
    except IsADirectoryError:
        raise InputError(path, "is a directory") from None
    except OSError as e:
        raise InputError(path, f"cannot read file ({e.strerror or e})") from None
    if total > max_bytes:
        raise InputError(path, f"file is over the {limits.max_file_mb:g} MB limit")
    return chunks[0] if len(chunks) <= 2 else b"".join(chunks)


_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_SYNTAX = bytes(b for b in range(256) if b not in b'"[{]}')
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STEPS = bytes.maketrans(b"()", b"\x02\x00")


def _json_depth_ok(data: bytes, max_depth: int) -> bool:
    """Whether brackets outside JSON strings nest at most `max_depth` deep, at C speed."""
    outside = _outside_strings(data)
    if outside.count(b"[") + outside.count(b"{") <= max_depth:
        return True
    brackets = left = outside.translate(_BRACKETS)
    if b"(" * (max_depth + 1) in brackets:
        return False
    # Each pass deletes the innermost pairs, so a balanced sequence is empty after as many passes
    # as it is deep (real reports are a handful of levels deep); a pair still there after
    # `max_depth` passes encloses more than `max_depth` levels.
    for _ in range(max_depth):
        shorter = left.replace(b"()", b"")
        if len(shorter) == len(left):
            break
        left = shorter
    else:
        if b"()" in left:
            return False
    # Unmatched brackets left over (truncated or invalid JSON): count the exact depth instead.
    return not left or _max_depth(brackets) <= max_depth


def _outside_strings(data: bytes) -> bytes:
    """The brackets of a JSON text that are not inside string literals."""
    if b"\\" in data:  # drop escape sequences (`\\"` among them) the way the JSON lexer reads them
        data = _ESCAPE.sub(b"", data)
    # Quotes and brackets only; then strings without brackets in them (nearly all) are `""`, and
    # dropping `""` pairs, wherever they fall, keeps the rest paired as before.
    syntax = data.translate(None, _NOT_SYNTAX).replace(b'""', b"")
    return b"".join(syntax.split(b'"')[::2]) if b'"' in syntax else syntax


def _max_depth(brackets: bytes) -> int:
    """Deepest running depth of a `(`/`)` sequence: opens become 2 and closes 0, so the depth
    after bracket i is the running sum minus i + 1."""
    if not brackets:
        return 0
    steps = brackets.translate(_STEPS)
    return max(map(operator.sub, itertools.accumulate(steps), range(1, len(steps) + 1)))


def load_document(
    path: Path, limits: Limits | None = None, display: str | None = None, raw: bytes | None = None
) -> Document | None:
    """Read a JSON or XML report (`raw`: its bytes, when already read). Returns None for an empty
    report (empty file, JSON null or []).

    Raises `UnknownFormat` for content that is neither, `ParseError` for broken JSON/XML.
    """
    limits = limits or Limits()
    name = display or str(path)
    if raw is None:
        raw = _read_limited(path, limits)
    kind = _sniff(raw[:256])
    if kind == "empty":
        return None
    if kind in ("html", "other"):
        raise UnknownFormat(name, "not a JSON or XML report")
    body = raw[3:] if raw.startswith(codecs.BOM_UTF8) else raw
    if kind == "json":
        # Both decoders stop at the interpreter's recursion limit, so decoding first is safe; the
        # nesting of what they built is then counted per container instead of per byte. Broken
        # JSON gets the byte-level count, so a too-deep text is reported as such either way.
        try:
            data = _decode_json(body, name)
        except ParseError:
            _check_json_depth(raw, body, name, limits.max_json_depth)
            raise
        if _nested_deeper(data, limits.max_json_depth):
            _check_json_depth(raw, body, name, limits.max_json_depth)
        if data is None or data == []:  # gitleaks, checkov and others write these when clean
            return None
        if not isinstance(data, (dict, list)):
            raise UnknownFormat(name, "JSON is not an object or array")
        return Document("json", data, name)
    return Document("xml", _parse_xml(_text(body, name), name), name)


def _check_json_depth(raw: bytes, body: bytes, name: str, max_depth: int) -> None:
    if not _json_depth_ok(raw, max_depth):
        _text(body, name)  # a text problem is reported first, as for any other file
        raise ParseError(name, f"JSON nested deeper than {max_depth} levels")


def _nested_deeper(data: Any, max_depth: int) -> bool:
    """Whether decoded JSON nests containers more than `max_depth` deep, counted one level at a
    time: `gc.get_referents` lists the values of all of a level's dicts and lists in one C call,
    and JSON's scalars refer to nothing, so they add nothing to the level after theirs."""
    level = [data] if type(data) in (dict, list) else []
    levels = 0
    deepest: list = []
    while level:
        levels += 1
        if levels > max_depth + 1:  # a container on level max_depth + 1 had values
            return True
        deepest, level = level, gc.get_referents(*level)
    # The last level holds containers (then it is the depth) or only scalars (one less).
    return levels > max_depth and any(type(v) in (dict, list) for v in deepest)


def _text(body: bytes, name: str) -> str:
    """UTF-8 text without NULs (`body` has no BOM: errors count bytes after it, as utf-8-sig does)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ParseError(name, f"not valid UTF-8 (byte {e.start})") from None
    if "\x00" in text:
        raise ParseError(name, "contains NUL bytes")
    return text


def _decode_json(body: bytes, name: str) -> Any:
    # msgspec builds the same objects as the json module from valid UTF-8 and strict JSON, about
    # twice as fast; whatever it refuses (bad UTF-8, NUL bytes, NaN, lone surrogates, broken
    # JSON) goes through the json module, which decides and words the error.
    if _msgspec_decode is not None and b"\x00" not in body:
        try:
            return _msgspec_decode(body)
        except (ValueError, RecursionError):  # msgspec.DecodeError, UnicodeDecodeError
            pass
    text = _text(body, name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ParseError(name, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise ParseError(name, "JSON nested too deeply") from None


def _parse_xml(text: str, name: str):
    from xml.etree.ElementTree import ParseError as XMLSyntaxError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        return fromstring(text, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise ParseError(
            name, f"XML refused: {type(e).__name__} (entities and external references are not allowed)"
        ) from None
    except XMLSyntaxError as e:
        raise ParseError(name, f"invalid XML: {e}") from None
    except RecursionError:
        raise ParseError(name, "XML nested too deeply") from None


def parse_file(
    path: Path, source: str | None = None, limits: Limits | None = None, raw: bytes | None = None
) -> tuple[Findings, str | None]:
    """Parse one report file (`raw`: its bytes, when already read). Returns (findings, format
    name or None for an empty report); `findings.skipped` notes the malformed items left out."""
    source = source or str(path)
    doc = load_document(path, limits, display=source, raw=raw)
    if doc is None:
        return Findings(), None
    mod = find_parser(doc)
    if mod is None:
        raise UnknownFormat(source, f"{doc.kind.upper()} content is not a report format secai knows")
    return run_parser(mod, doc, source), mod.NAME


class Ingest:
    """Collects findings from many inputs; keeps going on errors."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.result = IngestResult()
        self._budget = int(self.limits.max_run_mb * 1024 * 1024)
        self._tmp: list[tempfile.TemporaryDirectory] = []

    def add_path(self, path: str | Path, explicit: bool = True) -> None:
        p = Path(path)
        if p.is_symlink() and not explicit:
            self._problem(str(p), "symbolic link; skipped", "skipped")
            return
        if not p.exists():
            self._problem(str(p), "no such file or directory")
        elif p.is_dir():
            self._add_dir(p, label=str(p))
        elif archives.is_zip(p):
            self._add_zip(p, label=str(p))
        else:
            self._add_file(p, source=str(p), explicit=explicit)

    def _add_dir(self, d: Path, label: str) -> None:
        for parts, entry in _tree(d):
            rel = f"{label}/{'/'.join(parts)}"
            if entry.is_symlink():
                self._problem(rel, "symbolic link; skipped", "skipped")
                continue
            if entry.is_file():
                self._add_found(entry.path, rel)

    def _add_zip(self, z: str | Path, label: str) -> None:
        tmp = tempfile.TemporaryDirectory(prefix="secai-zip-")
        self._tmp.append(tmp)
        try:
            res = archives.extract_zip(z, tmp.name, self.limits, budget_bytes=self._budget)
        except InputError as e:
            self._problem(label, e.problem)
            return
        self._budget -= res.bytes_written
        for prob in res.problems:
            self._problem(prob.path.replace(str(z), label, 1), prob.problem)
        root = Path(tmp.name)
        for f in sorted(res.files):
            rel = f"{label}!{f.relative_to(root.resolve()).as_posix()}"
            self._add_file(f, source=rel, explicit=False)

    def _add_found(self, f: str, source: str) -> None:
        """A file found in a directory: an artifact zip (by content, whatever its name), a report,
        or a file to skip. A report is read once for both the zip check and the parse."""
        if _suffix(f) in _SKIP_SUFFIXES:
            if archives.is_zip(f):
                self._add_zip(f, label=source)
            else:
                self._problem(source, "not a report; skipped", "skipped")
            return
        try:
            raw = _read_limited(f, self.limits)
        except InputError as e:
            if archives.is_zip(f):  # a zip over the size limit for one report
                self._add_zip(f, label=source)
            else:
                self._problem(source, e.problem)
            return
        if raw.startswith(archives.ZIP_MAGIC):
            self._add_zip(f, label=source)
        else:
            self._add_file(f, source=source, explicit=False, raw=raw)

    def _add_file(self, f: str | Path, source: str, explicit: bool, raw: bytes | None = None) -> None:
        if not explicit and _suffix(f) in _SKIP_SUFFIXES:
            self._problem(source, "not a report; skipped", "skipped")
            return
        try:
            findings, fmt = parse_file(f, source, self.limits, raw=raw)
        except UnknownFormat as e:
            if explicit:
                self._problem(source, e.problem)
            elif _suffix(f) in (".json", ".sarif", ".xml"):
                self._problem(source, e.problem + "; skipped", "warning")
            else:
                self._problem(source, "not a report; skipped", "skipped")
            return
        except InputError as e:
            self._problem(source, e.problem)
            return
        if fmt is None:
            self._problem(source, "empty report (no findings)", "warning")
            self.result.reports.append(Report(source, "empty", 0))
            return
        self.result.reports.append(Report(source, fmt, len(findings)))
        self.result.findings.extend(findings)
        self._skipped_items(source, fmt, findings.skipped)

    def _skipped_items(self, source: str, fmt: str, notes: list[str]) -> None:
        """One warning per malformed item a parser left out (the first few, then a count)."""
        for note in notes[:_SKIPPED_NOTES]:
            self._problem(source, f"{fmt}: malformed item skipped, {note}", "warning")
        if len(notes) > _SKIPPED_NOTES:
            self._problem(source, f"{fmt}: {len(notes) - _SKIPPED_NOTES} more malformed items skipped", "warning")

    def _problem(self, path: str, message: str, level: Level = "error") -> None:
        self.result.problems.append(Problem(path, message, level))

    def finish(self) -> IngestResult:
        self.result.findings = dedupe(self.result.findings)
        for t in self._tmp:
            t.cleanup()
        self._tmp.clear()
        return self.result


def _suffix(path: str | Path) -> str:
    return os.path.splitext(path)[1].lower()


def _tree(root: Path) -> list[tuple[tuple[str, ...], os.DirEntry]]:
    """What `sorted(root.rglob("*"))` lists (symbolic links listed, not followed; unreadable
    directories left out), as path parts below `root` with their directory entries, whose file
    types come with the listing instead of a stat() per file."""
    found = []
    todo = [((), os.fspath(root))]
    while todo:
        parts, directory = todo.pop()
        try:
            with os.scandir(directory) as it:
                listing = list(it)
        except PermissionError:
            continue
        for entry in listing:
            found.append((item := (*parts, entry.name), entry))
            if entry.is_dir(follow_symlinks=False):
                todo.append((item, entry.path))
    found.sort(key=operator.itemgetter(0))
    return found


@contextlib.contextmanager
def _cyclic_gc_paused():
    # Parsing allocates many container objects that all stay alive until the end (decoded reports,
    # findings), so every collection the allocations trigger walks them and frees nothing; bulk
    # loaders pause the collector the same way. Reference counting still frees everything acyclic.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def collect(paths: list[str | Path], limits: Limits | None = None) -> IngestResult:
    """Parse every report under `paths` and return the deduplicated findings and the problems."""
    with _cyclic_gc_paused():
        ing = Ingest(limits)
        for p in paths:
            ing.add_path(p, explicit=True)
        return ing.finish()


def log_problems(result: IngestResult) -> None:
    for p in result.problems:
        if p.level == "error":
            log.error("%s", p)
        elif p.level == "warning":
            log.warning("%s", p)
        else:
            log.debug("%s", p)
