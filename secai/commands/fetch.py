"""`secai-runner fetch --repo owner/name`: download, extract and parse new workflow runs' artifacts."""

from __future__ import annotations

import json
import sys

from secai.config import Settings


def add_parser(sub) -> None:
    p = sub.add_parser("fetch", help="download and parse the artifacts of new completed workflow runs")
    p.add_argument("--repo", required=True, metavar="OWNER/NAME", help="repository whose workflow runs to fetch")
    p.add_argument("--run-id", type=int, help="this run only (fetched even if processed before)")
    p.add_argument("--workflow", help="workflow file name (security.yml) or id")
    p.add_argument("--branch", help="runs of this branch only")
    p.add_argument("--pr", type=int, help="runs of this pull request only")
    p.add_argument("--since", help="runs created on or after: 2025-01-31, an ISO timestamp, or 7d")
    p.add_argument("--limit", type=int, default=10, help="at most this many new runs (default 10)")
    p.add_argument(
        "--artifact",
        action="append",
        dest="patterns",
        metavar="GLOB",
        help="artifact names to download (repeatable; default github.artifact_patterns)",
    )
    p.add_argument("--out", metavar="DIR", help="run folder (one run) or parent of run-<id> folders")
    p.add_argument("--api-url", help="GitHub API base URL (default $GITHUB_API_URL or github.api_url)")
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    p.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    from secai.github.fetch import fetch_runs

    summary = fetch_runs(
        args.repo,
        settings,
        run_id=args.run_id,
        workflow=args.workflow,
        branch=args.branch,
        pr=args.pr,
        since=args.since,
        limit=args.limit,
        out=args.out,
        patterns=args.patterns,
        api_url=args.api_url,
    )
    if args.format == "json":
        json.dump(summary.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from secai.log import escape_data

        table = Table(title=f"{args.repo}: {len(summary.runs)} run(s) fetched")
        for col in ("run", "branch", "event", "artifacts", "findings", "problems", "folder"):
            table.add_column(col)
        for r in summary.runs:
            table.add_row(
                str(r.id),
                escape(escape_data(r.head_branch or "")),
                escape(escape_data(r.event or "")),
                escape(escape_data(", ".join(r.artifacts))),
                str(r.findings),
                str(len(r.errors)),
                escape(r.run_dir or ""),
            )
        Console().print(table)
    from secai.exitcodes import Exit

    return Exit.OK if all(r.complete for r in summary.runs) else Exit.FAILED
