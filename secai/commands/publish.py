"""`secai-runner publish [RUN_DIR]`: upload the dataset and adapter of a validated run to the Hub."""

from __future__ import annotations

from secai.commands.validate import run_dir_arg
from secai.config import Settings


def add_parser(sub) -> None:
    p = sub.add_parser("publish", help="publish a validated run's dataset and adapter to the Hugging Face Hub")
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="run folder (default: the latest run)")
    p.add_argument("--dataset-repo", metavar="NS/NAME", help="dataset repo (default: publish.dataset_repo)")
    p.add_argument("--model-repo", metavar="NS/NAME", help="model repo (default: publish.model_repo)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        default=None,
        help="write the files that would be committed into RUN_DIR/publish/ (default without HF_TOKEN)",
    )
    p.add_argument("--fuse", action="store_true", help="also publish a fused, dequantized model to <model-repo>-fused")
    p.add_argument("--model", help="base model the adapter was trained on (default: settings)")
    p.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    from secai.release.publish import publish_run

    base = None
    if args.model:
        from secai.model.base import resolve_model

        base = resolve_model(args.model, settings)
    res = publish_run(
        run_dir_arg(args, settings),
        settings,
        dataset_repo=args.dataset_repo,
        model_repo=args.model_repo,
        dry_run=args.dry_run,
        fuse=args.fuse,
        base=base,
    )
    for up in res.repos:
        where = (
            up.dry_run_dir
            if res.dry_run
            else f"{up.url} @ {(up.commit or '')[:12]} tag {up.tag}" + ("" if up.committed else " (unchanged)")
        )
        print(f"{up.kind:8s} {up.repo_id}: {len(up.files)} files -> {where}")
    return 0
