"""The forward passes generation runs: the model's own, or on a CPU a llama forward pass that takes
its exponentials from numpy.

The `mlx[cpu]` wheel computes `exp` one element at a time, about 20x slower than numpy here
(docs/generation-speed.md). Two steps of a llama layer are mostly exponentials: the attention softmax
and the SiLU of the MLP. `NumpyExpForward` runs the model's own layers and weights and moves just
those two steps to numpy; every matrix product stays in MLX (OpenBLAS). Greedy decoding takes the
argmax of the logits directly, without the log-softmax over the whole vocabulary that
`mlx_lm`'s generators compute for sampling.
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx
import numpy as np


class ModelForward:
    """The model's own forward pass (any mlx-lm model, any device)."""

    def __init__(self, model, prefill_step: int = 512):
        self.model = model
        self.prefill_step = prefill_step

    def prefill(self, tokens: Sequence[int], cache: list) -> None:
        """Extend `cache` (one single-sequence cache per layer) with `tokens`; no logits are computed."""
        for i in range(0, len(tokens), self.prefill_step):
            self._extend(mx.array(tokens[i : i + self.prefill_step])[None], cache)
            mx.eval([c.state for c in cache])

    def greedy(self, tokens: mx.array, cache: list) -> mx.array:
        """The next token of each sequence: `tokens` has shape (B,), `cache` is batched."""
        return mx.argmax(self.logits(tokens, cache), axis=-1)

    def logits(self, tokens: mx.array, cache: list) -> mx.array:
        """The next-token logits of each sequence, (B, V)."""
        return self.model(tokens[:, None], cache=cache)[:, -1]

    def _extend(self, tokens: mx.array, cache: list) -> None:
        self.model(tokens, cache=cache)


class NumpyExpForward(ModelForward):
    """A llama forward pass with the attention softmax and the SiLU computed in numpy.

    Works with mlx-lm's `KVCache` (one sequence) and left-padded `BatchKVCache`.
    """

    def logits(self, tokens: mx.array, cache: list) -> mx.array:
        h = self._hidden(tokens[:, None], cache)[:, -1]
        m = self.model
        return m.model.embed_tokens.as_linear(h) if m.args.tie_word_embeddings else m.lm_head(h)

    def _extend(self, tokens: mx.array, cache: list) -> None:
        self._hidden(tokens, cache, cache_only=True)

    def _hidden(self, tokens: mx.array, cache: list, cache_only: bool = False) -> mx.array:
        inner = self.model.model
        h = inner.embed_tokens(tokens)
        hidden = _hidden_keys(cache[0], tokens.shape[1])  # the same for every layer
        last = len(inner.layers) - 1
        for i, (layer, c) in enumerate(zip(inner.layers, cache)):
            x = layer.input_layernorm(h)
            if cache_only and i == last:  # only the last layer's keys and values are still needed
                self._attention(layer.self_attn, x, c, hidden, kv_only=True)
                return h
            h = h + self._attention(layer.self_attn, x, c, hidden)
            mlp = layer.mlp
            x = layer.post_attention_layernorm(h)
            h = h + mlp.down_proj(_silu(mlp.gate_proj(x)) * mlp.up_proj(x))
        return inner.norm(h)

    @staticmethod
    def _attention(at, x: mx.array, cache, hidden: np.ndarray | None, kv_only: bool = False) -> mx.array | None:
        B, L, _ = x.shape
        nh, nkv = at.n_heads, at.n_kv_heads
        k = at.k_proj(x).reshape(B, L, nkv, -1).transpose(0, 2, 1, 3)
        v = at.v_proj(x).reshape(B, L, nkv, -1).transpose(0, 2, 1, 3)
        if kv_only:
            cache.update_and_fetch(at.rope(k, offset=cache.offset), v)
            return None
        q = at.q_proj(x).reshape(B, L, nh, -1).transpose(0, 2, 1, 3)
        q = at.rope(q, offset=cache.offset)
        keys, values = cache.update_and_fetch(at.rope(k, offset=cache.offset), v)
        hd, rep = q.shape[-1], nh // nkv
        # Query heads sharing a key/value head are stacked along the query axis: (B, nkv, rep*L, hd).
        q = (q * at.scale).reshape(B, nkv, rep * L, hd)
        if L == 1:  # keys leading: a batch's sliced key buffer is not copied
            scores = np.asarray(keys @ q.swapaxes(-1, -2)).transpose(0, 1, 3, 2)
        else:
            scores = np.asarray(q @ keys.swapaxes(-1, -2))
        probs = _softmax(scores, L, rep, hidden)  # (B, nkv, rep*L, Lk)
        out = mx.array(probs) @ values  # (B, nkv, rep*L, hd)
        out = out.reshape(B, nh, L, hd).transpose(0, 2, 1, 3).reshape(B, L, -1)
        return at.o_proj(out)


def _hidden_keys(cache, L: int) -> np.ndarray | None:
    """Which keys each of `L` new queries must not see, shaped (B, 1, 1, L, Lk) (None: it sees all).

    Query i sits at buffer position start+i and sees keys 0..start+i, except a batch row's left
    padding (mlx-lm's `BatchKVCache` aligns sequences of different lengths on the right).
    """
    idx = getattr(cache, "_idx", None)
    start = int(idx) if idx is not None else int(cache.offset)
    j = np.arange(start + L)
    pad = getattr(cache, "left_padding", None)
    pad = np.array(pad) if pad is not None else np.zeros(1, dtype=np.int64)
    if L == 1 and not pad.any():
        return None
    future = j[None, :] > start + np.arange(L)[:, None]  # (L, Lk)
    padding = j[None, :] < pad[:, None]  # (B, Lk)
    return (future[None] | padding[:, None, :])[:, None, None]


def _softmax(scores: np.ndarray, L: int, rep: int, hidden: np.ndarray | None) -> np.ndarray:
    """Softmax over the last axis of scores laid out (B, nkv, rep*L, Lk), as a new array."""
    B, nkv, _, Lk = scores.shape
    s = np.array(scores, order="C").reshape(B, nkv, rep, L, Lk)
    if hidden is not None:
        np.copyto(s, -np.inf, where=hidden)
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s.reshape(B, nkv, rep * L, Lk)


def _silu(x: mx.array) -> mx.array:
    g = np.array(x)
    with np.errstate(over="ignore"):
        d = np.exp(-g)
    d += 1.0
    g /= d
    return mx.array(g)


def cpu_fast_path(model) -> bool:
    """Whether the Linux-CPU speed-ups apply to `model`: a plain llama on the CPU device.

    They are exact only for mlx-lm's llama layout (secai's numpy attention and SiLU, the frozen
    trunk's block calls); every other architecture, and every model on Metal, runs mlx-lm's own code.
    """
    args = getattr(model, "args", None)
    return mx.default_device() == mx.cpu and getattr(args, "model_type", None) == "llama" and _plain_llama(model)


def forward_for(model) -> ModelForward:
    """The fastest forward pass that is exact for `model` on the current device."""
    return NumpyExpForward(model) if cpu_fast_path(model) else ModelForward(model)


def _plain_llama(model) -> bool:
    """mlx-lm's llama layout with full attention everywhere (no sliding window, no extra norms)."""
    from mlx_lm.models import llama

    inner = getattr(model, "model", None)
    return (
        isinstance(model, llama.Model)
        and all(t == "full_attention" for t in inner.layer_types)
        and all(type(layer) is llama.TransformerBlock and type(layer.mlp) is llama.MLP for layer in inner.layers)
    )
