"""Batched sampling for a plain llama on a Linux CPU: the fix provider's hot loop.

mlx-lm's `BatchGenerator` is exact for every model and device, and secai uses it everywhere else.
On a CPU it spends most of a fix run in two places this module avoids (docs/generation-speed.md has the
measurements):
- prompt processing: prompts are processed one at a time in sorted order, each starting from the
  previous prompt's key/value cache as far as the two share tokens (the system prompt and the
  finding's header lines), through `NumpyExpForward` (softmax and SiLU exponentials in numpy);
- sampling: mlx-lm takes a log-softmax over the whole 49k-token vocabulary in MLX, whose CPU `exp`
  is slow; here the logits go to numpy, the 64 most likely tokens are kept, and temperature and
  top-p sampling happen among them (a seeded numpy generator).
A prompt's cache is computed once for its `n` samples. Sequences decode in one left-padded batch
cache; one that ends (EOS, the token cap, or `stop(text)`) frees its slot, and freed slots are
refilled in groups while the others keep decoding.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from secai.model.constrain import PrefixConstraint, Vocabulary, vocabulary

#: Tokens sampling chooses among (the most likely ones); beyond them a 135M-1.5B model's
#: probabilities are negligible at the temperatures used for fixes.
TOP_K = 64


def choose(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> np.ndarray:
    """One token per row of `logits` (B, V): the argmax at temperature 0, else a sample among the
    `TOP_K` most likely tokens, cut to the smallest set holding `top_p` of the probability."""
    if temperature <= 0:
        return logits.argmax(axis=-1)
    k = min(TOP_K, logits.shape[-1])
    idx = np.argpartition(-logits, k - 1, axis=-1)[:, :k]
    top = np.take_along_axis(logits, idx, axis=-1).astype(np.float64) / temperature
    order = np.argsort(-top, axis=-1)
    idx, top = np.take_along_axis(idx, order, axis=-1), np.take_along_axis(top, order, axis=-1)
    p = np.exp(top - top[:, :1])
    p /= p.sum(axis=-1, keepdims=True)
    if 0 < top_p < 1:
        keep = np.cumsum(p, axis=-1) - p < top_p  # the first token is always kept
        p = np.where(keep, p, 0.0)
        p /= p.sum(axis=-1, keepdims=True)
    u = rng.random((p.shape[0], 1))
    pick = np.minimum((np.cumsum(p, axis=-1) < u).sum(axis=-1), k - 1)
    return idx[np.arange(len(idx)), pick]


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Prefiller:
    """Each prompt's cache, starting from a slice of the previous prompt's cache as far as the two
    share tokens; only caches are computed (no logits of prompt positions)."""

    def __init__(self, model, forward):
        self.model = model
        self.forward = forward
        self._last: tuple[list[int], list] | None = None
        self.computed = self.reused = 0

    def cache_for(self, tokens: Sequence[int]) -> list:
        from mlx_lm.models.cache import make_prompt_cache

        tokens = list(tokens)
        cache = make_prompt_cache(self.model)
        reused = 0
        if self._last is not None:
            last_tokens, last_cache = self._last
            reused = common_prefix_length(last_tokens, tokens)
            for mine, old in zip(cache, last_cache):
                if reused:  # a slice is a new array: extending this cache never touches the old one
                    mine.keys, mine.values = old.keys[..., :reused, :], old.values[..., :reused, :]
                    mine.offset = reused
        if len(tokens) > reused:
            self.forward.prefill(tokens[reused:], cache)
        self.computed += len(tokens) - reused
        self.reused += reused
        self._last = (tokens, cache)
        return cache


class Batch:
    """Sequences decoding together in one left-padded batch cache."""

    def __init__(self, forward):
        self.forward = forward
        self.cache: list | None = None
        self.owners: list[tuple[int, int]] = []  # (prompt, sample) of each row
        self.tokens: list[list[int]] = []
        self.next: list[int] = []
        self.constrained: list[bool] = []

    def __len__(self) -> int:
        return len(self.owners)

    def add(
        self, owners: list[tuple[int, int]], caches: list[list], last_tokens: list[int], constrained: list[bool]
    ) -> None:
        merged = [type(layer[0]).merge(list(layer)) for layer in zip(*caches)]
        if self.cache is None:
            self.cache = merged
        else:
            for mine, new in zip(self.cache, merged):
                mine.extend(new)
        self.owners += owners
        self.tokens += [[] for _ in owners]
        self.next += last_tokens
        self.constrained += constrained

    def logits(self) -> np.ndarray:
        import mlx.core as mx

        return np.asarray(self.forward.logits(mx.array(self.next), self.cache), dtype=np.float32)

    def keep(self, rows: list[int]) -> None:
        if not rows:
            self.cache, self.owners, self.tokens, self.next, self.constrained = None, [], [], [], []
            return
        for c in self.cache:
            c.filter(rows)
        self.owners = [self.owners[i] for i in rows]
        self.tokens = [self.tokens[i] for i in rows]
        self.next = [self.next[i] for i in rows]
        self.constrained = [self.constrained[i] for i in rows]


def _constrain(batch: Batch, logits: np.ndarray, constraints: list, tokenizer, vocab: Vocabulary) -> None:
    """Mask, in place, the tokens each constrained row may not write next (`PrefixConstraint`)."""
    for row, (i, _) in enumerate(batch.owners):
        if not batch.constrained[row]:
            continue
        allowed = constraints[i].allowed(tokenizer.decode(batch.tokens[row]), vocab)
        if allowed is None:
            batch.constrained[row] = False  # free from here on
            continue
        keep = np.asarray(allowed)
        keep = keep[keep < logits.shape[-1]]
        masked = np.full(logits.shape[-1], -np.inf, dtype=logits.dtype)
        masked[keep] = logits[row, keep]
        logits[row] = masked


def sample_cpu(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    *,
    n: int,
    temperature: float,
    top_p: float,
    seed: int,
    max_tokens: int,
    batch_size: int,
    stop: Callable[[str], bool] | None = None,
    constraints: Sequence[PrefixConstraint | None] | None = None,
) -> list[list[str]]:
    """`secai.model.generate.sample` for a plain llama on a CPU (see the module docstring)."""
    from secai.model.cpu.forward import NumpyExpForward

    forward = NumpyExpForward(model)
    prefill = Prefiller(model, forward)
    rng = np.random.default_rng(seed)
    eos = set(tokenizer.eos_token_ids)
    texts: list[list[str]] = [[""] * n for _ in prompts]
    slots = max(n, batch_size)
    refill_at = max(n, slots // 4)  # refill in groups: each group costs one extra cache merge
    # Sorted, so that neighbours share the longest prefixes.
    pending = deque(sorted(range(len(prompts)), key=lambda i: list(prompts[i])))
    constraints = list(constraints or [None] * len(prompts))
    vocab = vocabulary(tokenizer) if any(constraints) else None
    batch = Batch(forward)
    while pending or len(batch):
        free = slots - len(batch)
        if pending and (not len(batch) or free >= min(refill_at, n * len(pending))):
            owners, caches, last = [], [], []
            while pending and free >= n:
                i = pending.popleft()
                p = list(prompts[i])
                cache = prefill.cache_for(p[:-1])
                owners += [(i, k) for k in range(n)]
                caches += [cache] * n  # merge copies each into the batch cache
                last += [p[-1]] * n
                free -= n
            batch.add(owners, caches, last, [constraints[i] is not None for i, _ in owners])
        logits = batch.logits()
        if vocab is not None:
            _constrain(batch, logits, constraints, tokenizer, vocab)
        new = choose(logits, temperature, top_p, rng).tolist()
        keep = []
        for row, token in enumerate(new):
            tokens = batch.tokens[row]
            done = token in eos
            if not done:
                tokens.append(token)
                done = len(tokens) >= max_tokens or (stop is not None and stop(tokenizer.decode(tokens)))
            if done:
                i, k = batch.owners[row]
                texts[i][k] = tokenizer.decode(tokens)
            else:
                keep.append(row)
        batch.next = new
        if len(keep) < len(batch):
            batch.keep(keep)
    return texts
