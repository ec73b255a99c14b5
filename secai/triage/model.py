"""Verdicts from the local model (base, or base + adapter): one greedy two-line answer per finding.

Prompts are batched through `secai.model.generate.sample` at temperature 0 (greedy; on a Linux CPU
its fast llama path, prompts sharing the system prompt prefilled once); generation stops at the
end of the Reason line or at `verdict.max_tokens`. A prompt over `fix.max_prompt_tokens` is asked
without its code window.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from secai.config import Settings
from secai.triage.prompt import ParsedVerdict, TriageFacts, answer_complete, parse_verdict, render_triage_prompt


@dataclass
class ModelVerdict:
    parsed: ParsedVerdict
    #: The raw answer (untrusted model text: redact before storing, escape before showing).
    answer: str


def model_verdicts(
    resolved, facts: list[TriageFacts], settings: Settings, adapter: str | Path | None = None
) -> list[ModelVerdict]:
    """Greedy verdicts of `resolved` (a `ResolvedModel`, made runnable here) for each of `facts`."""
    if not facts:
        return []
    from secai.model.base import load, runtime_model
    from secai.model.generate import chat_prompt, sample

    model, tokenizer = load(runtime_model(resolved, settings), adapter)
    prompts = []
    for f in facts:
        ids = chat_prompt(tokenizer, render_triage_prompt(f))
        if len(ids) > settings.fix.max_prompt_tokens and f.window:
            ids = chat_prompt(tokenizer, render_triage_prompt(replace(f, window="", window_start=None)))
        prompts.append(ids)  # without a window a prompt is short: every fact is capped
    answers = sample(
        model,
        tokenizer,
        prompts,
        n=1,
        temperature=0.0,
        top_p=1.0,
        seed=0,
        max_tokens=settings.verdict.max_tokens,
        batch_size=settings.fix.batch_size,
        stop=answer_complete,
    )
    return [ModelVerdict(parse_verdict(a[0]), a[0]) for a in answers]
