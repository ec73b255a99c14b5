from __future__ import annotations

import pytest

from secai.model.cpu.forward import ModelForward, NumpyExpForward, forward_for


@pytest.fixture(scope="module")
def lm(tiny_model):
    from secai.config import load_settings
    from secai.model.base import load, resolve_model

    return load(resolve_model(str(tiny_model), load_settings()))[0]


def _prompts():
    return [[3, 17, 29, 5, 8, 41, 7, 12, 90, 33, 2], [3, 17, 29, 60], [3, 11, 64, 19, 23, 71, 5]]


def test_tiny_llama_on_cpu_gets_the_numpy_forward(lm):
    assert type(forward_for(lm)) is NumpyExpForward


def test_prefill_matches_the_model_forward(lm):
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    tokens = list(range(3, 60))
    theirs, mine = make_prompt_cache(lm), make_prompt_cache(lm)
    ModelForward(lm, prefill_step=16).prefill(tokens, theirs)
    NumpyExpForward(lm, prefill_step=13).prefill(tokens, mine)  # chunks that line up differently
    for a, b in zip(theirs, mine):
        assert a.offset == b.offset == len(tokens)
        assert mx.allclose(a.keys[..., : a.offset, :], b.keys[..., : b.offset, :], atol=1e-5).item()
        assert mx.allclose(a.values[..., : a.offset, :], b.values[..., : b.offset, :], atol=1e-5).item()


def test_batched_greedy_decoding_with_left_padding_matches_the_model(lm):
    import mlx.core as mx
    from mlx_lm.models.cache import BatchKVCache, make_prompt_cache

    def batch_cache(forward):
        per_seq = []
        for p in _prompts():
            cache = make_prompt_cache(lm)
            forward.prefill(p[:-1], cache)
            per_seq.append(cache)
        return [BatchKVCache.merge(list(layer)) for layer in zip(*per_seq)]

    model_fwd, numpy_fwd = ModelForward(lm), NumpyExpForward(lm)
    theirs, mine = batch_cache(model_fwd), batch_cache(numpy_fwd)
    a = b = mx.array([p[-1] for p in _prompts()])
    for _ in range(6):
        h_theirs = lm.model(a[:, None], cache=theirs)[:, -1]
        h_mine = numpy_fwd._hidden(b[:, None], mine)[:, -1]
        assert mx.allclose(h_theirs, h_mine, atol=1e-4).item()
        a = mx.argmax(lm.model.embed_tokens.as_linear(h_theirs), axis=-1)
        b = mx.argmax(lm.model.embed_tokens.as_linear(h_mine), axis=-1)
        assert a.tolist() == b.tolist()
    for c in mine:  # dropping the longest sequence shifts the padding away; results stay the same
        c.filter([1, 2])
    for c in theirs:
        c.filter([1, 2])
    assert numpy_fwd.greedy(b[1:], mine).tolist() == model_fwd.greedy(a[1:], theirs).tolist()
