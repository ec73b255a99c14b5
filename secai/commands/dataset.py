"""`secai-runner dataset`: fix examples from mined history (and verified deterministic fixes), split by time."""

from __future__ import annotations

from pathlib import Path

from secai.config import Settings
from secai.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "dataset", help="build the fix dataset (train/valid/test JSONL + held-out cases + card) from mined fixes"
    )
    p.add_argument("--events", required=True, metavar="FILE", help="events.jsonl written by `mine` or a run")
    p.add_argument("--source", required=True, metavar="DIR", help="the git repository the events were mined from")
    p.add_argument(
        "--findings", metavar="FILE", help="today's findings.json: their verified deterministic fixes train too"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="dataset folder to write")
    p.add_argument("--branch", help="branch the history comes from (decides whether it may feed training)")
    p.add_argument("--pr", type=int, help="pull request number (PR runs give no training data)")
    p.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    from secai.dataset.build import build_dataset
    from secai.dataset.fixes import deterministic_examples, history_examples
    from secai.history.events import read_events_file
    from secai.run.files import read_findings
    from secai.run.meta import RunMeta

    events_path = Path(args.events)
    if not events_path.is_file():
        raise InputError(
            events_path, "no such events file (run `secai-runner mine --format json` or a run with --source)"
        )
    events = read_events_file(events_path)
    examples, skipped = history_examples(events, args.source, settings)
    if args.findings:
        findings_path = Path(args.findings)
        if not findings_path.is_file():
            raise InputError(findings_path, "no such findings file")
        more, more_skipped = deterministic_examples(read_findings(findings_path.parent), args.source, settings)
        examples += more
        skipped += more_skipped
    event = "pull_request" if args.pr is not None else "local"
    meta = RunMeta(branch=args.branch, pr=args.pr, event=event)
    res = build_dataset(examples, Path(args.out), settings, run_meta=meta, skipped=dict(skipped))
    print(f"dataset: {res.out_dir}")
    print(
        f"  train {res.counts['train']}, valid {res.counts['valid']}, test {res.counts['test']}"
        f"; flagged {res.flagged}; left out {sum(res.excluded.values())}"
    )
    for why, n in sorted(res.excluded.items()):
        print(f"    {n} {why}")
    print(f"  training data: {res.decision}")
    return 0
