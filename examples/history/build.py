#!/usr/bin/env python3
"""Replay the development history of examples/vulnerable-app/ into a fresh git repository.

    python3 examples/history/build.py DEST             # build, then check the result
    python3 examples/history/build.py DEST --git-am    # same commits, applied by `git am` (slower)
    python3 examples/history/build.py DEST --no-check  # build only
    python3 examples/history/build.py --export REPO    # rewrite patches/ from REPO's history

The history is stored as `git format-patch` files in patches/ (one commit each, in order). By
default they are applied in memory, every resulting file checked against the blob id in its
patch's `index` line, and all commits are written with one `git fast-import`. With --git-am
each patch is applied by `git am --committer-date-is-author-date` instead; both give the same
commit ids. Everything that goes into a commit id is fixed by the patches: author and committer
(authors commit their own patches), dates (committer date = author date), message, tree and
parent. Neither the user's git configuration (global or system), the locale, the time zone,
the clock nor the umask is read, so the same ids come out on every machine.

After building, the final tree is compared with examples/vulnerable-app/ (every file, byte for
byte, and its executable bit) and HEAD with expected-head.txt; any mismatch exits non-zero.
Python 3.11 standard library only; needs git >= 2.28 (for `init -b`).
"""

import argparse
import email
import email.header
import email.utils
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
PATCHES = HERE / "patches"
EXPECTED_HEAD = HERE / "expected-head.txt"
APP = HERE.parent / "vulnerable-app"
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}

# Options on every git call: nothing from the user's configuration changes what gets written.
# fmt: off
GIT_OPTIONS = [
    "-c", "core.autocrlf=false",
    "-c", "core.eol=lf",
    "-c", "core.safecrlf=false",
    "-c", "commit.gpgsign=false",
    "-c", "gc.auto=0",
    "-c", "am.threeWay=false",
    "-c", "am.keepcr=false",
    "-c", "user.name=vulnerable-app history",
    "-c", "user.email=history@example.com",
]
# fmt: on


def git_env(**extra: str) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "LC_ALL": "C",
        "LANG": "C",
        "TZ": "UTC",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    env.update(extra)
    return env


