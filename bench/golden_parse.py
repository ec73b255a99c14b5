"""Dump everything `collect()` returns over the corpus, tests/data and examples, one JSON text.

Used to prove that a refactor changes no parse result: run it before and after and compare.

    .venv/bin/python bench/golden_parse.py > /tmp/before.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from secai.ingest.collect import collect  # noqa: E402


def input_sets() -> list[list[Path]]:
    corpus = ROOT.parent / "shared" / "corpus"
    sets = [[corpus], [ROOT / "examples"], [ROOT / "tests" / "data"]]
    if corpus.is_dir():
        sets += [[f] for f in sorted(corpus.rglob("*")) if f.is_file()]
    return sets


def dump(paths: list[Path]) -> dict:
    res = collect(paths)
    return {
        "inputs": [p.relative_to(ROOT.parent).as_posix() for p in paths],
        "findings": [
            {"data": f.model_dump(mode="json"), "fields_set": sorted(f.model_fields_set)} for f in res.findings
        ],
        "reports": [r.__dict__ for r in res.reports],
        "problems": [p.__dict__ for p in res.problems],
    }


def main() -> None:
    json.dump([dump(s) for s in input_sets()], sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
