"""Reading the files findings point to, from the source folder, with limits.

A finding's path is untrusted: an absolute path, `..`, or a symbolic link leading out of the
source folder is refused; a binary, non-UTF-8 or oversize file is skipped. Each problem is a
`SourceProblem` carrying the status (`no_source`) and a one-line reason.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class SourceProblem(Exception):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class SourceFile:
    path: str
    text: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()


def clean_relative(path: str) -> str:
    """`path` as a plain relative POSIX path inside the source folder; SourceProblem otherwise."""
    p = str(path).replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    parts = PurePosixPath(p).parts
    if not p or "\x00" in p or p.startswith("/") or (len(p) > 1 and p[1] == ":") or ".." in parts:
        raise SourceProblem(f"path {path!r} escapes --source; refused")
    return PurePosixPath(*parts).as_posix()


class SourceTree:
    def __init__(self, root: str | Path, max_bytes: int):
        self.root = Path(root)
        self.real_root = self.root.resolve()
        self.max_bytes = max_bytes
        self._cache: dict[str, SourceFile | SourceProblem] = {}

    def read(self, path: str) -> SourceFile:
        rel = clean_relative(path)
        got = self._cache.get(rel)
        if got is None:
            try:
                got = self._read(rel)
            except SourceProblem as e:
                got = e
            self._cache[rel] = got
        if isinstance(got, SourceProblem):
            raise got
        return got

    def _read(self, rel: str) -> SourceFile:
        full = self.root / rel
        try:
            real = full.resolve(strict=True)
        except (OSError, RuntimeError):
            raise SourceProblem(f"{rel} is not in --source") from None
        if not real.is_relative_to(self.real_root):
            raise SourceProblem(f"{rel} is a link that leads outside --source; refused")
        if not real.is_file():
            raise SourceProblem(f"{rel} is not a regular file")
        size = real.stat().st_size
        if size > self.max_bytes:
            raise SourceProblem(f"skipped: {rel} is {size} bytes, over fix.max_file_kb ({self.max_bytes // 1024} KB)")
        data = real.read_bytes()
        if b"\x00" in data[:8192]:
            raise SourceProblem(f"skipped: {rel} is a binary file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceProblem(f"skipped: {rel} is not UTF-8 text") from None
        return SourceFile(rel, text)

    def write(self, rel: str, expected: SourceFile, text: str) -> None:
        """Replace a file's content, only if it still is what was read (atomic rename)."""
        current = self._read(rel)
        if current.text != expected.text:
            raise SourceProblem(f"{rel} changed since it was read; not written")
        target = (self.root / rel).resolve()
        tmp = target.with_name(f".{target.name}.secai-{os.getpid()}.tmp")
        mode = target.stat().st_mode
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, target)
