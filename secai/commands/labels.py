"""`secai-runner labels RUN_DIR`: a run folder's verdict labels, counted by source and verdict."""

from __future__ import annotations

import json
from pathlib import Path

from secai.config import Settings
from secai.errors import SecaiError


def add_parser(sub) -> None:
    p = sub.add_parser("labels", help="count a run folder's verdict labels by source and verdict (docs/triage.md)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder with labels.jsonl")
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    p.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    from secai.triage.labels import LABELS, read_labels
    from secai.triage.resolve import counts

    run_dir = Path(args.run_dir)
    if not (run_dir / LABELS).is_file():
        raise SecaiError(f"{run_dir}: no {LABELS} (run the labels stage first: secai-runner run ... )")
    labels = read_labels(run_dir)
    c = counts(labels)
    overridden = sum(1 for lb in labels if lb.overridden)
    if args.format == "json":
        print(json.dumps({"labels": len(labels), "contradicted": overridden, **c}, indent=2))
        return 0
    print(f"{len(labels)} labels ({overridden} had contradicting labels; the latest won)")
    for title, key in (("verdict", "by_verdict"), ("source", "by_source")):
        width = max([len(k) for k in c[key]] + [len(title)])
        print(f"\n{title:<{width}}  count")
        for k, n in c[key].items():
            print(f"{k:<{width}}  {n:>5}")
    return 0
