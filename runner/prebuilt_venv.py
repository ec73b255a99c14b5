"""The prebuilt secai venv on a self-hosted runner: its stamp, and whether a job may use it.

    python3 runner/prebuilt_venv.py stamp ACTION_PATH        # print the stamp of this action
    python3 runner/prebuilt_venv.py check VENV ACTION_PATH   # exit 1 (one line why) if not usable

The stamp hashes what the venv was built from: the hash-pinned requirements/runner.txt,
pyproject.toml and secai's source. A job may use the venv only when it was built from exactly
this action (the stamp file in it matches) and it cannot have changed it: no file or folder in it
is owned by the job's user or writable by group or others. Run with the system Python (never the
venv's own): standard library only.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path

STAMP_FILE = "secai-stamp"


def stamp(action: Path) -> str:
    h = hashlib.sha256(f"{sys.version_info[:2]}".encode())
    files = [
        action / "requirements" / "runner.txt",
        action / "pyproject.toml",
        *sorted((action / "secai").rglob("*.py")),
    ]
    for p in files:
        h.update(p.relative_to(action).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def problem(venv: Path, action: Path) -> str | None:
    """Why the job may not use `venv` (None when it may)."""
    if not (venv / "bin" / "python").exists():
        return f"{venv}: no bin/python"
    try:
        recorded = (venv / STAMP_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return f"{venv}: no {STAMP_FILE} (build it with runner/setup-macos.sh --runner-venv)"
    if recorded != stamp(action):
        return f"{venv}: built from another version of secai or its lock; rebuild it with runner/setup-macos.sh --runner-venv"
    me = os.getuid()
    for root, dirs, files in os.walk(venv):
        for name in (".", *dirs, *files):
            path = Path(root, name)
            info = path.lstat()
            if info.st_uid == me:
                return f"{path}: owned by this job's user, who could have changed it"
            if not stat.S_ISLNK(info.st_mode) and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return f"{path}: writable by group or others"
    return None


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "stamp":
        print(stamp(Path(argv[1])))
        return 0
    if len(argv) == 3 and argv[0] == "check":
        why = problem(Path(argv[1]), Path(argv[2]))
        if why:
            print(f"secai: refusing the prebuilt venv: {why}", file=sys.stderr)
            return 1
        return 0
    print("\n".join(__doc__.strip().splitlines()[2:4]), file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
