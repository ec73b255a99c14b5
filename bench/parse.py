"""Parse throughput: findings/s over the shared corpus (and examples/artifacts), against a
baseline measured in the same run (reading and decoding the same files without parsing them
into findings), so the ratio shows what parsing, normalising, redacting and deduplicating cost.

    .venv/bin/python bench/parse.py [-n ROUNDS] [PATH ...]

Each round starts with the functions' memos of report values (`functools.lru_cache`: versions,
advisory ids, fixes) emptied, so every round pays what one fresh `secai-runner parse` pays; only
imports and compiled regexes stay warm. Wall-clock figures are medians over the rounds; on a shared machine the CPU-time figures
(`time.process_time`, this process only) are the steadier ones, so both are printed. The baseline
decodes with the json module, as a plain script would; secai decodes JSON with msgspec (same
objects, about twice as fast), so the ratio can fall below what parsing alone costs.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from secai.ingest.collect import collect  # noqa: E402


def _default_paths() -> list[Path]:
    paths = [ROOT.parent / "shared" / "corpus"]
    if (ROOT / "examples" / "artifacts").is_dir():
        paths.append(ROOT / "examples" / "artifacts")
    return [p for p in paths if p.exists()]


def _baseline(files: list[Path]) -> None:
    from defusedxml.ElementTree import fromstring

    for f in files:
        raw = f.read_bytes().decode("utf-8-sig", "replace").strip()
        if raw.startswith(("{", "[")):
            json.loads(raw)
        elif raw.startswith("<"):
            fromstring(raw)


def _stages(files: list[Path]) -> tuple[float, float, int]:
    """Seconds spent loading (read, sniff, checks, decode) and in the format parsers alone
    (no redaction, no dedupe), and the raw finding count."""
    from secai.errors import InputError
    from secai.ingest.collect import load_document
    from secai.ingest.parsers import find_parser

    _forget_memos()
    docs, t0 = [], time.perf_counter()
    for f in files:
        try:
            doc = load_document(f)
        except InputError:
            continue
        if doc is not None and (mod := find_parser(doc)) is not None:
            docs.append((mod, doc))
    t1 = time.perf_counter()
    raw = sum(len(mod.parse(doc.data, doc.path)) for mod, doc in docs)
    return t1 - t0, time.perf_counter() - t1, raw


def _forget_memos() -> None:
    """Empty every `lru_cache` of secai's modules: a fresh process starts without them."""
    for name, module in list(sys.modules.items()):
        if name == "secai" or name.startswith("secai."):
            for value in vars(module).values():
                if isinstance(value, functools._lru_cache_wrapper):
                    value.cache_clear()


def _timed(fn, *args) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w, time.process_time() - c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path)
    ap.add_argument("-n", "--rounds", type=int, default=7)
    args = ap.parse_args()
    paths = args.paths or _default_paths()
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*"))) if f.is_file()]
    findings = len(collect(paths).findings)  # warm-up; also the count every round produces
    secai_t, base_t = [], []
    for _ in range(args.rounds):  # interleaved, so both see the same machine load
        _forget_memos()
        secai_t.append(_timed(collect, paths))
        base_t.append(_timed(_baseline, files))
    stages = [_stages(files) for _ in range(args.rounds)]
    load = statistics.median(x[0] for x in stages)
    parsers = statistics.median(x[1] for x in stages)
    raw = stages[0][2]
    s, b = (
        (statistics.median(t[0] for t in secai_t), statistics.median(t[1] for t in secai_t)),
        (statistics.median(t[0] for t in base_t), statistics.median(t[1] for t in base_t)),
    )
    print(f"inputs: {', '.join(str(p) for p in paths)} ({len(files)} files, {findings} findings after dedupe)")
    print(f"{'':24}{'wall ms':>9} {'findings/s':>11}   {'cpu ms':>8} {'findings/s':>11}")
    print(f"{'secai parse:':24}{s[0] * 1000:9.1f} {findings / s[0]:11.0f}   {s[1] * 1000:8.1f} {findings / s[1]:11.0f}")
    print(
        f"{'baseline json/xml load:':24}{b[0] * 1000:9.1f} {findings / b[0]:11.0f}   {b[1] * 1000:8.1f} {findings / b[1]:11.0f}"
        "  (same files, decode only)"
    )
    print(f"{'  of which loading:':24}{load * 1000:9.1f}   (read, sniff, depth check, decode, detect)")
    print(
        f"{'  of which parsers:':24}{parsers * 1000:9.1f} {raw / parsers:11.0f}   "
        f"({raw} before dedupe; the rest is walking, redaction and dedupe)"
    )
    print(
        f"ratio secai/baseline:   {s[0] / b[0]:6.1f}x wall, {s[1] / b[1]:.1f}x cpu   (medians of {args.rounds} rounds)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
