"""`secai-runner`: a thin command line over the stage functions.

Each subcommand is a module in `secai/commands/` with `add_parser(subparsers)` and
`run(args, settings) -> int`. Modules import heavy libraries (MLX) inside `run`, so the light
core (parse, fetch, comment) works without them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from secai import __version__
from secai.config import load_settings
from secai.errors import SecaiError
from secai.log import setup_logging
from secai.run.folder import make_private

COMMANDS = [
    "parse",
    "model",
    "analyze",
    "dataset",
    "train",
    "evaluate",
    "validate",
    "run",
    "fetch",
    "comment",
    "watch",
    "publish",
    "collect",
    "mine",
]

#: Commands that run MLX models: on a Linux CPU they re-run under the OpenBLAS preload.
ML_COMMANDS = {"analyze", "dataset", "train", "evaluate", "validate", "run", "watch"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secai-runner",
        description="Scanner findings -> grounded dataset -> LoRA-tuned local model (MLX).",
    )
    parser.add_argument("--version", action="version", version=f"secai {__version__}")
    parser.add_argument("--config", help="YAML config file (default: built-in defaults, see config/secai.yaml)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"secai.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"secai.commands.{name}":
                continue  # command not built yet
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    setup_logging(args.verbose, args.quiet)
    try:
        settings = load_settings(args.config)
        make_private(settings.home_dir)
        if argv is None and args.command in ML_COMMANDS:
            from secai.model.cpu.openblas import maybe_reexec

            maybe_reexec(sys.argv[1:], settings.model.openblas_preload)
        return int(args.func(args, settings) or 0)
    except SecaiError as e:
        logging.getLogger("secai").error("%s", e)
        return 2
    except KeyboardInterrupt:
        logging.getLogger("secai").error("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
