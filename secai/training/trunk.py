"""Training the adapted top layers on cached hidden states of the frozen trunk.

LoRA adapts only the top `num_layers` blocks, so everything below them (the embedding and the
lower blocks: the *trunk*) is frozen and maps an example to the same hidden states at every
step. secai runs the trunk once per example, keeps its output, and trains the top blocks from
there with mlx-lm's trainer (through its `loss` and `iterate_batches` hooks). Each step then
costs the top blocks' forward and backward plus the output head on the answer tokens only,
instead of the whole model on every token. Every example starts with the same system prompt and
intro, so that shared prefix goes through the trunk once in all, and through the top blocks once
per step (its keys and values are shared by the batch). The loss and its gradients are
unchanged (tests compare them with mlx-lm's `default_loss`); the work per step is a fraction.

A Linux-CPU speed-up, used only for a plain llama on the CPU (`secai.model.cpu.forward.cpu_fast_path`:
the block calls below skip what other families add around their blocks, such as Gemma's embedding
scale and logit soft-capping) with some blocks left unadapted; every other architecture, and every
model on Metal, trains through mlx-lm's own loss (`supported()` says which).
"""

from __future__ import annotations

import logging
import math
import time

from secai.errors import SecaiError
from secai.training.batches import LengthSortedBatches

log = logging.getLogger("secai")

#: Answer positions per batch are padded to a multiple of this, so compiled steps see few shapes.
POSITIONS_MULTIPLE = 32
WIDTH_MULTIPLE = 8


def _inner(model):
    return getattr(model, "model", None)


def supported(model, num_layers: int) -> bool:
    from secai.model.cpu.forward import cpu_fast_path

    if not cpu_fast_path(model):
        return False
    inner = _inner(model)
    layers = getattr(inner, "layers", None)
    if inner is None or layers is None or not hasattr(inner, "embed_tokens") or not hasattr(inner, "norm"):
        return False
    if any(getattr(layer, "use_sliding", False) for layer in layers):
        return False
    if not (hasattr(model, "lm_head") or getattr(getattr(model, "args", None), "tie_word_embeddings", False)):
        return False
    return 0 < num_layers < len(layers)


def _head(model, h):
    if hasattr(model, "lm_head"):
        return model.lm_head(h)
    return _inner(model).embed_tokens.as_linear(h)


class _PrefixCache:
    """A stand-in for mlx-lm's KV cache inside one attention call: the new keys and values are
    placed after a shared prefix's (broadcast over the batch) by concatenation, which keeps the
    gradient flowing into the prefix; the result is kept in `keys`/`values`."""

    def __init__(self, keys=None, values=None):
        self.keys, self.values = keys, values
        self.offset = 0 if keys is None else int(keys.shape[2])

    def update_and_fetch(self, keys, values):
        import mlx.core as mx

        if self.keys is not None:
            batch = keys.shape[0]
            keys = mx.concatenate([mx.broadcast_to(self.keys, (batch, *self.keys.shape[1:])), keys], axis=2)
            values = mx.concatenate([mx.broadcast_to(self.values, (batch, *self.values.shape[1:])), values], axis=2)
        self.keys, self.values = keys, values
        return keys, values


def _mask(length: int, offset: int = 0):
    """The causal mask for `length` new positions after `offset` cached ones. An explicit boolean
    mask: mlx's fused "causal" mode is slower on a CPU."""
    from mlx_lm.models.base import create_causal_mask

    return create_causal_mask(length, offset) if length > 1 else None


def _blocks(layers, prefix, hidden):
    """`hidden` (batch, own tokens) through `layers` after `prefix` (1, prefix tokens); both outputs."""
    for layer in layers:
        record = _PrefixCache()
        prefix_next = layer(prefix, _mask(prefix.shape[1]), cache=record)
        hidden = layer(hidden, _mask(hidden.shape[1], prefix.shape[1]), cache=_PrefixCache(record.keys, record.values))
        prefix = prefix_next
    return prefix, hidden


