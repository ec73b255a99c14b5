"""Small git repositories for tests: commits with fixed authors and dates, built with the git CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Dev One",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev One",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.devnull,
}


class Repo:
    def __init__(self, path: Path, branch: str = "main"):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.git("init", "-q", "-b", branch)

    def git(self, *args: str, date: int | None = None) -> str:
        env = dict(ENV)
        if date is not None:
            stamp = f"{1_700_000_000 + date * 86_400} +0200"
            env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
        out = subprocess.run(["git", *args], cwd=self.path, env=env, check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def commit(
        self, message: str, files: dict[str, str | None] | None = None, renames: dict[str, str] | None = None
    ) -> str:
        """Write (or delete, with None) files, apply renames, commit everything; returns the id."""
        for old, new in (renames or {}).items():
            (self.path / new).parent.mkdir(parents=True, exist_ok=True)
            self.git("mv", old, new)
        for name, text in (files or {}).items():
            p = self.path / name
            if text is None:
                self.git("rm", "-q", name)
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text, encoding="utf-8")
                self.git("add", name)
        self.n += 1
        self.git("commit", "-q", "--allow-empty", "-m", message, date=self.n)
        return self.git("rev-parse", "HEAD")


def tree_digest(root: Path) -> str:
    """One hash over every file (name, mode, bytes) and link under root, .git included."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            p = Path(dirpath) / name
            st = p.lstat()
            h.update(f"{p.relative_to(root)}\0{st.st_mode}\0{st.st_mtime_ns}\0".encode())
            if p.is_symlink():
                h.update(os.readlink(p).encode())
            elif p.is_file():
                h.update(p.read_bytes())
        h.update(f"{Path(dirpath).relative_to(root)}:{sorted(dirnames)}".encode())
    return h.hexdigest()
