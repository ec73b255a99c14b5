"""Fix generation speed on a CPU: secai's sampler (secai/model/decode.py) vs mlx-lm's BatchGenerator.

The prompts are the model provider's real fix prompts for the bandit and semgrep findings of
examples/vulnerable-app; each is sampled `--candidates` times, as the fix stage does. Both paths
run in this invocation on the same prompts and settings:

- baseline: `secai.model.generate.sample` with the CPU fast path turned off (mlx-lm's
  `BatchGenerator`, with secai's prompt-cache copies and continuous refill);
- fast: the same call with the fast path (prefix-shared prefill, numpy top-k/top-p sampling).

The answers differ (different random streams), so the bench also prints how many answers parse as
a fix block, to show the speed is not bought with worse output.

    .venv/bin/python bench/fix_generate.py [--findings 8] [--candidates 4] [--max-tokens 112]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def prompts(settings, tokenizer, wanted: int) -> list[list[int]]:
    from secai.fix.edit import widen_to_statements
    from secai.fix.prompt import FixFacts, render_fix_prompt
    from secai.fix.source import SourceTree
    from secai.ingest.collect import collect
    from secai.model.generate import chat_prompt

    app = ROOT / "examples" / "vulnerable-app"
    reports = [ROOT / "examples" / "artifacts" / d for d in ("bandit-results", "semgrep-results")]
    findings = [f for f in collect(reports, settings.limits).findings if f.location and f.location.start_line]
    source = SourceTree(app, 1 << 20)
    out = []
    for f in findings[:wanted]:
        text = source.read(f.location.path).text
        start, end = widen_to_statements(f.location.path, text, f.location.start_line, f.location.start_line, 24)
        facts = FixFacts.of(f)
        out.append(chat_prompt(tokenizer, render_fix_prompt(facts, text.split("\n"), start, end, 6)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=8)
    ap.add_argument("--candidates", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=112)
    args = ap.parse_args()
    from secai.model.cpu.openblas import maybe_reexec

    # the same BLAS as `secai-runner` (which re-executes itself with OpenBLAS preloaded on Linux)
    maybe_reexec(sys.argv[1:], command=[sys.executable, str(Path(__file__).resolve())])

    import secai.model.cpu.forward as cpu
    from secai.config import load_settings
    from secai.fix.prompt import AnswerError, answer_complete, parse_fix_answer
    from secai.model.base import load, resolve_model, runtime_model
    from secai.model.generate import sample

    settings = load_settings()
    resolved = runtime_model(resolve_model("embedded", settings), settings)
    model, tokenizer = load(resolved)
    if not cpu.cpu_fast_path(model):
        print("the CPU fast path does not apply here (not a plain llama on a CPU); nothing to compare")
        return 0
    ps = prompts(settings, tokenizer, args.findings)
    kw = dict(n=args.candidates, temperature=0.7, top_p=0.95, seed=0, max_tokens=args.max_tokens, batch_size=32)

    def run(fast: bool):
        real = cpu.cpu_fast_path
        if not fast:
            cpu.cpu_fast_path = lambda m: False
        try:
            t = time.perf_counter()
            texts = sample(model, tokenizer, ps, stop=answer_complete, **kw)
            return time.perf_counter() - t, texts
        finally:
            cpu.cpu_fast_path = real

    def parsed(texts) -> int:
        ok = 0
        for group in texts:
            for text in group:
                try:
                    parse_fix_answer(text)
                    ok += 1
                except AnswerError:
                    pass
        return ok

    run(True)  # warm-up: kernels compiled, memory pools filled
    print(f"warmed up on {len(ps)} prompts", flush=True)
    base_s, base_texts = run(False)
    fast_s, fast_texts = run(True)
    total = len(ps) * args.candidates
    tokens = sum(len(tokenizer.encode(t)) for g in fast_texts for t in g)
    print(f"{len(ps)} fix prompts x {args.candidates} candidates, max {args.max_tokens} tokens, {resolved.model_id}")
    print(f"baseline (BatchGenerator): {base_s:6.1f} s   answers that parse: {parsed(base_texts)}/{total}")
    print(f"fast (secai decode):       {fast_s:6.1f} s   answers that parse: {parsed(fast_texts)}/{total}")
    print(f"ratio: {base_s / fast_s:.2f}x faster   ({tokens} answer tokens on the fast path)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
