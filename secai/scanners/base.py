"""The scanners secai runs itself, offline: to verify a proposed fix and to mine history.

Contract (one module per scanner, registered in `registry.py`; a `Scanner` is built from the
settings and is cheap to build):

- ``name``: the canonical tool name, the ``Finding.tool`` that secai's parser gives its reports
  (``"bandit"``, ``"semgrep"``, ``"checkov"``, ``"trivy"``);
- ``available() -> bool`` and ``unavailable_reason() -> str | None`` (why not, in one line);
- ``version() -> str | None``: the scanner's version, remembered per process and on disk per
  executable (path, size, modification time), so a warm run spawns no ``--version`` process;
- ``config_id() -> str``: a hash of the rules configuration ("" when the scanner has none);
  together with ``name`` and ``version()`` it keys cached results;
- ``covers(path) -> bool``: whether the scanner checks a file of that name (by name only);
- ``scan(root, files, *, timeout=None) -> ScanOutput``: ONE scanner process over many files
  (paths relative to ``root``; the process runs with ``cwd=root``, never through a shell, with a
  clean environment and the scanner's offline flags). Its JSON is read with secai's own parsers,
  so findings look exactly like those of an ingested report, with paths relative to ``root``,
  grouped by path. A crash, a timeout or output that is not the scanner's report raises
  ``ScannerError`` (one line); it never passes for an empty result;
- ``same_rule(a, b) -> bool``: whether two rule ids name the same rule (semgrep prefixes ids
  with the rules file's folder; trivy's SARIF and JSON spell ids differently).

Executables are looked up in this order: ``scanners.<name>.path`` in the settings, ``PATH``, then
``.venv-scanners/bin`` at the root of this checkout (or of the main git worktree), for development.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar

from secai.config import Settings, load_settings
from secai.errors import InputError, ScannerError
from secai.findings import Finding, dedupe

log = logging.getLogger("secai")

#: Files that configure a scanner rather than describe infrastructure or code: never scanned, so
#: a scanned tree can never change how its scanner behaves.
SCANNER_CONFIG_NAMES = frozenset(
    {
        ".bandit",
        ".checkov.yaml",
        ".checkov.yml",
        ".semgrepignore",
        ".semgrep.yml",
        ".semgrep.yaml",
        "trivy.yaml",
        "trivy.yml",
        ".trivyignore",
        ".trivyignore.yaml",
    }
)

_PROCESSES = {"scan": 0, "version": 0}


def processes_spawned() -> dict[str, int]:
    """Scanner processes this Python process has started, by purpose (for benchmarks and stats)."""
    return dict(_PROCESSES)


@dataclass
class ScanOutput:
    scanner: str
    version: str | None
    config_id: str
    #: Every scanned file (relative to the root) -> its findings, by line; [] when clean.
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    #: Files the scanner reported it could not read (its findings there may be incomplete).
    errors: dict[str, str] = field(default_factory=dict)
    #: Files not handed to the scanner, with the reason (not covered, path outside the root).
    skipped: dict[str, str] = field(default_factory=dict)
    processes: int = 0
    seconds: float = 0.0


def repo_roots() -> list[Path]:
    """This checkout's root and, inside a git worktree, the main worktree's root."""
    root = Path(__file__).resolve().parent.parent.parent
    roots = [root]
    git = root / ".git"
    if git.is_file():  # a worktree: "gitdir: <main>/.git/worktrees/<name>"
        try:
            line = git.read_text(encoding="utf-8").strip()
        except OSError:
            line = ""
        if line.startswith("gitdir:"):
            gitdir = Path(line[len("gitdir:") :].strip())
            if gitdir.parent.name == "worktrees":
                roots.append(gitdir.parent.parent.parent)
    return roots


def _version_cache_path(settings: Settings) -> Path:
    return settings.home_dir / "scanners" / "versions.json"


_VERSIONS: dict[str, str | None] = {}


#: Sets the address-space cap, then becomes the scanner (the cap survives exec). A separate
#: interpreter, not `preexec_fn`, because mining starts scanners from threads.
_CAP_THEN_EXEC = (
    "import os, resource, sys\n"
    "cap = int(sys.argv[1])\n"
    "try:\n"
    "    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))\n"
    "except (ValueError, OSError):\n"
    "    pass\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)
_OUT_OF_MEMORY = re.compile(r"out of memory|MemoryError|cannot allocate memory|Cannot allocate memory|bad_alloc")


def memory_capped(cmd: list[str], max_mb: int) -> list[str]:
    """`cmd` run with its address space capped at `max_mb` MB (Linux only; 0: as it is)."""
    if not max_mb or not sys.platform.startswith("linux"):
        return cmd
    return [sys.executable, "-c", _CAP_THEN_EXEC, str(max_mb * 1024 * 1024), *cmd]


class Scanner:
    """Base class; subclasses set the class attributes and implement `_command`."""

    name: ClassVar[str]
    #: The executable's file name.
    executable_name: ClassVar[str]
    #: The NAME of secai's parser that must recognise the scanner's output.
    parser: ClassVar[str]
    #: Exit statuses that mean "ran" (most scanners exit 1 when they found something).
    ok_status: ClassVar[frozenset[int]] = frozenset({0, 1})

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or load_settings()
        self._exe: Path | None = None
        self._why: str | None = None
        self._resolved = False

    # -- discovery -------------------------------------------------------------------------------
    @property
    def _own_settings(self):
        return getattr(self.settings.scanners, self.name)

    def _resolve(self) -> None:
        if self._resolved:
            return
        self._resolved = True
        configured = self._own_settings.path
        if configured:
            p = Path(configured).expanduser()
            if p.is_file() and os.access(p, os.X_OK):
                self._exe = p
            else:
                self._why = f"scanners.{self.name}.path {configured} is not an executable file"
            return
        found = shutil.which(self.executable_name)
        if found:
            self._exe = Path(found)
            return
        for root in repo_roots():
            p = root / ".venv-scanners" / "bin" / self.executable_name
            if p.is_file() and os.access(p, os.X_OK):
                self._exe = p
                return
        self._why = f"{self.executable_name} is not installed (not on PATH; set scanners.{self.name}.path)"

    def executable(self) -> Path | None:
        self._resolve()
        return self._exe

    def unavailable_reason(self) -> str | None:
        self._resolve()
        return self._why

    def available(self) -> bool:
        return self.unavailable_reason() is None

    # -- identity of results ---------------------------------------------------------------------
    def version(self) -> str | None:
        exe = self.executable()
        if exe is None:
            return None
        try:
            st = exe.stat()
        except OSError:
            return None
        key = f"{exe.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        if key in _VERSIONS:
            return _VERSIONS[key]
        cache_file = _version_cache_path(self.settings)
        try:
            cached = json.loads(cache_file.read_text(encoding="utf-8"))
            if not isinstance(cached, dict):
                cached = {}
        except (OSError, ValueError):
            cached = {}
        if isinstance(cached.get(key), str):
            _VERSIONS[key] = cached[key]
            return cached[key]
        version = self._ask_version(exe)
        _VERSIONS[key] = version
        if version:
            cached[key] = version
            try:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(cached, sort_keys=True), encoding="utf-8")
                os.replace(tmp, cache_file)
            except OSError:
                pass  # only a cache
        return version

    def _ask_version(self, exe: Path) -> str | None:
        _PROCESSES["version"] += 1
        with tempfile.TemporaryDirectory(prefix="secai-scanner-") as tmp:
            try:
                res = subprocess.run(
                    [str(exe), "--version"],
                    capture_output=True,
                    text=True,
                    errors="replace",
                    env=self._environment(exe, Path(tmp)),
                    cwd=tmp,
                    timeout=120,
                    stdin=subprocess.DEVNULL,
                )
            except (OSError, subprocess.TimeoutExpired):
                return None
        m = re.search(r"\d+(?:\.\d+)+", res.stdout + "\n" + res.stderr)
        return m.group(0) if m else None

    def config_id(self) -> str:
        return ""

    def same_rule(self, a: str, b: str) -> bool:
        return a == b

    # -- files -----------------------------------------------------------------------------------
    def covers(self, path: str) -> bool:
        name = PurePosixPath(path).name
        return bool(name) and name not in SCANNER_CONFIG_NAMES and self._covers(name)

    def _covers(self, name: str) -> bool:
        raise NotImplementedError

    # -- running ---------------------------------------------------------------------------------
    def home(self) -> Path:
        """The scanner's own folder under the data home (its HOME, caches, temp files)."""
        d = self.settings.home_dir / "scanners" / self.name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _environment(self, exe: Path, home: Path) -> dict[str, str]:
        """A clean environment: no proxies, tokens or user configuration reach the scanner."""
        return {
            "PATH": f"{exe.parent}{os.pathsep}{os.defpath}",
            "HOME": str(home),
            "TMPDIR": str(home),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "NO_COLOR": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8",
            **self._extra_env(),
        }

    def _extra_env(self) -> dict[str, str]:
        return {}

    def _command(self, exe: Path, files: list[str], out: Path) -> list[str]:
        """The argument list; `files` start with `./`; the report goes to `out` (a file, or a
        folder for scanners that name their own output file)."""
        raise NotImplementedError

    def _report_file(self, out: Path) -> Path:
        return out

    def _context(self) -> str:
        """Words naming the configuration, for error messages."""
        return ""

    def _empty_report(self, data: object) -> bool:
        """Whether decoded output that no parser recognises is the scanner's 'nothing scanned'."""
        return False

    def _file_errors(self, data: object) -> dict[str, str]:
        return {}

    def _prepare(self, root: Path, files: list[str], work: Path) -> Path:
        """The folder to scan (the root itself; trivy gets a copy holding only `files`)."""
        return root

    def scan(self, root: Path, files: list[str], *, timeout: float | None = None) -> ScanOutput:
        started = time.monotonic()
        why = self.unavailable_reason()
        exe = self.executable()
        if why or exe is None:
            raise ScannerError(self.name, why or "not available")
        root = Path(root)
        timeout = timeout or self.settings.scanners.timeout
        out = ScanOutput(self.name, self.version(), self.config_id())
        todo: list[str] = []
        for f in dict.fromkeys(files):
            p = PurePosixPath(f)
            if p.is_absolute() or ".." in p.parts or not p.parts or f != p.as_posix():
                out.skipped[f] = "path is not a plain relative path inside the scanned folder"
            elif not self.covers(f):
                out.skipped[f] = f"{self.name} does not scan this kind of file"
            elif (root / f).is_symlink() or not (root / f).is_file():
                out.skipped[f] = "not a regular file"
            else:
                todo.append(f)
        if not todo:
            out.seconds = time.monotonic() - started
            return out
        home = self.home()
        with tempfile.TemporaryDirectory(prefix="run-", dir=home) as work_dir:
            work = Path(work_dir)
            scan_root = self._prepare(root, todo, work)
            report = work / "out"
            cmd = self._command(exe, ["./" + f for f in todo], report)
            raw = self._run(cmd, scan_root, home, timeout, self._report_file(report), len(todo))
        out.processes = 1
        findings, data = self._parse(raw)
        wanted = set(todo)
        out.findings = {f: [] for f in todo}
        for finding in findings:
            path = finding.location.path if finding.location else ""
            if path in wanted:
                out.findings[path].append(finding)
            else:
                log.debug("%s reported %s, which was not asked for; ignored", self.name, path or "no file")
        for f in out.findings.values():
            f.sort(key=lambda x: ((x.location.start_line or 0) if x.location else 0, x.rule_id))
        out.errors = {p: e for p, e in self._file_errors(data).items() if p in wanted}
        out.seconds = time.monotonic() - started
        return out

    def _run(self, cmd: list[str], cwd: Path, home: Path, timeout: float, report: Path, n: int) -> bytes:
        _PROCESSES["scan"] += 1
        cap = self.settings.scanners.max_memory_mb
        try:
            proc = subprocess.Popen(
                memory_capped(cmd, cap),
                cwd=cwd,
                env=self._environment(Path(cmd[0]), home),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, so a timeout kills its children too
            )
        except OSError as e:
            raise ScannerError(self.name, f"cannot start {cmd[0]}: {e.strerror or e}") from None
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise ScannerError(self.name, f"timed out after {timeout:g}s scanning {n} files") from None
        status = proc.returncode
        if status not in self.ok_status:
            detail = _reported_error(report) or _last_line(err)
            if cap and _OUT_OF_MEMORY.search(err.decode("utf-8", "replace") if isinstance(err, bytes) else err or ""):
                detail = f"out of memory (scanners.max_memory_mb is {cap}): {detail}"
            raise ScannerError(self.name, f"exited with status {status}{self._context()}: {detail}")
        try:
            raw = report.read_bytes()
        except OSError:
            raise ScannerError(self.name, f"wrote no report (status {status}): {_last_line(err)}") from None
        return raw

    def _parse(self, raw: bytes) -> tuple[list[Finding], object]:
        from secai.ingest.collect import load_document
        from secai.ingest.parsers import find_parser, run_parser

        label = f"{self.name} output"
        try:
            doc = load_document(Path(label), self.settings.limits, display=label, raw=raw)
        except InputError as e:
            raise ScannerError(self.name, f"output is not its JSON report ({e.problem})") from None
        if doc is None:
            return [], None
        mod = find_parser(doc)
        if mod is None or mod.NAME != self.parser:
            if self._empty_report(doc.data):
                return [], doc.data
            raise ScannerError(self.name, f"output is not a {self.parser} report")
        try:
            findings = run_parser(mod, doc, label)
        except InputError as e:
            raise ScannerError(self.name, f"output could not be read: {e.problem}") from None
        return dedupe(findings), doc.data


def _reported_error(report: Path) -> str | None:
    """The first error message a failed scanner still wrote into its JSON report (semgrep does)."""
    try:
        if report.stat().st_size > 10 * 1024 * 1024:
            return None
        data = json.loads(report.read_bytes())
    except (OSError, ValueError):
        return None
    errors = data.get("errors") if isinstance(data, dict) else None
    for e in errors if isinstance(errors, list) else []:
        message = e.get("message") if isinstance(e, dict) else None
        if isinstance(message, str) and message.strip():
            return " ".join(message.split())[:300]
    return None


def _last_line(err: bytes | None) -> str:
    lines = [ln.strip() for ln in (err or b"").decode("utf-8", "replace").splitlines() if ln.strip()]
    return (lines[-1][:300] if lines else "no message").replace("\x1b", "")


def file_digest(paths: list[Path]) -> str:
    """sha256 over the names and contents of rules files (a configuration's identity)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()
