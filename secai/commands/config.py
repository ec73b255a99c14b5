"""`secai-runner config show`: the effective settings and where each value came from."""

from __future__ import annotations

import json

from secai.config import Settings, settings_with_sources


def add_parser(sub) -> None:
    p = sub.add_parser("config", help="show the effective settings")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = csub.add_parser(
        "show", help="every setting, its value and where it came from (default, config file line, SECAI_* variable)"
    )
    show.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    show.set_defaults(func=run)


def run(args, settings: Settings) -> int:
    effective, sources = settings_with_sources(args.config)
    values = _flat(effective.model_dump(mode="json"))
    if args.format == "json":
        print(json.dumps({k: {"value": v, "source": sources.get(k, "default")} for k, v in values.items()}, indent=2))
        return 0
    width = max(len(k) for k in values)
    for key, value in values.items():
        print(f"{key:<{width}}  {json.dumps(value):<40}  # {sources.get(key, 'default')}")
    print(f"{'(data home)':<{width}}  {json.dumps(str(effective.home_dir)):<40}  # derived")
    return 0


def _flat(d: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