def git(repo: pathlib.Path, *args: str, env: dict | None = None, stdin: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *GIT_OPTIONS, "-C", str(repo), *args], env=env or git_env(), input=stdin, capture_output=True
    )
    if proc.returncode != 0:
        sys.exit(f"build.py: git {args[0]} failed:\n{proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode()


def patch_files() -> list[pathlib.Path]:
    files = sorted(PATCHES.glob("*.patch"))
    if not files:
        sys.exit(f"build.py: no patches in {PATCHES}")
    return files


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Patch:
    """One `git format-patch` file: the commit's metadata and its file diffs."""

    def __init__(self, path: pathlib.Path):
        self.name = path.name
        text = path.read_bytes().decode("utf-8")
        head, _, rest = text.partition("\n\n")
        headers = email.message_from_string(head.split("\n", 1)[1] + "\n")

        def header(key: str) -> str:
            return str(email.header.make_header(email.header.decode_header(headers[key] or "")))

        self.author = email.utils.parseaddr(header("From"))
        stamp = email.utils.parsedate_tz(header("Date"))
        if not all(self.author) or stamp is None or stamp[9] is None:
            sys.exit(f"build.py: {self.name}: needs From: and Date: headers (with a time zone)")
        offset = stamp[9]
        sign = "-" if offset < 0 else "+"
        self.when = f"{email.utils.mktime_tz(stamp)} {sign}{abs(offset) // 3600:02d}{abs(offset) % 3600 // 60:02d}"
        subject = re.sub(r"^\[PATCH[^\]]*\]\s*", "", " ".join(header("Subject").split()))
        log, sep, diffs = rest.partition("\n---\n")
        if not sep:  # no message body: the separator follows the headers' blank line
            log, diffs = "", rest.partition("---\n")[2]
        body = log.strip("\n")
        self.message = subject + "\n" + (f"\n{body}\n" if body else "")
        chunks = re.split(r"^(?=diff --git )", diffs, flags=re.M)
        self.files = [FileDiff(chunk, self.name) for chunk in chunks if chunk.startswith("diff --git ")]


class FileDiff:
    """One file's part of a patch: paths, mode, blob ids and unified-diff hunks."""

    def __init__(self, chunk: str, patch: str):
        self.patch = patch
        lines = chunk.split("\n")
        m = re.match(r"diff --git a/(.+) b/(.+)$", lines[0])
        if not m or '"' in lines[0]:
            sys.exit(f"build.py: {patch}: cannot read {lines[0]!r}")
        self.old, self.new = m.group(1), m.group(2)
        self.mode, self.created, self.deleted = None, False, False
        self.old_id = self.new_id = None
        i = 1
        while i < len(lines) and not lines[i].startswith(("@@", "--- ", "Binary files", "GIT binary patch")):
            line = lines[i]
            if line.startswith(("new file mode ", "new mode ")):
                self.mode = line.rsplit(" ", 1)[1]
                self.created = line.startswith("new file")
            elif line.startswith("deleted file mode"):
                self.deleted = True
            elif line.startswith("rename from "):
                self.old = line[len("rename from ") :]
            elif line.startswith("rename to "):
                self.new = line[len("rename to ") :]
            elif line.startswith("index "):
                parts = line.split()
                self.old_id, self.new_id = parts[1].split("..")
                if len(parts) > 2:
                    self.mode = self.mode or parts[2]
            i += 1
        if i < len(lines) and lines[i].startswith(("Binary files", "GIT binary patch")):
            sys.exit(f"build.py: {patch}: binary patches are not supported ({self.new})")
        if i < len(lines) and lines[i].startswith("--- "):
            i += 2
        self.hunks = []
        while i < len(lines) and lines[i].startswith("@@"):
            m = re.match(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", lines[i])
            old_start, old_len = int(m.group(1)), int(m.group(2) or 1)
            body, i = [], i + 1
            while i < len(lines) and lines[i][:1] in (" ", "+", "-", "\\"):
                body.append(lines[i])
                i += 1
            self.hunks.append((old_start, old_len, body))

    def apply(self, old: bytes) -> bytes:
        """The new content: `old` with the hunks applied exactly (every context line must match)."""
        src = old.decode("utf-8").splitlines(keepends=True)
        out: list[str] = []
        pos = 0
        for old_start, old_len, body in self.hunks:
            start = old_start - 1 if old_len else old_start
            if start < pos:
                sys.exit(f"build.py: {self.patch}: overlapping hunks in {self.new}")
            out.extend(src[pos:start])
            pos = start
            last = None
            for line in body:
                tag = line[0]
                if tag == "\\":  # "\ No newline at end of file" for the line before
                    if last in (" ", "+") and out and out[-1].endswith("\n"):
                        out[-1] = out[-1][:-1]
                    continue
                text = line[1:]
                if tag in " -":
                    if pos >= len(src) or src[pos].rstrip("\n") != text:
                        sys.exit(f"build.py: {self.patch}: {self.new} does not apply at line {pos + 1}")
                    pos += 1
                if tag in " +":
                    out.append(text + "\n")
                last = tag
        out.extend(src[pos:])
        return "".join(out).encode("utf-8")


def prepare(dest: pathlib.Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        sys.exit(f"build.py: {dest} exists and is not an empty directory; refusing to touch it")
    dest.mkdir(parents=True, exist_ok=True)
    git(dest, "init", "-q", "-b", "main")


def build(dest: pathlib.Path) -> str:
    """Apply the patches in memory and write every commit with one `git fast-import`."""
    prepare(dest)
    files: dict[str, tuple[str, bytes]] = {}  # path -> (mode, content) at the current commit
    stream = bytearray()
    for n, patch_file in enumerate(patch_files(), 1):
        patch = Patch(patch_file)
        changes = []
        for diff in patch.files:
            for path in {diff.old, diff.new}:
                if '"' in path or "\n" in path or path.startswith(" "):
                    sys.exit(f"build.py: {patch.name}: unsupported path {path!r}")
            if diff.deleted:
                del files[diff.old]
                changes.append(f"D {diff.old}\n".encode())
                continue
            mode, old = ("100644", b"") if diff.created else files.pop(diff.old)
            if not diff.created and diff.old_id and blob_id(old) != diff.old_id:
                sys.exit(f"build.py: {patch.name}: {diff.old} is not the file this patch was made against")
            if diff.old != diff.new:
                changes.append(f"D {diff.old}\n".encode())
            data = diff.apply(old)
            if diff.new_id and blob_id(data) != diff.new_id:
                sys.exit(f"build.py: {patch.name}: {diff.new} came out as {blob_id(data)}, not {diff.new_id}")
            mode = diff.mode or mode
            files[diff.new] = (mode, data)
            changes.append(b"M %s inline %s\ndata %d\n%s\n" % (mode.encode(), diff.new.encode(), len(data), data))
        name, mail = patch.author
        ident = f"{name} <{mail}> {patch.when}".encode()
        message = patch.message.encode()
        stream += b"commit refs/heads/main\nmark :%d\n" % n
        stream += b"author %s\ncommitter %s\ndata %d\n%s" % (ident, ident, len(message), message)
        if n > 1:
            stream += b"from :%d\n" % (n - 1)
        stream += b"".join(changes) + b"\n"
    git(dest, "fast-import", "--quiet", "--done", stdin=bytes(stream) + b"done\n")
    git(dest, "reset", "-q", "--hard", "main")
    return git(dest, "rev-parse", "HEAD").strip()


def build_with_am(dest: pathlib.Path) -> str:
    """The same history applied patch by patch with `git am` (each author commits their own patch)."""
    prepare(dest)
    for patch_file in patch_files():
        name, mail = Patch(patch_file).author
        env = git_env(GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=mail)
        git(
            dest,
            "am",
            "-q",
            "--committer-date-is-author-date",
            "--no-3way",
            "--whitespace=nowarn",
            str(patch_file),
            env=env,
        )
    return git(dest, "rev-parse", "HEAD").strip()


def check(dest: pathlib.Path, app: pathlib.Path, head: str) -> bool:
    ok = True
    tree = {}
    for entry in git(dest, "ls-tree", "-r", "-z", "HEAD").split("\0"):
        if entry:
            meta, path = entry.split("\t", 1)
            mode, _, blob = meta.split()
            tree[path] = (mode, blob)
    disk = {}
    for f in sorted(app.rglob("*")):
        rel = f.relative_to(app)
        if (f.is_dir() and not f.is_symlink()) or IGNORED_PARTS & set(rel.parts) or f.suffix == ".pyc":
            continue
        if f.is_symlink():
            disk[rel.as_posix()] = ("120000", blob_id(os.readlink(f).encode()))
        else:
            disk[rel.as_posix()] = ("100755" if os.access(f, os.X_OK) else "100644", blob_id(f.read_bytes()))
    for path in sorted(tree.keys() | disk.keys()):
        if path not in disk:
            problem = f"{path} is in the history's final tree but not in {app}"
        elif path not in tree:
            problem = f"{path} is in {app} but not in the history's final tree"
        elif tree[path][1] != disk[path][1]:
            problem = f"{path} differs (history {tree[path][1][:12]}, on disk {disk[path][1][:12]})"
        elif tree[path][0] != disk[path][0]:
            problem = f"{path} has mode {tree[path][0]} in the history, {disk[path][0]} on disk"
        else:
            continue
        print(f"MISMATCH: {problem}", file=sys.stderr)
        ok = False
    if ok:
        print(f"final tree matches {app} ({len(tree)} files)")
    if EXPECTED_HEAD.exists():
        expected = EXPECTED_HEAD.read_text().split()[0]
        if expected != head:
            print(
                f"MISMATCH: HEAD is {head}, expected-head.txt says {expected} (if patches/ was changed on "
                "purpose, `build.py --export` refreshes it)",
                file=sys.stderr,
            )
            ok = False
        else:
            print(f"HEAD matches expected-head.txt ({head})")
    return ok


def export(repo: pathlib.Path) -> None:
    """Rewrite patches/ (and expected-head.txt) from REPO's history, e.g. after a `git rebase -i`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "patches"
        git(
            repo,
            "format-patch",
            "-q",
            "--root",
            "-M",
            "-N",
            "--no-signature",
            "--zero-commit",
            "--full-index",
            "-o",
            str(out),
            "HEAD",
        )
        if PATCHES.exists():
            shutil.rmtree(PATCHES)
        shutil.copytree(out, PATCHES)
        head = build(pathlib.Path(tmp) / "repo")
    EXPECTED_HEAD.write_text(head + "\n")
    print(f"wrote {len(patch_files())} patches to {PATCHES}; expected HEAD {head}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dest", nargs="?", type=pathlib.Path, help="where to create the repository (new or empty)")
    ap.add_argument("--git-am", action="store_true", help="apply the patches with `git am` (slower, same result)")
    ap.add_argument("--no-check", action="store_true", help="skip the comparison with the app and expected-head.txt")
    ap.add_argument("--app", type=pathlib.Path, default=APP, help="folder the final tree must equal")
    ap.add_argument("--export", type=pathlib.Path, metavar="REPO", help="rewrite patches/ from REPO and exit")
    args = ap.parse_args()
    if args.export:
        export(args.export.resolve())
        return
    if not args.dest:
        ap.error("DEST is required")
    dest = args.dest.resolve()
    head = build_with_am(dest) if args.git_am else build(dest)
    print(f"built {git(dest, 'rev-list', '--count', 'HEAD').strip()} commits in {dest}; HEAD {head}")
    if not args.no_check and not check(dest, args.app.resolve(), head):
        sys.exit("build.py: the replayed history does not match (see the MISMATCH lines above)")


if __name__ == "__main__":
    main()
