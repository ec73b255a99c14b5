"""The commits of a branch (first parent only, oldest first), what each changed, and who wrote it.

One `git rev-list` lists the commits, one `git diff-tree --stdin` lists every commit's changed
files against its first parent (renames followed with `-M`), and commit objects are read raw
through `git cat-file`. Nothing is checked out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from secai.errors import SecaiError
from secai.history.git import BlobReader, Git, GitError, is_sha

_AUTHOR = re.compile(rb"^(.*) <(.*)> (-?\d+) ([+-])(\d\d)(\d\d)$")
#: Regular files (plain and executable); links and submodules are never read.
FILE_MODES = ("100644", "100755")


@dataclass(frozen=True)
class Change:
    """One changed file of a commit against its first parent."""

    status: str  # A (added), M, D (deleted), R (renamed), C (copied), T (type changed)
    old_path: str | None
    new_path: str | None
    old_blob: str | None
    new_blob: str | None


@dataclass
class Commit:
    id: str
    parent: str | None
    merge: bool = False
    #: Its parents are missing (the edge of a shallow clone): nothing to compare it with.
    boundary: bool = False
    changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class CommitMeta:
    date: str  # author date, ISO 8601 with the author's offset
    author_email: str
    subject: str


def resolve_branch(git: Git, branch: str | None) -> tuple[str, str]:
    """(name, commit id) of the branch to mine: `branch`, or the default branch (origin's HEAD when
    known, else the checked-out branch)."""
    if branch:
        if branch.startswith("-") or "\0" in branch or len(branch) > 250:
            raise SecaiError(f"{git.source}: {branch[:80]!r} is not a branch name")
        for ref in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}", f"refs/tags/{branch}", branch):
            sha = git.resolve(ref)
            if sha:
                return branch, sha
        raise SecaiError(f"{git.source}: branch {branch!r} does not exist")
    origin = git.symbolic_ref("refs/remotes/origin/HEAD")
    if origin:
        name = origin.removeprefix("refs/remotes/origin/")
        for ref in (f"refs/heads/{name}", origin):
            sha = git.resolve(ref)
            if sha:
                return name, sha
    sha = git.resolve("HEAD")
    if sha is None:
        raise SecaiError(f"{git.source}: the repository has no commits")
    head = git.symbolic_ref("HEAD")
    return (head.removeprefix("refs/heads/") if head else sha[:12]), sha


def parse_since(since: str | None) -> str | None:
    """`2025-01-31`, an ISO timestamp or `30d` → an ISO timestamp for `git rev-list --since`."""
    if not since:
        return None
    s = since.strip()
    try:
        if m := re.fullmatch(r"(\d{1,5})d", s):
            return (datetime.now(UTC) - timedelta(days=int(m.group(1)))).strftime("%Y-%m-%dT%H:%M:%SZ")
        if "T" in s:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
            return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return date.fromisoformat(s).isoformat() + "T00:00:00Z"
    except ValueError:
        raise SecaiError(
            f"--since {since!r}: expected a date (2025-01-31), an ISO timestamp or a day count (30d)"
        ) from None


def list_commits(git: Git, head: str, *, since: str | None = None, max_commits: int | None = None) -> list[Commit]:
    """First-parent commits reachable from `head`, oldest first (the newest `max_commits` of them)."""
    args = ["rev-list", "--first-parent", "--reverse", "--parents"]
    if max_commits:
        args.append(f"--max-count={int(max_commits)}")
    if since:
        args.append(f"--since={parse_since(since)}")
    out = git.run(args + ["--end-of-options", head])
    boundary = git.shallow_boundary()
    commits = []
    for line in out.decode("ascii", "replace").splitlines():
        ids = line.split()
        if not ids or not all(is_sha(i) for i in ids):
            continue
        commits.append(
            Commit(id=ids[0], parent=ids[1] if len(ids) > 1 else None, merge=len(ids) > 2, boundary=ids[0] in boundary)
        )
    return commits


def read_changes(git: Git, commits: list[Commit]) -> None:
    """Fill in each commit's changed files (against its first parent; a root commit adds all)."""
    wanted = [c for c in commits if not c.boundary]
    if not wanted:
        return
    lines = "".join(f"{c.id} {c.parent}\n" if c.parent else f"{c.id}\n" for c in wanted).encode()
    out = git.run(
        ["diff-tree", "--stdin", "-r", "-z", "-M", "--root", "--always", "--no-textconv", "--no-ext-diff"],
        input=lines,
    )
    by_id = {c.id: c for c in wanted}
    tokens = out.split(b"\0")
    current: Commit | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if not tok:
            continue
        if tok.startswith(b":"):
            meta = tok[1:].decode("ascii", "replace").split()
            if len(meta) != 5 or current is None:
                raise GitError(f"{git.source}: unexpected git diff-tree output near {tok[:60]!r}")
            old_mode, new_mode, old_blob, new_blob, status = meta
            n_paths = 2 if status[0] in "RC" else 1
            paths = [_path(p) for p in tokens[i : i + n_paths]]
            i += n_paths
            old_path, new_path = (paths[0], paths[1]) if n_paths == 2 else (paths[0], paths[0])
            old_ok = old_mode in FILE_MODES and set(old_blob) != {"0"}
            new_ok = new_mode in FILE_MODES and set(new_blob) != {"0"}
            current.changes.append(
                Change(
                    status=status[0],
                    old_path=old_path if old_ok else None,
                    new_path=new_path if new_ok else None,
                    old_blob=old_blob if old_ok else None,
                    new_blob=new_blob if new_ok else None,
                )
            )
        else:
            text = tok.decode("ascii", "replace").strip()
            current = by_id.get(text)
            if current is None:
                raise GitError(f"{git.source}: unexpected git diff-tree output near {tok[:60]!r}")