def _numpy_block(layer, h, kv):
    """One llama block through `secai.model.cpu.forward`'s numpy-exponential attention and SiLU, after
    the prefix keys/values `kv` (or none); the output and the extended keys/values."""
    from mlx_lm.models.cache import KVCache

    from secai.model.cpu.forward import NumpyExpForward, _hidden_keys, _silu

    cache = KVCache()
    if kv is not None:
        cache.keys, cache.values = kv
        cache.offset = int(kv[0].shape[2])
    hidden = _hidden_keys(cache, h.shape[1])
    h = h + NumpyExpForward._attention(layer.self_attn, layer.input_layernorm(h), cache, hidden)
    x = layer.post_attention_layernorm(h)
    mlp = layer.mlp
    h = h + mlp.down_proj(_silu(mlp.gate_proj(x)) * mlp.up_proj(x))
    return h, (cache.keys[..., : cache.offset, :], cache.values[..., : cache.offset, :])


def common_prefix(examples: list[tuple[list[int], int]]) -> int:
    """Tokens every example starts with, short of its first predicted position."""
    first = examples[0][0]
    n = min(min(off for _, off in examples) - 1, *(len(t) - 1 for t, _ in examples))
    for tokens, _ in examples[1:]:
        k = 0
        while k < n and tokens[k] == first[k]:
            k += 1
        n = k
    return max(n, 0)


class Encoded:
    """The training examples with the trunk's outputs, computed on first use.

    Item `i` is `(tokens, answer_offset, hidden, prefix_hidden)`: `prefix_hidden` is the trunk's
    output for the prefix every example shares (one array for all, computed up front), `hidden`
    its output for the example's own model inputs after it (all tokens but the last, at most
    `max_seq_length - 1` in all). An example is encoded when a batch first needs it, so a short
    run pays only for the examples it trains on.
    """

    def __init__(self, model, examples: list[tuple[list[int], int]], num_layers: int, max_seq_length: int):

        self.examples = []
        for tokens, offset in examples:
            tokens = list(tokens[:max_seq_length])
            if len(tokens) >= 2 and offset < len(tokens):
                self.examples.append((tokens, offset))
        if len(self.examples) < len(examples):
            log.warning(
                "training: %d of %d examples have no answer tokens within train.max_seq_length (%d); left out",
                len(examples) - len(self.examples),
                len(examples),
                max_seq_length,
            )
        if examples and not self.examples:
            raise SecaiError(f"no training example has answer tokens within {max_seq_length} tokens")
        from secai.model.cpu.forward import NumpyExpForward, forward_for

        inner = _inner(model)
        self._embed = inner.embed_tokens
        self._trunk = inner.layers[: len(inner.layers) - num_layers]
        # Nothing is differentiated here, so on a CPU the trunk can take generation's forward pass
        # with its exponentials in numpy (secai/model/cpu/forward.py).
        self._numpy = isinstance(forward_for(model), NumpyExpForward)
        self._hidden: dict[int, object] = {}
        self.seconds = 0.0
        t0 = time.perf_counter()
        self.prefix_length = n = common_prefix(self.examples) if self.examples else 0
        self._caches: list = [None] * len(self._trunk)
        prefix, caches = self._run(self.examples[0][0][:n] if n else [], self._caches)
        if n:
            self._caches = caches
        self.prefix = prefix[0]
        self.seconds += time.perf_counter() - t0

    def _run(self, tokens: list[int], caches: list) -> tuple:
        """The trunk's output for `tokens` after the cached prefix keys/values `caches` (None
        entries: no prefix), and the keys/values of prefix + tokens per block."""
        import mlx.core as mx

        h = self._embed(mx.array(tokens, dtype=mx.int32)[None])
        out = []
        if not tokens:
            return h, out
        for layer, kv in zip(self._trunk, caches):
            if self._numpy:
                h, kv = _numpy_block(layer, h, kv)
            else:
                cache = _PrefixCache(*kv) if kv is not None else _PrefixCache()
                h = layer(h, _mask(h.shape[1], cache.offset), cache=cache)
                kv = (cache.keys, cache.values)
            out.append(kv)
        mx.eval(h, out)
        return h, out

    def __len__(self) -> int:
        return len(self.examples)

    def token_length(self, i: int) -> int:
        return len(self.examples[i][0])

    def __getitem__(self, i: int) -> tuple:
        tokens, offset = self.examples[i]
        if i not in self._hidden:
            t0 = time.perf_counter()
            h, _ = self._run(tokens[self.prefix_length : -1], self._caches)
            self._hidden[i] = h[0]
            self.seconds += time.perf_counter() - t0
        return tokens, offset, self._hidden[i], self.prefix

    @property
    def encoded(self) -> int:
        return len(self._hidden)


