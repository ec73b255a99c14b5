"""Read-only access to a git repository through the `git` command.

Every call runs `git` with a fixed environment: no system or global config, no hooks, no
fsmonitor, no replace refs, no network, no optional locks, and no discovery above the given
folder. Nothing here checks out, writes a ref or runs a filter; diffs are tree-to-tree without
textconv or external drivers, and blobs are read raw with `git cat-file`.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from secai.errors import GitError

_HEX = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")

#: Config given on every command line (command-line config wins over the repository's own).
_CONFIG = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.untrackedCache=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "log.showSignature=false",
    "protocol.allow=never",
    "core.quotePath=false",
)


def is_sha(text: str) -> bool:
    return bool(_HEX.match(text))


def git_env(source: Path) -> dict[str, str]:
    """The environment of every git call: only what git needs, nothing inherited that changes it."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.devnull,
        "XDG_CONFIG_HOME": os.devnull,
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_NO_LAZY_FETCH": "1",
        "GIT_ADVICE": "0",
        # `--source` itself is the repository: never a parent folder's repository.
        "GIT_CEILING_DIRECTORIES": str(source.parent),
    }


class Git:
    """One repository, read through `git` subprocesses."""

    def __init__(self, source: str | Path, *, timeout: float = 600.0):
        self.source = Path(source).resolve()
        self.timeout = timeout
        self._env = git_env(self.source)
        self._config = list(_CONFIG)
        if not self.source.is_dir():
            raise GitError(f"{source}: not a folder")
        try:
            self._check_repo()
        except GitError as e:
            if "dubious ownership" not in str(e):
                raise
            # Another user's checkout: trusted for this path only, which is safe here because nothing
            # run below executes repository config (no hooks, filters, fsmonitor, textconv, pager).
            self._config.append(f"safe.directory={self.source}")
            self._check_repo()

    def _check_repo(self) -> None:
        out = self.run(["rev-parse", "--is-bare-repository", "--is-shallow-repository", "--git-dir"])
        bare, shallow, git_dir = out.decode("utf-8", "replace").splitlines()[:3]
        self.bare = bare == "true"
        self.shallow = shallow == "true"
        self.git_dir = (self.source / git_dir).resolve()

    # -- running git -----------------------------------------------------------------------------
    def argv(self, args: Iterable[str]) -> list[str]:
        argv = ["git", "--no-pager", "-C", str(self.source)]
        for c in self._config:
            argv += ["-c", c]
        return argv + list(args)

    def run(self, args: list[str], *, input: bytes | None = None, ok: tuple[int, ...] = (0,)) -> bytes:
        try:
            proc = subprocess.run(
                self.argv(args),
                input=input,
                capture_output=True,
                env=self._env,
                timeout=self.timeout,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise GitError("git: not found on PATH (mining needs the git command)") from None
        except subprocess.TimeoutExpired:
            raise GitError(f"{self.source}: git {args[0]} took longer than {self.timeout:.0f}s") from None
        if proc.returncode not in ok:
            raise GitError(f"{self.source}: {_first_line(proc.stderr) or f'git {args[0]} failed'}")
        return proc.stdout

    def popen(self, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self._env
        )

    # -- questions -------------------------------------------------------------------------------
    def resolve(self, rev: str) -> str | None:
        """The commit id `rev` names, or None."""
        out = self.run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], ok=(0, 1))
        text = out.decode("ascii", "replace").strip()
        return text if is_sha(text) else None

    def symbolic_ref(self, name: str) -> str | None:
        out = self.run(["symbolic-ref", "--quiet", name], ok=(0, 1, 128))
        text = out.decode("utf-8", "replace").strip()
        return text or None

    def shallow_boundary(self) -> set[str]:
        """Commits whose parents are missing from a shallow clone."""
        if not self.shallow:
            return set()
        path = Path(self.run(["rev-parse", "--git-path", "shallow"]).decode().strip())
        path = path if path.is_absolute() else self.source / path
        try:
            return {line.strip() for line in path.read_text(encoding="ascii").splitlines() if is_sha(line.strip())}
        except OSError:
            return set()

    def blob_reader(self) -> BlobReader:
        return BlobReader(self)


class BlobReader:
    """Objects read through one long-lived `git cat-file --batch` process."""

    def __init__(self, git: Git):
        self.git = git
        self._proc: subprocess.Popen | None = None

    def _process(self) -> subprocess.Popen:
        if self._proc is None:
            self._proc = self.git.popen(["cat-file", "--batch"])
        return self._proc

    def read(self, oid: str, *, max_bytes: int | None = None) -> tuple[str, bytes | None]:
        """(type, content) of an object; content is None when the object is missing or larger than
        `max_bytes` (its bytes are read and dropped)."""
        if not is_sha(oid):
            raise GitError(f"{self.git.source}: not an object id: {oid[:80]!r}")
        proc = self._process()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(oid.encode("ascii") + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().decode("ascii", "replace").split()
        except OSError as e:
            raise GitError(f"{self.git.source}: git cat-file stopped ({e})") from None
        if len(header) == 2 and header[1] == "missing":
            return "missing", None
        if len(header) != 3:
            raise GitError(f"{self.git.source}: git cat-file answered {' '.join(header)[:80]!r} for {oid}")
        kind, size = header[1], int(header[2])
        if max_bytes is not None and size > max_bytes:
            remaining = size + 1
            while remaining:
                chunk = proc.stdout.read(min(remaining, 1 << 20))
                if not chunk:
                    raise GitError(f"{self.git.source}: git cat-file stopped while reading {oid}")
                remaining -= len(chunk)
            return kind, None
        data = proc.stdout.read(size + 1)
        return kind, data[:size]

    def sizes(self, oids: Iterable[str]) -> dict[str, int | None]:
        """Object sizes from one `git cat-file --batch-check` (None for a missing object)."""
        wanted = [o for o in dict.fromkeys(oids) if is_sha(o)]
        if not wanted:
            return {}
        out = self.git.run(["cat-file", "--batch-check"], input="".join(o + "\n" for o in wanted).encode())
        sizes: dict[str, int | None] = {}
        for line in out.decode("ascii", "replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2].isdigit():
                sizes[parts[0]] = int(parts[2])
            elif len(parts) == 2:
                sizes[parts[0]] = None
        return sizes

    def close(self) -> None:
        if self._proc is not None:
            proc, self._proc = self._proc, None
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            finally:
                if proc.stdout:
                    proc.stdout.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _first_line(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line:
            return line.removeprefix("fatal: ").removeprefix("error: ")[:300]
    return ""
