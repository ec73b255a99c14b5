"""What secai posts on a pull request: the review of suggestions for verified fixes inside the
diff (`secai.github.review`), the one sticky comment (which then says which fixes became
suggestions), and, for the Actions log, annotations for new findings on changed lines."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from secai.config import Settings
from secai.errors import GitHubError

log = logging.getLogger("secai")


@dataclass
class Posted:
    comment: object  # secai.github.client.CommentResult
    review: object | None = None  # secai.github.review.ReviewResult
    annotations: list[str] | None = None

    @property
    def action(self) -> str:
        return self.comment.action

    @property
    def url(self) -> str:
        return self.comment.url


def post_comment(
    run_dir: Path, repo: str, pr: int, settings: Settings, client=None, *, review: bool = True, annotate: bool = False
) -> Posted:
    """Post the review (when asked and there are verified fixes), then rebuild the run's report
    and upsert it on `repo#pr`; with `annotate`, also return the annotations for the new findings
    on lines the pull request changed."""
    from secai.github.client import GitHub
    from secai.report.build import marker_comment, write_reports

    own = client is None
    client = client or GitHub(settings)
    try:
        reviewed = None
        if review:
            from secai.github.review import post_review

            try:
                reviewed = post_review(run_dir, repo, pr, settings, client)
                if reviewed.note:
                    log.info("%s#%d: no review: %s", repo, pr, reviewed.note)
            except GitHubError as e:  # the comment still carries every fix
                log.warning("%s#%d: the review of suggestions was not posted: %s", repo, pr, e)
        suggested = set(reviewed.suggested) if reviewed else set()
        body, _ = write_reports(run_dir, settings, repo=repo, suggested=suggested)
        res = client.upsert_comment(repo, pr, body, marker_comment(settings, repo))
        notes = _annotations(run_dir, repo, pr, settings, client) if annotate else None
        return Posted(res, reviewed, notes)
    finally:
        if own:
            client.close()


def _annotations(run_dir: Path, repo: str, pr: int, settings: Settings, client) -> list[str]:
    from secai.github.prdiff import pull_diff
    from secai.report.annotations import annotations
    from secai.report.build import compare, load_run

    data = load_run(run_dir, settings)
    if data.baseline is None:
        return []  # without a base-branch run nothing is known to be new
    pull = client.pull(repo, pr)
    diff = pull_diff(client.call(f"{repo}#{pr}: listing files", lambda: list(pull.get_files())))
    lines, left = annotations(compare(data).new, diff.changed)
    if left:
        log.info("%d more new finding(s) on changed lines are in the comment (GitHub shows 10 per level)", left)
    return lines