def encode(model, examples: list[tuple[list[int], int]], num_layers: int, max_seq_length: int) -> list[tuple]:
    """Every example of `Encoded`, computed now."""
    enc = Encoded(model, examples, num_layers, max_seq_length)
    return [enc[i] for i in range(len(enc))]


def loss(model, prefix, hidden, positions, targets, weights, *, num_layers: int):
    """Mean cross-entropy of the answer tokens, from trunk outputs through the top blocks.

    `prefix` (1, P, dim) is the shared prefix's trunk output, `hidden` (batch, width, dim) the
    examples' own; `positions` index the flattened `hidden` where the next token is an answer
    token, `targets` are those tokens, `weights` 0 for padding entries."""
    import mlx.core as mx
    import mlx.nn as nn

    inner = _inner(model)
    top = inner.layers[len(inner.layers) - num_layers :]
    if prefix.shape[1]:
        _, h = _blocks(top, prefix, hidden)
    else:
        h = hidden
        for layer in top:
            h = layer(h, _mask(h.shape[1]), cache=None)
    h = inner.norm(h)
    picked = h.reshape(-1, h.shape[-1])[positions]
    ce = nn.losses.cross_entropy(_head(model, picked), targets) * weights
    ntoks = weights.sum()
    return ce.astype(mx.float32).sum() / ntoks, ntoks


def make_loss(num_layers: int):
    def trunk_loss(model, prefix, hidden, positions, targets, weights):
        return loss(model, prefix, hidden, positions, targets, weights, num_layers=num_layers)

    return trunk_loss


def batch_arrays(rows: list[tuple], max_seq_length: int) -> tuple[tuple, int]:
    """The loss inputs for a batch of encoded examples, and its unpadded token count."""
    import mlx.core as mx
    import numpy as np

    prefix = rows[0][3]
    n = int(prefix.shape[0])
    widths = [int(h.shape[0]) for _, _, h, _ in rows]
    width = WIDTH_MULTIPLE * math.ceil(max(widths) / WIDTH_MULTIPLE)
    hidden = mx.zeros((len(rows), width, int(prefix.shape[-1])), dtype=prefix.dtype)
    positions: list[int] = []
    targets: list[int] = []
    for r, ((tokens, offset, h, _), w) in enumerate(zip(rows, widths)):
        hidden[r, :w] = h
        # Input position j (of all tokens) predicts token j + 1; the loss covers the answer tokens.
        for j in range(offset - 1, n + w):
            positions.append(r * width + j - n)
            targets.append(tokens[j + 1])
    real = len(positions)
    padded = POSITIONS_MULTIPLE * math.ceil(real / POSITIONS_MULTIPLE)
    weights = np.zeros(padded, np.float32)
    weights[:real] = 1.0
    positions += [0] * (padded - real)
    targets += [0] * (padded - real)
    arrays = (
        prefix[None],
        hidden,
        mx.array(positions, dtype=mx.uint32),
        mx.array(targets, dtype=mx.int32),
        mx.array(weights),
    )
    return arrays, sum(len(r[0]) for r in rows)


class Batches(LengthSortedBatches):
    """`LengthSortedBatches` (same order, seeding and resume) over `Encoded` examples."""

    def arrays(self, dataset, idx: list[int], max_seq_length: int) -> tuple[tuple, int]:
        return batch_arrays([dataset[j] for j in idx], max_seq_length)
