"""`secai-runner model pull|info [NAME]`: prepare a base model, describe it."""

from __future__ import annotations

import json
import sys

from secai.config import Settings


def add_parser(sub) -> None:
    p = sub.add_parser("model", help="prepare (pull/convert) or describe a base model")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    pull = msub.add_parser("pull", help="download/convert the model into the cache (idempotent)")
    pull.add_argument("name", nargs="?", help="auto (default), embedded, a local MLX folder, or a Hub id (org/name)")
    pull.add_argument(
        "--revision", help="Hub commit, tag or branch to pull and pin (default: the pinned one, else main)"
    )
    pull.add_argument(
        "--base-only",
        action="store_true",
        help="skip preparing the variant this machine runs (the float32 copy on a CPU)",
    )
    pull.set_defaults(func=run)
    info = msub.add_parser("info", help="architecture, parameters, quantization, chat template, cache path")
    info.add_argument("name", nargs="?", help="auto (default), embedded, a local MLX folder, or a Hub id")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    from secai.model.base import describe, resolve_model, runtime_model

    revision = getattr(args, "revision", None)
    if revision:
        settings = settings.model_copy(update={"model": settings.model.model_copy(update={"revision": revision})})
    resolved = resolve_model(args.name or settings.model.name, settings)
    if args.model_command == "pull":
        print(f"{resolved.model_id} ({resolved.revision}) ready at {resolved.path}")
        if not args.base_only:
            rt = runtime_model(resolved, settings, "infer")
            print(f"runtime variant ({rt.revision}) ready at {rt.path}")
        return 0
    info = describe(resolved)
    if args.json:
        json.dump({**info.model_dump(mode="json"), "choice": resolved.note or None}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    rows = [("choice", f"auto: {resolved.note}")] if resolved.note else []
    rows += [
        ("model", info.model_id),
        ("source", info.source),
        ("revision", info.revision),
        ("architecture", info.architecture),
        ("parameters", f"{info.parameters:,} ({info.parameters / 1e6:.0f}M)"),
        ("layers / hidden", f"{info.layers} / {info.hidden_size}"),
        ("vocabulary", f"{info.vocab_size:,}"),
        ("context length", str(info.context_length or "unknown")),
        ("quantization", info.quantization),
        ("chat template", "yes" if info.chat_template else "no"),
        ("path", str(info.path)),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0
