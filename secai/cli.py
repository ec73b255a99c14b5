"""`secai-runner`: a thin command line over the stage functions.

Each subcommand is a module in `secai/commands/` with `add_parser(subparsers)` and
`run(args, settings) -> int`. Modules import heavy libraries (MLX) inside `run`, so the light
core (parse, fetch, comment) works without them. `--config`, `-v` and `-q` work before or after
the subcommand; the exit codes are those of `secai.exitcodes`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from secai import __version__
from secai.config import load_settings
from secai.errors import GitHubError, PublishError, ScannerError, SecaiError
from secai.exitcodes import Exit, epilog
from secai.log import setup_logging
from secai.run.folder import make_private

COMMANDS = [
    "parse",
    "model",
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
    "labels",
    "config",
    "fix",
]

#: Commands that run MLX models: on a Linux CPU they re-run under the OpenBLAS preload.
ML_COMMANDS = {"dataset", "train", "evaluate", "validate", "run", "watch", "fix"}

#: Errors of a stage or a service (exit 4); every other SecaiError is a usage/config/input error (2).
_FAILURES = (GitHubError, PublishError, ScannerError)

_GLOBAL = "_sub_"  # dest prefix of the global flags given after a subcommand


def _add_global_flags(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """`--config`, `-v`, `-q` on `p`; after a subcommand they land in `_sub_*` (merged in `main`)."""
    kw = {"default": argparse.SUPPRESS} if prefix else {}
    p.add_argument(
        "--config",
        dest=f"{prefix}config",
        help="YAML config file (default: $SECAI_CONFIG, else the built-in defaults; see config/secai.yaml)",
        **kw,
    )
    p.add_argument("-v", "--verbose", dest=f"{prefix}verbose", action="count", help="more output (-vv for debug)", **kw)
    p.add_argument("-q", "--quiet", dest=f"{prefix}quiet", action="store_true", help="only errors", **kw)


def _subparsers(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                out += [child, *_subparsers(child)]
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secai-runner",
        description="Scanner findings -> verified fixes, a grounded dataset and a LoRA-tuned local model (MLX).",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"secai {__version__}")
    _add_global_flags(parser)
    parser.set_defaults(verbose=0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"secai.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"secai.commands.{name}":
                continue  # command not built yet
            raise
        mod.add_parser(sub)
    for p in _subparsers(parser):
        _add_global_flags(p, _GLOBAL)
        p.epilog = epilog() if not p.epilog else f"{p.epilog}\n\n{epilog()}"
        p.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _merge_global_flags(args: argparse.Namespace) -> None:
    args.verbose = (args.verbose or 0) + (getattr(args, f"{_GLOBAL}verbose", 0) or 0)
    args.quiet = bool(args.quiet or getattr(args, f"{_GLOBAL}quiet", False))
    args.config = getattr(args, f"{_GLOBAL}config", None) or args.config
    for name in ("verbose", "quiet", "config"):
        if hasattr(args, f"{_GLOBAL}{name}"):
            delattr(args, f"{_GLOBAL}{name}")


def exit_code(err: SecaiError) -> int:
    return Exit.FAILED if isinstance(err, _FAILURES) else Exit.USAGE


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return Exit.USAGE
    _merge_global_flags(args)
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
        return exit_code(e)
    except KeyboardInterrupt:
        logging.getLogger("secai").error("interrupted")
        return Exit.INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
