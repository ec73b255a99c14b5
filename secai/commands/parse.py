"""`secai-runner parse PATH...`: read reports, print normalized findings; `--fail-on` gates CI."""

from __future__ import annotations

import json
import logging
import sys

from secai.config import Settings
from secai.exitcodes import Exit, worst
from secai.findings import finding_json
from secai.ingest.collect import collect, log_problems
from secai.report.gate import THRESHOLDS, describe, filter_severity, gate_hits, threshold

log = logging.getLogger("secai")


def add_gate_flag(p) -> None:
    p.add_argument(
        "--fail-on",
        choices=THRESHOLDS,
        default="none",
        metavar="SEVERITY",
        help="exit 1 when a live, not ignored finding is rated at or above SEVERITY "
        f"({', '.join(THRESHOLDS)}; default none). Suppressed and unrated findings never count",
    )


def add_parser(sub) -> None:
    p = sub.add_parser("parse", help="parse scanner reports (files, folders, artifact zips)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="report file, folder, or artifact .zip")
    p.add_argument(
        "--format", choices=["table", "json", "sarif"], default="table", help="output format (default table)"
    )
    p.add_argument(
        "--severity",
        choices=THRESHOLDS,
        default="none",
        metavar="SEVERITY",
        help="show only findings rated at or above SEVERITY (default: all)",
    )
    add_gate_flag(p)
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=run)


def no_reports(result, paths) -> bool:
    """Warn when the inputs held no scanner report at all (exit 2, not an empty success)."""
    if result.reports:
        return False
    log.warning("no scanner reports found in %s", ", ".join(map(str, paths)))
    return True


def run(args, settings: Settings) -> int:
    result = collect(args.paths, settings.limits)
    log_problems(result)
    shown = filter_severity(result.findings, threshold(args.severity))
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "json":
            json.dump([finding_json(f) for f in shown], out, indent=2)
            out.write("\n")
        elif args.format == "sarif":
            from secai.report.sarif import to_sarif

            json.dump(to_sarif(shown), out, indent=2)
            out.write("\n")
        else:
            from secai.report.tables import print_findings_table

            print_findings_table(shown, file=out)
    finally:
        if out is not sys.stdout:
            out.close()
    level = threshold(args.fail_on)
    hits = gate_hits(result.findings, level)
    if hits:
        log.error("%s", describe(hits, level, new_only=False))
    return worst(
        Exit.USAGE if result.errors or no_reports(result, args.paths) else Exit.OK,
        Exit.FINDINGS if hits else Exit.OK,
    )
