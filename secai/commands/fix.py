"""`secai-runner fix PATH... --source DIR`: propose fixes and verify each with its scanner."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

from secai.config import Settings
from secai.errors import SecaiError

log = logging.getLogger("secai")


def add_parser(sub) -> None:
    p = sub.add_parser("fix", help="propose fixes for findings; the reporting scanner verifies each")
    p.add_argument("paths", nargs="+", metavar="PATH", help="report file, folder, or artifact .zip")
    p.add_argument("--source", default=".", metavar="DIR", help="the checked-out code the findings point into")
    p.add_argument("--model", help="base model: embedded, a local MLX folder, or a Hub id")
    p.add_argument("--adapter", metavar="DIR", help="a LoRA adapter folder for the model")
    p.add_argument(
        "--memory",
        metavar="FILE",
        help="the team's earlier fixes to show the model as examples (a dataset's memory.jsonl; "
        "default: the one in --adapter)",
    )
    p.add_argument(
        "--provider",
        action="append",
        choices=["dependency", "codemod", "model"],
        help="only this provider (repeatable; default: fix.providers)",
    )
    p.add_argument("--apply", action="store_true", help="write the verified fixes into --source")
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.add_argument(
        "--out", metavar="RUN_DIR", help="folder for fixes.jsonl and fixes.patch (default: under $SECAI_HOME/runs)"
    )
    p.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    from secai.fix.memory import FixMemory
    from secai.fix.run import apply_fixes, fix_findings, write_outputs
    from secai.ingest.collect import collect, log_problems

    source = Path(args.source)
    if not source.is_dir():
        raise SecaiError(f"{source}: --source is not a folder")
    result = collect(args.paths, settings.limits)
    log_problems(result)
    memory = None
    if args.memory:
        if not Path(args.memory).is_file():
            raise SecaiError(f"{args.memory}: --memory is not a file")
        memory = FixMemory.read(args.memory)
    fixes = fix_findings(
        result.findings,
        source,
        settings,
        providers=args.provider,
        model=args.model,
        adapter=args.adapter,
        memory=memory,
    )
    key = "\n".join([str(source.resolve()), *(str(Path(p).resolve()) for p in args.paths)])
    run_dir = Path(args.out) if args.out else settings.runs_dir / f"fix-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in write_outputs(run_dir, fixes):
        log.info("wrote %s", run_dir / name)
    if args.apply:
        for path in apply_fixes(source, fixes, settings):
            log.info("applied verified fixes to %s", path)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "json":
            json.dump([r.public() for r in fixes.results], out, indent=2)
            out.write("\n")
        else:
            from secai.report.tables import print_fixes_table

            print_fixes_table(fixes, file=out)
    finally:
        if out is not sys.stdout:
            out.close()
    return 1 if result.errors else 0
