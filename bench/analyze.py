"""Analysis throughput on the embedded model, same findings, one run:
(a) sequential `mlx_lm` generation, one finding after the other, (b) secai's batched path,
(c) a warm re-run from the cache; optionally (b0) plain `mlx_lm.batch_generate` over length-sorted
batches, the batched path secai used before.

    .venv/bin/python bench/analyze.py [--findings 32] [--max-tokens N] [--batch-size N] [--batch-generate]

(a) and (b) get the same prompts, model, max_tokens and stopping rule (EOS, max_tokens, or the
answer format complete). On Linux it re-runs itself with OpenBLAS preloaded like the CLI does
(SECAI_NO_OPENBLAS=1 to compare without). The machine may be shared: the load average is printed
before and after. Targets: (b)/(a) >= 5x, (c) <= 5% of (b)'s time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from secai.model.cpu.openblas import maybe_reexec  # noqa: E402

maybe_reexec(sys.argv[1:], command=[sys.executable, str(Path(__file__).resolve())])

from secai.analysis.analyze import GenerationStats, _context_length, analyze_findings, encode_prompt, prompt_budget  # noqa: E402
from secai.analysis.prompts import answer_complete  # noqa: E402
from secai.config import load_settings  # noqa: E402
from secai.ingest.collect import collect  # noqa: E402
from secai.model.base import load, resolve_model, runtime_model  # noqa: E402
from secai.model.cpu.openblas import openblas_loaded  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "mpo-api-authn-server"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def sequential(lm, tok, prompts: list[list[int]], max_tokens: int) -> tuple[list[str], GenerationStats]:
    """One `mlx_lm.stream_generate` call per prompt, stopped by the same rule as the batched path."""
    from mlx_lm import stream_generate

    stats = GenerationStats()
    texts = []
    for p in prompts:
        text, last = "", None
        for last in stream_generate(lm, tok, p, max_tokens=max_tokens):
            text += last.text
            if "\n" in last.text and answer_complete(text):
                break
        texts.append(text)
        stats.sequences += 1
        stats.prefill_tokens += last.prompt_tokens
        stats.prefill_seconds += last.prompt_tokens / last.prompt_tps
        stats.generated_tokens += last.generation_tokens
        stats.decode_seconds += last.generation_tokens / last.generation_tps if last.generation_tps else 0.0
    return texts, stats


def plain_batch_generate(lm, tok, prompts: list[list[int]], max_tokens: int, batch_size: int) -> GenerationStats:
    from mlx_lm import batch_generate

    stats = GenerationStats()
    ordered = sorted(prompts, key=len)
    for i in range(0, len(ordered), batch_size):
        r = batch_generate(
            lm,
            tok,
            prompts=ordered[i : i + batch_size],
            max_tokens=max_tokens,
            completion_batch_size=batch_size,
            prefill_batch_size=batch_size,
        ).stats
        stats.sequences += len(ordered[i : i + batch_size])
        stats.prefill_tokens += r.prompt_tokens
        stats.prefill_seconds += r.prompt_time
        stats.generated_tokens += r.generation_tokens
        stats.decode_seconds += r.generation_time
    return stats


def describe(label: str, seconds: float, cpu: float, n: int, s: GenerationStats) -> str:
    prefix = f" (+{s.reused_tokens} reused)" if s.reused_tokens else ""
    return (
        f"{label:<26}{seconds:8.2f} s (cpu {cpu:6.1f} s) {n / seconds:6.2f} findings/s | prefill {s.prefill_tokens} tok{prefix} "
        f"{s.prefill_seconds:6.1f} s {s.prefill_tps:6.0f} tok/s | decode {s.generated_tokens} tok "
        f"{s.decode_seconds:6.1f} s {s.decode_tps:6.1f} tok/s"
    )


def main() -> int:
    base = load_settings()
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=base.analyze.max_tokens)
    ap.add_argument("--batch-size", type=int, default=base.analyze.batch_size)
    ap.add_argument("--batch-generate", action="store_true", help="also time plain mlx_lm.batch_generate (b0)")
    args = ap.parse_args()

    all_findings = collect([str(CORPUS)], base.limits).findings
    step = max(1, len(all_findings) // args.findings)
    findings = all_findings[::step][: args.findings]
    n = len(findings)
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(
            overrides={
                "home": home,
                "model": {"cache_dir": str(base.models_dir)},
                "analyze": {"max_tokens": args.max_tokens, "batch_size": args.batch_size},
            }
        )
        rt = runtime_model(resolve_model("embedded", settings), settings, "infer")
        lm, tok = load(rt)
        budget = prompt_budget(settings, _context_length(rt.path))
        prompts = [encode_prompt(tok, f, budget).tokens for f in findings]
        print(
            f"{n} findings, {sum(map(len, prompts))} prompt tokens, max_tokens={args.max_tokens}, "
            f"batch={args.batch_size}, model={rt.path.name}, OpenBLAS={'yes' if openblas_loaded() else 'no'}, "
            f"load average {load_average()}"
        )

        t, c = time.perf_counter(), time.process_time()
        seq_texts, seq_stats = sequential(lm, tok, prompts, args.max_tokens)
        seq, seq_cpu = time.perf_counter() - t, time.process_time() - c
        print(describe("(a) sequential generate:", seq, seq_cpu, n, seq_stats), flush=True)

        if args.batch_generate:
            t, c = time.perf_counter(), time.process_time()
            b0_stats = plain_batch_generate(lm, tok, prompts, args.max_tokens, args.batch_size)
            b0 = time.perf_counter() - t
            print(
                describe("(b0) mlx_lm.batch_generate:", b0, time.process_time() - c, n, b0_stats)
                + "  (stops at EOS/max_tokens only)",
                flush=True,
            )

        b_stats = GenerationStats()
        t, c = time.perf_counter(), time.process_time()
        analyses = analyze_findings(findings, settings, model=rt, loaded=(lm, tok), progress=False, stats=b_stats)
        batched, batched_cpu = time.perf_counter() - t, time.process_time() - c
        print(describe("(b) secai batched:", batched, batched_cpu, n, b_stats), flush=True)

        t = time.perf_counter()
        warm = analyze_findings(findings, settings, model=rt, loaded=(lm, tok), progress=False)
        cached = time.perf_counter() - t
        assert all(a.cached for a in warm)
        print(f"{'(c) warm cache re-run:':<26}{cached:8.4f} s {n / cached:6.1f} findings/s")

    from secai.analysis.prompts import parse_answer

    same = sum(
        parse_answer(s).model_dump() == {k: getattr(a, k) for k in ("verdict", "risk", "remediation", "well_formed")}
        for s, a in zip(seq_texts, analyses)
    )
    print(f"(b)/(a) speed-up: {seq / batched:.1f}x (target >= 5x); in CPU time {seq_cpu / batched_cpu:.1f}x")
    if args.batch_generate:
        print(f"(b)/(b0) speed-up: {b0 / batched:.1f}x")
    print(f"(c) time / (b) time: {100 * cached / batched:.3f}% (target <= 5%)")
    print(f"answers identical in (a) and (b): {same}/{n} (batched float sums may flip a greedy choice)")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
