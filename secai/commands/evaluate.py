"""`secai-runner evaluate DATASET ADAPTER`: verified fixes of base, tuned and the deterministic fixers on the held-out fixes, with the gate."""

from __future__ import annotations

from pathlib import Path

from secai.config import Settings


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="verify the fixes of the base model, base + adapter and the deterministic providers on the held-out (latest) fixes",
    )
    p.add_argument("dataset", metavar="DATASET_DIR", help="dataset folder with test_cases.jsonl")
    p.add_argument("adapter", metavar="ADAPTER_DIR", help="adapter folder written by train")
    p.add_argument("--model", help="base model: embedded, a local MLX folder, or a Hub id")
    p.add_argument("--out", metavar="FILE", help="where to write eval.json (default: next to the dataset folder)")
    p.add_argument("--max-examples", type=int, help="score only the latest N held-out fixes")
    p.add_argument("--no-gate", action="store_true", help="report only; do not fail when the margin is missed")
    p.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    from secai.model.base import resolve_model
    from secai.training.evaluate import evaluate_adapter, print_table

    if args.max_examples is not None:
        settings.evaluate.max_examples = args.max_examples
    if args.no_gate:
        settings.evaluate.gate = False
    resolved = resolve_model(args.model or settings.model.name, settings)
    res = evaluate_adapter(Path(args.dataset), Path(args.adapter), resolved, settings, out=args.out)
    print_table(res)
    from secai.exitcodes import Exit

    return Exit.OK if res.gate.passed else Exit.MODEL_GATE
