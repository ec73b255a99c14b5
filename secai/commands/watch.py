"""`secai-runner watch --repo owner/name`: poll for new completed runs and process each once."""

from __future__ import annotations

import logging
from pathlib import Path

from secai.config import Settings

log = logging.getLogger("secai")


def add_parser(sub) -> None:
    p = sub.add_parser("watch", help="poll a repository for new completed runs and process each once")
    p.add_argument("--repo", required=True, metavar="OWNER/NAME", help="repository to poll")
    p.add_argument("--interval", type=float, default=300.0, help="seconds between polls (default 300)")
    p.add_argument("--once", action="store_true", help="process what is new, then exit")
    p.add_argument("--workflow", help="workflow file name or id")
    p.add_argument("--branch", help="runs of this branch only")
    p.add_argument("--since", help="ignore runs created before: 2025-01-31, an ISO timestamp, or 7d")
    p.add_argument(
        "--artifact",
        action="append",
        dest="patterns",
        metavar="GLOB",
        help="artifact names to download (repeatable; default github.artifact_patterns)",
    )
    p.add_argument("--parse-only", action="store_true", help="fetch and parse; do not run the pipeline")
    p.add_argument("--comment", action="store_true", help="post the sticky comment on PR runs")
    p.add_argument(
        "--run-timeout",
        type=float,
        default=120.0,
        metavar="MINUTES",
        help="stop a run's processing after this long and record a failure (default 120)",
    )
    p.add_argument("--api-url", help="GitHub API base URL (default $GITHUB_API_URL or github.api_url)")
    p.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    from secai.errors import SecaiError
    from secai.github.client import GitHub
    from secai.watch import Watcher, default_processor, install_signal_handlers, parse_only

    if args.interval <= 0:
        raise SecaiError("--interval must be a positive number of seconds")
    if args.run_timeout <= 0:
        raise SecaiError("--run-timeout must be a positive number of minutes")
    client = GitHub(settings, api_url=args.api_url)

    def comment(run, run_dir: Path) -> None:
        if run.pr:
            from secai.github.pr_comment import post_comment

            res = post_comment(run_dir, args.repo, run.pr, settings, client)
            log.info("PR #%d: comment %s", run.pr, res.action)

    watcher = Watcher(
        args.repo,
        settings,
        client=client,
        process=parse_only if args.parse_only else default_processor(args.run_timeout * 60),
        interval=args.interval,
        on_processed=comment if args.comment else None,
        workflow=args.workflow,
        branch=args.branch,
        since=args.since,
        patterns=args.patterns,
    )
    install_signal_handlers(watcher)
    try:
        return watcher.run(once=args.once)
    finally:
        client.close()
