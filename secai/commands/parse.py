"""`secai-runner parse PATH...`: read reports, print normalized findings."""

from __future__ import annotations

import json
import sys

from secai.config import Settings
from secai.findings import finding_json
from secai.ingest.collect import collect, log_problems


def add_parser(sub) -> None:
    p = sub.add_parser("parse", help="parse scanner reports (files, folders, artifact zips)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="report file, folder, or artifact .zip")
    p.add_argument("--format", choices=["table", "json", "sarif"], default="table")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    result = collect(args.paths, settings.limits)
    log_problems(result)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "json":
            json.dump([finding_json(f) for f in result.findings], out, indent=2)
            out.write("\n")
        elif args.format == "sarif":
            from secai.report.sarif import to_sarif

            json.dump(to_sarif(result.findings), out, indent=2)
            out.write("\n")
        else:
            from secai.report.tables import print_findings_table

            print_findings_table(result.findings, file=out)
    finally:
        if out is not sys.stdout:
            out.close()
    return 1 if result.errors else 0
