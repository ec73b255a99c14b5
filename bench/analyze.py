"""Analysis throughput on the embedded model, same findings, one run:
(a) sequential `mlx_lm.generate` calls, (b) secai's batched path, (c) a warm re-run from the cache.

    .venv/bin/python bench/analyze.py [--findings 32] [--max-tokens 64] [--batch-size 16]

On Linux it re-runs itself with OpenBLAS preloaded like the CLI does (SECAI_NO_OPENBLAS=1 to
compare without). Targets: (b)/(a) >= 5x, (c) <= 5% of (b)'s time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from secai.blas import maybe_reexec  # noqa: E402

maybe_reexec(sys.argv[1:], command=[sys.executable, str(Path(__file__).resolve())])

from secai.analyze import analyze_findings, encode_prompt, prompt_budget, _context_length  # noqa: E402
from secai.blas import openblas_loaded  # noqa: E402
from secai.config import load_settings  # noqa: E402
from secai.ingest import collect  # noqa: E402
from secai.model import load, resolve_model, runtime_model  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "mpo-api-authn-server"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()

    from mlx_lm import generate

    base = load_settings()
    all_findings = collect([str(CORPUS)], base.limits).findings
    step = max(1, len(all_findings) // args.findings)
    findings = all_findings[::step][: args.findings]
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(overrides={
            "home": home,
            "model": {"cache_dir": str(base.models_dir)},
            "analyze": {"max_tokens": args.max_tokens, "batch_size": args.batch_size},
        })
        rt = runtime_model(resolve_model("embedded", settings), settings, "infer")
        lm, tok = load(rt)
        budget = prompt_budget(settings, _context_length(rt.path))
        prompts = [encode_prompt(tok, f, budget).tokens for f in findings]
        print(f"{len(findings)} findings, {sum(map(len, prompts))} prompt tokens, max_tokens={args.max_tokens}, "
              f"batch={args.batch_size}, model={rt.path.name}, OpenBLAS={'yes' if openblas_loaded() else 'no'}")

        t = time.perf_counter()
        for p in prompts:
            generate(lm, tok, p, max_tokens=args.max_tokens)
        seq = time.perf_counter() - t

        t = time.perf_counter()
        analyze_findings(findings, settings, model=rt, loaded=(lm, tok), progress=False)
        batched = time.perf_counter() - t

        t = time.perf_counter()
        warm = analyze_findings(findings, settings, model=rt, loaded=(lm, tok), progress=False)
        cached = time.perf_counter() - t
        assert all(a.cached for a in warm)

    n = len(findings)
    print(f"(a) sequential generate: {seq:8.2f} s  {n / seq:7.2f} findings/s")
    print(f"(b) secai batched:       {batched:8.2f} s  {n / batched:7.2f} findings/s")
    print(f"(c) warm cache re-run:   {cached:8.4f} s  {n / cached:7.1f} findings/s")
    print(f"(b)/(a) speed-up: {seq / batched:.1f}x (target >= 5x)")
    print(f"(c) time / (b) time: {100 * cached / batched:.3f}% (target <= 5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
