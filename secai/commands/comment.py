"""`secai-runner comment --repo owner/name --pr N [RUN_DIR]`: post or update the sticky PR comment."""

from __future__ import annotations

from pathlib import Path

from secai.config import Settings
from secai.errors import SecaiError
from secai.github.pr_comment import post_comment


def add_parser(sub) -> None:
    p = sub.add_parser("comment", help="post the report of a run folder as the PR's one secai comment")
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="run folder (default: the latest one)")
    p.add_argument("--repo", metavar="OWNER/NAME", help="default: the run folder's run.json")
    p.add_argument("--pr", type=int, help="pull request number (default: the run folder's run.json)")
    p.add_argument("--api-url", help="GitHub API base URL (default $GITHUB_API_URL or github.api_url)")
    p.add_argument("--dry-run", action="store_true", help="write comment.md and print its path; post nothing")
    p.add_argument(
        "--no-review",
        action="store_true",
        help="do not post verified fixes inside the diff as a review of suggestions (the comment shows them)",
    )
    p.add_argument(
        "--annotations",
        metavar="FILE",
        help="write workflow-command annotations for new findings on changed lines to FILE (escaped; "
        "the action prints it once commands are no longer stopped)",
    )
    p.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    from secai.github.client import GitHub
    from secai.report.build import write_reports
    from secai.run.files import read_run_meta
    from secai.run.folder import latest_run_dir

    run_dir = Path(args.run_dir) if args.run_dir else latest_run_dir(settings.runs_dir)
    if run_dir is None or not run_dir.is_dir():
        raise SecaiError(f"{run_dir or settings.runs_dir}: no run folder to report on")
    meta = read_run_meta(run_dir)
    repo = args.repo or meta.repo
    pr = args.pr or meta.pr
    if args.dry_run:
        write_reports(run_dir, settings, repo=repo)
        print(run_dir / "comment.md")
        return 0
    if not repo or not pr:
        raise SecaiError(f"{run_dir}: no repository/pull request to comment on; pass --repo and --pr")
    with GitHub(settings, api_url=args.api_url) as client:
        res = post_comment(
            run_dir, repo, int(pr), settings, client, review=not args.no_review, annotate=bool(args.annotations)
        )
    if args.annotations:
        from secai.run.folder import atomic_write_text

        atomic_write_text(Path(args.annotations), "".join(line + "\n" for line in res.annotations or []))
    if res.review is not None and res.review.action not in ("none", "skipped"):
        print(f"review {res.review.action}: {len(res.review.suggested)} suggestion(s)")
    print(f"{res.action}: {res.url}")
    return 0
