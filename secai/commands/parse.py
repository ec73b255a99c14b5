"""`secai-runner parse PATH...`: read reports, print normalized findings."""

from __future__ import annotations

import json
import logging
import sys

from secai.config import Settings
from secai.findings import Finding
from secai.ingest import IngestResult, collect

log = logging.getLogger("secai")


def add_parser(sub) -> None:
    p = sub.add_parser("parse", help="parse scanner reports (files, folders, artifact zips)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="report file, folder, or artifact .zip")
    p.add_argument("--format", choices=["table", "json", "sarif"], default="table")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=run)


def finding_json(f: Finding) -> dict:
    """The stable JSON shape scripts rely on, plus the rest of the finding."""
    d = f.model_dump(mode="json")
    d["package"] = (
        None
        if f.package is None
        else {
            "ecosystem": f.package.ecosystem,
            "name": f.package.name,
            "version": f.package.version,
            "fixed_versions": f.package.fixed_versions,
            **({"purl": f.package.purl} if f.package.purl else {}),
        }
    )
    return d


def report_problems(result: IngestResult) -> None:
    for p in result.problems:
        if p.level == "error":
            log.error("%s", p)
        elif p.level == "warning":
            log.warning("%s", p)
        else:
            log.debug("%s", p)


def run(args, settings: Settings) -> int:
    result = collect(args.paths, settings.limits)
    report_problems(result)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "json":
            json.dump([finding_json(f) for f in result.findings], out, indent=2)
            out.write("\n")
        elif args.format == "sarif":
            from secai.sarif import to_sarif

            json.dump(to_sarif(result.findings), out, indent=2)
            out.write("\n")
        else:
            from secai.tables import print_findings_table

            print_findings_table(result.findings, file=out)
    finally:
        if out is not sys.stdout:
            out.close()
    return 1 if result.errors else 0