def _path(raw: bytes) -> str:
    # Paths are untrusted bytes; undecodable ones keep their bytes as surrogates (round-trippable).
    return raw.decode("utf-8", "surrogateescape")


def read_meta(reader: BlobReader, commit: str) -> CommitMeta:
    kind, data = reader.read(commit, max_bytes=1 << 20)
    if kind != "commit" or data is None:
        return CommitMeta(date="", author_email="", subject="")
    head, _, message = data.partition(b"\n\n")
    date_text, email = "", ""
    for line in head.split(b"\n"):
        if line.startswith(b"author "):
            m = _AUTHOR.match(line[len(b"author ") :])
            if m:
                email = m.group(2).decode("utf-8", "replace")
                sign = -1 if m.group(4) == b"-" else 1
                tz = timezone(sign * timedelta(hours=int(m.group(5)), minutes=int(m.group(6))))
                try:
                    date_text = datetime.fromtimestamp(int(m.group(3)), tz).isoformat()
                except (OverflowError, OSError, ValueError):
                    date_text = ""
            break
    subject = ""
    for line in message.decode("utf-8", "replace").splitlines():
        if line.strip():
            subject = line.strip()
            break
    return CommitMeta(date=date_text, author_email=email, subject=subject)


def author_key(git: Git, head: str) -> str:
    """The key of author pseudonyms: the repository's first commit (empty in a shallow clone)."""
    if git.shallow:
        return ""
    roots = git.run(["rev-list", "--max-parents=0", "--end-of-options", head]).decode("ascii", "replace").split()
    return min(roots) if roots else ""


def author_id(email: str, key: str) -> str:
    """A pseudonym for an author: stable within one repository (keyed by its first commit), no name
    or address kept. Pseudonymous, not anonymous: anyone with the repository can recompute it."""
    if not email:
        return ""
    return hashlib.sha256(f"secai-author\0{key}\0{email.strip().lower()}".encode()).hexdigest()[:12]
