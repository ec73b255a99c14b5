"""Sampling several answers per prompt with mlx-lm's own batch generation.

`sample(model, tokenizer, prompts, n=k, ...)` returns k answers for each prompt. Each prompt is
processed once: its key/value cache (all but the last token) is computed one prompt at a time and
copied k times, and the k copies then decode together in `mlx_lm.generate.batch_generate` with a
`make_sampler` sampler (temperature > 0 gives k different answers; 0 is greedy). The seed makes a
run repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence


def chat_prompt(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of `messages` under the tokenizer's chat template, ready for the answer."""
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True))


def _prefill(model, tokens: Sequence[int], step: int = 512) -> list:
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(model)
    for i in range(0, len(tokens), step):
        model(mx.array([list(tokens[i : i + step])]), cache=cache)
        mx.eval([c.state for c in cache])
    return cache


def _copy_cache(cache: list) -> list:
    from mlx_lm.models.cache import KVCache

    copies = []
    for c in cache:
        new = KVCache()
        if c.keys is not None:
            # slices are new arrays: decoding one copy never writes into another
            new.keys, new.values = c.keys[..., : c.offset, :], c.values[..., : c.offset, :]
            new.offset = c.offset
        copies.append(new)
    return copies


def sample(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    *,
    n: int = 1,
    temperature: float = 0.7,
    top_p: float = 1.0,
    seed: int = 0,
    max_tokens: int = 128,
    batch_size: int = 32,
) -> list[list[str]]:
    """`n` answers for each prompt (lists of token ids), as texts, in prompt order."""
    import mlx.core as mx
    from mlx_lm.generate import batch_generate
    from mlx_lm.models.cache import KVCache, make_prompt_cache
    from mlx_lm.sample_utils import make_sampler

    if not prompts:
        return []
    mx.random.seed(seed)
    sampler = make_sampler(temp=temperature, top_p=top_p if 0 < top_p < 1 else 0.0)
    shareable = all(type(c) is KVCache for c in make_prompt_cache(model))
    texts: list[list[str]] = []
    per_batch = max(1, batch_size // n)
    for start in range(0, len(prompts), per_batch):
        group = prompts[start : start + per_batch]
        if shareable:
            caches, tails = [], []
            for p in group:
                cache = _prefill(model, p[:-1]) if len(p) > 1 else make_prompt_cache(model)
                caches += [_copy_cache(cache) for _ in range(n)]
                tails += [[p[-1]]] * n
            res = batch_generate(
                model,
                tokenizer,
                tails,
                prompt_caches=caches,
                max_tokens=max_tokens,
                sampler=sampler,
                completion_batch_size=len(tails),
                prefill_batch_size=len(tails),
            )
        else:  # models with rotating or state-space caches: every copy processes its prompt
            res = batch_generate(
                model,
                tokenizer,
                [list(p) for p in group for _ in range(n)],
                max_tokens=max_tokens,
                sampler=sampler,
                completion_batch_size=len(group) * n,
                prefill_batch_size=len(group) * n,
            )
        for i in range(len(group)):
            texts.append(list(res.texts[i * n : (i + 1) * n]))
    return texts
