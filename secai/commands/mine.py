"""`secai-runner mine --source DIR`: fixes, introductions and suppressions in a repository's history."""

from __future__ import annotations

import json
import sys

from secai.config import Settings
from secai.errors import SecaiError


def add_parser(sub) -> None:
    p = sub.add_parser("mine", help="mine a git repository's history for fixed, introduced and suppressed findings")
    p.add_argument("--source", metavar="DIR", help="a git checkout (never changed; nothing in it is run)")
    p.add_argument("--branch", help="branch to walk, first parent only (default: the default branch)")
    p.add_argument("--since", help="only commits since a date (2025-01-31), an ISO time or a day count (30d)")
    p.add_argument("--max-commits", type=int, metavar="N", help="only the newest N commits")
    p.add_argument("--scanners", help="comma-separated: bandit,semgrep,checkov,trivy (default: the installed ones)")
    p.add_argument("--semgrep-config", metavar="RULES", help="local semgrep rules file or folder")
    p.add_argument(
        "--repo",
        metavar="OWNER/NAME",
        help="also compare consecutive processed workflow runs of the branch (from `fetch`)",
    )
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    from secai.history.mine import mine_all

    if not args.source and not args.repo:
        raise SecaiError("mine: give --source DIR (a git checkout), --repo OWNER/NAME, or both")
    if args.semgrep_config:
        settings.scanners.semgrep.config = args.semgrep_config
    names = [n.strip() for n in args.scanners.split(",") if n.strip()] if args.scanners else None
    result = mine_all(
        settings,
        source=args.source,
        repo=args.repo,
        branch=args.branch,
        since=args.since,
        max_commits=args.max_commits,
        scanner_names=names,
    )
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "json":
            json.dump(result.to_json(), out, indent=2)
            out.write("\n")
        else:
            from secai.report.tables import print_mined_events

            print_mined_events(result, file=out)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0
