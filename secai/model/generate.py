"""Generation with mlx-lm's own batch generation: any architecture, any device.

`sample(model, tokenizer, prompts, n=k, ...)` returns k answers for each prompt. Each prompt is
processed once: its key/value cache (all but the last token) is computed one prompt at a time and
copied k times, and the copies decode in mlx-lm's `BatchGenerator` with a `make_sampler` sampler
(temperature > 0 gives k different answers; 0 is greedy), continuously batched: a sequence that
ends (EOS, the token cap, or a complete answer) hands its slot to the next prompt. The seed makes
a run repeatable.

`greedy(...)` decodes greedily through mlx-lm's `BatchGenerator`, ending a sequence at EOS, at
`max_tokens` or when `stop(tokens)` says its answer is complete, and reports sequences as they
finish (validation uses it). Prompts come from `chat_prompt`, which renders them with
the model's own chat template (`secai.model.chat`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from secai.model.constrain import PrefixConstraint


def chat_prompt(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of `messages` under the tokenizer's chat template, ready for the answer (a template
    without a system role gets it in the first user turn; marker tokens in the text are broken)."""
    from secai.model.chat import chat_ids

    return chat_ids(tokenizer, messages)


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


def _processor(constraint: PrefixConstraint, tokenizer):
    """An mlx-lm logits processor for one sequence that applies `constraint` to its answer."""
    import mlx.core as mx

    from secai.model.constrain import vocabulary

    vocab = vocabulary(tokenizer)
    state = {"first": None, "free": False}

    def process(context, logits):
        # `context` is this sequence's tokens so far, starting with the input of its first step
        # (its prompt's last token): the answer is what follows it.
        if state["free"]:
            return logits
        ctx = context.tolist()
        if state["first"] is None:
            state["first"] = len(ctx)
        allowed = constraint.allowed(tokenizer.decode(ctx[state["first"] :]), vocab)
        if allowed is None:
            state["free"] = True
            return logits
        mask = mx.full(logits.shape, -mx.inf, dtype=logits.dtype)
        keep = mx.array([a for a in allowed if a < logits.shape[-1]])
        mask[..., keep] = 0
        return logits + mask

    return process


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
    stop: Callable[[str], bool] | None = None,
    constraints: Sequence[PrefixConstraint | None] | None = None,
) -> list[list[str]]:
    """`n` answers for each prompt (lists of token ids), as texts, in prompt order.

    Sequences decode together, up to `batch_size` at a time; a finished one (EOS, `max_tokens`, or
    `stop(text)` true for its text so far) frees its slot for the next prompt's copies at once, so
    a batch never waits for its longest answer. A prompt's cache is computed once and copied `n`
    times (models whose caches cannot be copied process the prompt once per copy).
    `constraints[i]`, when given, keeps the opening of prompt i's answers to its targets
    (`secai.model.constrain`)."""
    import mlx.core as mx
    from mlx_lm.generate import BatchGenerator
    from mlx_lm.models.cache import KVCache, make_prompt_cache
    from mlx_lm.sample_utils import make_sampler

    from secai.model.cpu.forward import cpu_fast_path

    if not prompts:
        return []
    if cpu_fast_path(model):
        from secai.model.decode import sample_cpu

        return sample_cpu(
            model,
            tokenizer,
            prompts,
            n=n,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            max_tokens=max_tokens,
            batch_size=batch_size,
            stop=stop,
            constraints=constraints,
        )
    mx.random.seed(seed)
    sampler = make_sampler(temp=temperature, top_p=top_p if 0 < top_p < 1 else 0.0)
    shareable = all(type(c) is KVCache for c in make_prompt_cache(model))
    slots = max(n, batch_size)
    gen = BatchGenerator(
        model,
        max_tokens=max_tokens,
        stop_tokens=[[t] for t in tokenizer.eos_token_ids],
        sampler=sampler,
        completion_batch_size=slots,
        prefill_batch_size=min(slots, 8),
    )
    tokens: dict[int, list[int]] = {}
    owner: dict[int, tuple[int, int]] = {}  # uid -> (prompt, sample)
    texts: list[list[str]] = [[""] * n for _ in prompts]
    pending = list(range(len(prompts)))
    live = 0

    def refill() -> None:
        nonlocal live
        while pending and live + n <= slots:
            i = pending.pop(0)
            p = list(prompts[i])
            c = constraints[i] if constraints else None
            procs = [[_processor(c, tokenizer)] for _ in range(n)] if c is not None else None
            if shareable and len(p) > 1:
                cache = _prefill(model, p[:-1])
                uids = gen.insert([[p[-1]]] * n, caches=[_copy_cache(cache) for _ in range(n)], logits_processors=procs)
            else:
                uids = gen.insert([p] * n, logits_processors=procs)
            for k, uid in enumerate(uids):
                owner[uid], tokens[uid] = (i, k), []
            live += n

    def finish(uid: int) -> None:
        nonlocal live
        i, k = owner.pop(uid)
        texts[i][k] = tokenizer.decode(tokens.pop(uid))
        live -= 1

    try:
        refill()
        while live:
            responses = gen.next_generated()
            if not responses:
                break
            ended = []
            for r in responses:
                if r.uid not in owner:
                    continue
                if r.finish_reason != "stop":
                    tokens[r.uid].append(r.token)
                if r.finish_reason is not None:
                    ended.append(r.uid)
                elif stop is not None and stop(tokenizer.decode(tokens[r.uid])):
                    gen.remove([r.uid])
                    ended.append(r.uid)
            for uid in ended:
                finish(uid)
            refill()
    finally:
        gen.close()
    return texts


def greedy(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    *,
    max_tokens: int,
    batch_size: int = 32,
    stop: Callable[[list[int]], bool] | None = None,
    on_done: Callable[[dict[int, list[int]]], None] | None = None,
    stats: dict[str, float] | None = None,
) -> list[list[int]]:
    """The greedy continuation (token ids, no EOS) of each prompt, in prompt order.

    `stop(tokens)` ends a sequence early; `on_done({index: tokens})` is called as sequences finish; `stats`
    receives prompt/generation token counts and seconds. Prompts are processed 8 at a time (mlx-lm's
    default): a full batch of long prompts at once would hold gigabytes of activations on a 16 GB Mac.
    """
    from mlx_lm.generate import BatchGenerator

    if not prompts:
        return []
    gen = BatchGenerator(
        model,
        max_tokens=max_tokens,
        stop_tokens=[[t] for t in tokenizer.eos_token_ids],
        completion_batch_size=batch_size,
        prefill_batch_size=min(batch_size, 8),
    )
    try:
        uids = gen.insert([list(p) for p in prompts])
        index = {uid: i for i, uid in enumerate(uids)}
        tokens: list[list[int]] = [[] for _ in prompts]
        with gen.stats() as st:
            while responses := gen.next_generated():
                done: list[int] = []
                for r in responses:
                    i = index[r.uid]
                    if r.finish_reason != "stop":
                        tokens[i].append(r.token)
                    if r.finish_reason is not None:
                        done.append(i)
                    elif stop is not None and stop(tokens[i]):
                        gen.remove([r.uid])
                        done.append(i)
                if done and on_done is not None:
                    on_done({i: tokens[i] for i in done})
    finally:
        gen.close()
    if stats is not None:
        stats.update(
            prompt_tokens=st.prompt_tokens,
            prompt_seconds=st.prompt_time,
            generated_tokens=sum(len(t) for t in tokens),
            decode_seconds=st.decode_time,
        )
    return tokens
