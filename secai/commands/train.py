"""`secai-runner train DATASET --out ADAPTER`: LoRA fine-tuning of the base model."""

from __future__ import annotations

from pathlib import Path

from secai.config import Settings


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="LoRA-train an adapter on a dataset folder (resumes a checkpoint in --out)")
    p.add_argument("dataset", metavar="DATASET_DIR", help="folder with train.jsonl and valid.jsonl")
    p.add_argument(
        "--out", required=True, metavar="ADAPTER_DIR", help="adapter folder to write (a checkpoint in it is resumed)"
    )
    p.add_argument("--model", help="base model: embedded, a local MLX folder, or a Hub id")
    p.add_argument("--iters", type=int, help="exact number of iterations (overrides epochs)")
    p.add_argument("--rank", type=int, help="LoRA rank (default: train.rank)")
    p.add_argument("--layers", type=int, dest="num_layers", help="blocks (from the top) with adapters; -1 for all")
    p.add_argument("--lr", type=float, dest="learning_rate", help="learning rate (default: train.learning_rate)")
    p.add_argument("--batch-size", type=int, dest="batch_size", help="examples per step (default: train.batch_size)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    p.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    from secai.model.base import resolve_model
    from secai.training.train import train_adapter

    for key in ("rank", "num_layers", "learning_rate", "batch_size"):
        if getattr(args, key) is not None:
            setattr(settings.train, key, getattr(args, key))
    if args.iters is not None:
        settings.train.min_iters = settings.train.max_iters = args.iters
    resolved = resolve_model(args.model or settings.model.name, settings)
    res = train_adapter(Path(args.dataset), Path(args.out), resolved, settings, progress=not args.no_progress)
    print(f"adapter: {res.adapter_dir}")
    print(f"  {res.summary}")
    if res.input_tokens_per_second:
        print(
            f"  {res.input_tokens_per_second:.0f} tokens/s, peak memory {res.peak_memory_gb:.2f} GB, {res.seconds:.0f}s"
        )
    return 0
