"""`secai-runner dataset`: build the grounded train/valid/test dataset from reports or findings.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from secai.config import Settings
from secai.errors import InputError

log = logging.getLogger("secai")


def add_parser(sub) -> None:
    p = sub.add_parser("dataset", help="build the grounded chat dataset (train/valid/test JSONL + card)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="report files, folders or artifact zips")
    p.add_argument("--findings", metavar="FILE", help="a findings.json written by `parse --format json` or a run")
    p.add_argument("--out", required=True, metavar="DIR", help="dataset folder to write")
    p.add_argument("--branch", help="branch the findings come from (decides whether they may feed training)")
    p.add_argument("--pr", type=int, help="pull request number (PR runs give no training data by default)")
    p.add_argument("--seed", type=int, help="split seed (default: dataset.seed)")
    p.set_defaults(func=run)


def _load_findings(args, settings: Settings):
    from secai.findings import Finding

    findings = []
    errors = 0
    if args.findings:
        path = Path(args.findings)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, list):
                raise ValueError("expected a JSON array of findings")
            findings += [Finding.model_validate(d) for d in data]
        except (OSError, ValueError) as e:
            raise InputError(path, f"cannot read findings: {str(e).splitlines()[0][:200]}") from None
    if args.paths:
        from secai.ingest.collect import collect, log_problems

        res = collect(args.paths, settings.limits)
        log_problems(res)
        findings += res.findings
        errors = len(res.errors)
    return findings, errors


def run(args, settings: Settings) -> int:
    from secai.dataset.build import build_dataset

    if not args.paths and not args.findings:
        raise InputError("dataset", "give report PATHs or --findings FILE")
    if args.seed is not None:
        settings.dataset.seed = args.seed
    findings, errors = _load_findings(args, settings)
    from secai.run.meta import RunMeta

    meta = RunMeta(branch=args.branch, pr=args.pr, event="pull_request" if args.pr is not None else "local")
    res = build_dataset(findings, Path(args.out), settings, run_meta=meta)
    print(f"dataset: {res.out_dir}")
    print(
        f"  train {res.counts['train']}, valid {res.counts['valid']}, test {res.counts['test']}"
        f"; flagged {res.flagged}; excluded {sum(res.excluded.values())}"
    )
    print(f"  training data: {res.decision}")
    from secai.exitcodes import Exit

    return Exit.USAGE if errors else Exit.OK
