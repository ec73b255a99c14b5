"""`secai-runner analyze PATH...`: verdict, risk and remediation per finding (batched, cached)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO

from secai.config import Settings


def _at_least(n: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < n:
            raise argparse.ArgumentTypeError(f"must be at least {n}")
        return value

    return parse


def add_parser(sub) -> None:
    p = sub.add_parser("analyze", help="analyse findings with the local model (batched, cached)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="report file, folder, or artifact .zip")
    p.add_argument("--model", help="embedded (default), a local MLX folder, or a Hub id")
    p.add_argument("--batch-size", type=_at_least(1), help="findings generated together (default from config)")
    p.add_argument("--max-tokens", type=_at_least(8), help="answer length cap in tokens")
    p.add_argument("--no-cache", action="store_true", help="regenerate even when a cached analysis exists")
    p.add_argument(
        "--format",
        choices=["table", "json", "jsonl"],
        default="table",
        help="table (default), json (one array, as parse and fetch print) or jsonl (one object a line)",
    )
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=run)


def print_analysis_table(findings, analyses, file: IO[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from secai.log import escape_data

    by_fp = {f.fingerprint: f for f in findings}
    console = Console(file=file, width=None if file is None else 200)
    table = Table(title=f"{len(analyses)} findings analysed", show_lines=True)
    for col in ("finding", "verdict", "risk", "remediation"):
        table.add_column(col, overflow="fold")
    style = {"likely true positive": "red", "needs review": "yellow", "likely false positive": "green"}
    for a in analyses:
        f = by_fp.get(a.fingerprint)
        # Text objects: finding and model text is shown literally, never as rich markup.
        table.add_row(
            Text(escape_data(f.short() if f else a.fingerprint)),
            Text(a.verdict + (" (cached)" if a.cached else ""), style=style.get(a.verdict)),
            Text(escape_data(a.risk[:400]) + (" [facts truncated]" if a.truncated else "")),
            Text(escape_data(a.remediation[:400])),
        )
    console.print(table)


def run(args, settings: Settings) -> int:
    from secai.analysis.analyze import analyze_findings
    from secai.ingest.collect import collect, log_problems
    from secai.run.meta import RunMeta, may_train

    if args.batch_size is not None:
        settings.analyze.batch_size = args.batch_size
    if args.max_tokens is not None:
        settings.analyze.max_tokens = args.max_tokens
    from secai.commands.parse import no_reports
    from secai.exitcodes import Exit

    result = collect(args.paths, settings.limits)
    log_problems(result)
    if no_reports(result, args.paths):
        return Exit.USAGE
    trusted = may_train(RunMeta(event="local"), settings)[0]  # the operator's own files
    analyses = analyze_findings(
        result.findings,
        settings,
        model=args.model,
        no_cache=args.no_cache,
        trusted=trusted,
        progress=not getattr(args, "quiet", False),
    )
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "json":
            json.dump([a.model_dump(mode="json") for a in analyses], out, indent=2, ensure_ascii=False)
            out.write("\n")
        elif args.format == "jsonl":
            for a in analyses:
                out.write(json.dumps(a.model_dump(mode="json"), ensure_ascii=False) + "\n")
        else:
            print_analysis_table(result.findings, analyses, file=out if args.output else None)
    finally:
        if out is not sys.stdout:
            out.close()
    return Exit.USAGE if result.errors else Exit.OK
