"""`secai-runner validate [RUN_DIR]`: check a run's adapter, cards and generation; writes validation.json."""

from __future__ import annotations

from pathlib import Path

from secai.config import Settings
from secai.errors import SecaiError
from secai.run.folder import latest_run_dir


def add_parser(sub) -> None:
    p = sub.add_parser("validate", help="check the adapter, the cards and base+adapter generation of a run")
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="run folder (default: the latest run)")
    p.add_argument("--model", help="base model: embedded, a local MLX folder, or a Hub id (default: settings)")
    p.add_argument("--no-generate", action="store_true", help="skip the load-and-generate check")
    p.set_defaults(func=run)


def run_dir_arg(args, settings: Settings) -> Path:
    if args.run_dir:
        path = Path(args.run_dir)
        if not path.is_dir():
            raise SecaiError(f"{path}: no such run folder")
        return path
    latest = latest_run_dir(settings.runs_dir)
    if latest is None:
        raise SecaiError(f"{settings.runs_dir}: no runs yet; pass RUN_DIR")
    return latest


def run(args, settings: Settings) -> int:
    from rich.console import Console

    from secai.release.validate import validate_run

    run_dir = run_dir_arg(args, settings)
    base = None
    if args.model:
        from secai.model.base import resolve_model

        base = resolve_model(args.model, settings)
    res = validate_run(run_dir, settings, base=base, generate=not args.no_generate)
    console = Console()
    for c in res.checks:
        mark = "[green]ok[/]" if c.passed else "[red]FAILED[/]"
        console.print(f"{mark} {c.name}" + (f": {c.detail}" if c.detail else ""), highlight=False, markup=True)
    gate = {True: "passed", False: "FAILED", None: "not evaluated"}[res.eval_gate]
    console.print(
        f"evaluation gate: {gate}   validation: {'passed' if res.passed else 'FAILED'}   "
        f"-> {run_dir / 'validation.json'}",
        highlight=False,
    )
    from secai.exitcodes import Exit

    return Exit.OK if res.passed else Exit.MODEL_GATE
