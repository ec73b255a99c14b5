"""Verified fixes as ONE pull-request review of ```suggestion blocks, one click to apply.

Only fixes the scanner verified, and only when every changed block sits on RIGHT-side lines inside
one hunk of the pull request's diff (checked against the files API's `patch` before posting:
GitHub rejects the whole review with 422 when a single line is outside). The review is made on
the scanned commit and only while the pull request still points at it. Re-runs replace secai's
earlier suggestions (found by a body that starts with the review marker and written by the
token's own user or bot) instead of adding more; an unchanged set is left alone. Fixes outside
the diff stay in the sticky comment.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from github import GithubException

from secai.config import Settings
from secai.errors import GitHubError
from secai.github.client import GitHub, describe
from secai.github.prdiff import PullDiff, pull_diff
from secai.report.escape import md_code, md_inline
from secai.report.fixes import FixRecord, parse_diff, read_fixes
from secai.run import files

log = logging.getLogger("secai")

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: Suggestions per review (a review with hundreds of comments is unreadable and slow to post).
MAX_SUGGESTIONS = 30


def review_marker(settings: Settings, repo: str | None) -> str:
    from secai.report.build import marker_comment

    return marker_comment(settings, repo).replace("<!-- ", "<!-- review:", 1)


@dataclass
class Suggestion:
    fingerprint: str
    path: str
    start: int
    end: int
    body: str

    def payload(self) -> dict:
        c = {"path": self.path, "body": self.body, "line": self.end, "side": "RIGHT"}
        if self.start != self.end:
            c.update(start_line=self.start, start_side="RIGHT")
        return c

    def key(self) -> tuple:
        return (self.path, self.start, self.end, self.body)


@dataclass
class ReviewPlan:
    suggestions: list[Suggestion] = field(default_factory=list)
    #: Verified fixes that touch lines outside the diff: shown in the sticky comment only.
    outside: list[str] = field(default_factory=list)


def _blocks(rec: FixRecord) -> list[tuple[str, int, int, list[str]]] | None:
    """(path, start, end, replacement lines) per changed block of the fix, on the lines of the
    scanned file; None when the diff cannot be read or a block cannot be anchored."""
    try:
        parsed = parse_diff(rec.diff)
    except ValueError:
        return None
    out = []
    for fd in parsed:
        for h in fd.hunks:
            if h.old:
                out.append((fd.path, h.old_start, h.old_start + len(h.old) - 1, h.new))
            elif h.before:  # a pure insertion: replace the line above with itself plus the new lines
                out.append((fd.path, h.old_start - 1, h.old_start - 1, [h.before[-1], *h.new]))
            else:
                return None
    return out


def _suggestion(new: list[str]) -> str | None:
    """A ```suggestion block holding exactly `new` (a longer fence when the code has backtick runs);
    None for code with control or bidi characters, which is never suggested."""
    text = "\n".join(new)
    if _UNSAFE.search(text):
        return None
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}suggestion\n{text}\n{fence}" if new else f"{fence}suggestion\n{fence}"


def _body(marker: str, rec: FixRecord, block: str) -> str:
    tool = md_inline(rec.tool, 40)
    rule = " " + md_code(rec.rule_id, 80) if rec.rule_id else ""
    return "\n".join(
        [marker, f"**secai** · {tool}{rule}: verified fix ({tool} no longer reports it after this edit).", "", block]
    )


def plan_review(fixes: dict[str, FixRecord], diff: PullDiff, marker: str, only: set[str] | None = None) -> ReviewPlan:
    """Which verified fixes become suggestions (`only`: restrict to these fingerprints)."""
    plan = ReviewPlan()
    for fp, rec in sorted(fixes.items()):
        if not rec.verified or (only is not None and fp not in only):
            continue
        blocks = _blocks(rec) or []
        texts = [_suggestion(new) for _, _, _, new in blocks]
        if (
            not blocks
            or None in texts
            or not all(diff.in_one_hunk(p, s, e) for p, s, e, _ in blocks)
            or len(plan.suggestions) + len(blocks) > MAX_SUGGESTIONS
        ):
            plan.outside.append(fp)
            continue
        plan.suggestions += [
            Suggestion(fp, p, s, e, _body(marker, rec, text)) for (p, s, e, _), text in zip(blocks, texts)
        ]
    return plan


@dataclass
class ReviewResult:
    action: str  # created | replaced | unchanged | removed | none | skipped
    suggested: list[str] = field(default_factory=list)
    deleted: int = 0
    note: str = ""


def _ours(client: GitHub, user, body: str, marker: str) -> bool:
    if not (body or "").startswith(marker) or user is None:
        return False
    login = client.login()
    return user.login == login if login is not None else user.type == "Bot"


def post_review(
    run_dir: str | Path, repo: str, number: int, settings: Settings, client: GitHub, only: set[str] | None = None
) -> ReviewResult:
    """Post (or replace) secai's suggestions on `repo#number` for the run folder's verified fixes."""
    meta = files.read_run_meta(run_dir)
    fixes = read_fixes(run_dir)
    marker = review_marker(settings, repo)
    pull = client.pull(repo, number)
    head = client.call(f"{repo}#{number}", lambda: pull.head.sha)
    existing = [
        c
        for c in client.call(f"{repo}#{number}: listing review comments", lambda: list(pull.get_review_comments()))
        if _ours(client, c.user, c.body, marker)
    ]
    if meta.head_sha and head != meta.head_sha:
        return ReviewResult("skipped", note=f"the pull request moved on from {meta.head_sha[:12]} to {head[:12]}")
    plan = ReviewPlan()
    if any(r.verified for r in fixes.values()):
        entries = client.call(f"{repo}#{number}: listing files", lambda: list(pull.get_files()))
        plan = plan_review(fixes, pull_diff(entries), marker, only)
    wanted = sorted(s.key() for s in plan.suggestions)
    have = sorted((c.path, c.start_line or c.line, c.line, c.body) for c in existing)
    suggested = sorted({s.fingerprint for s in plan.suggestions})
    if wanted == have:
        return ReviewResult("unchanged" if wanted else "none", suggested)
    deleted = 0
    for c in existing:
        try:
            c.delete()
            deleted += 1
        except GithubException as e:
            if e.status != 404:  # already gone is fine
                raise GitHubError(f"{repo}#{number}: deleting an earlier suggestion: {describe(e)}") from None
    if not plan.suggestions:
        return ReviewResult("removed", [], deleted)
    commit = client.call(f"{repo}: commit {head[:12]}", lambda: client.repo(repo).get_commit(head))
    n = len(suggested)
    body = (
        f"{marker}\n**secai**: {n} verified fix{'es' if n != 1 else ''} as suggestions. Each was applied to a copy "
        "of the file and checked by re-running the scanner that reported the finding; details in the secai comment."
    )
    client.call(
        f"{repo}#{number}: creating the review",
        lambda: pull.create_review(
            commit=commit, body=body, event="COMMENT", comments=[s.payload() for s in plan.suggestions]
        ),
    )
    log.info("%s#%d: review with %d suggestion(s) (%d earlier removed)", repo, number, len(plan.suggestions), deleted)
    return ReviewResult("replaced" if deleted else "created", suggested, deleted)
