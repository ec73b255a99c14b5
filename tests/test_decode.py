"""The CPU sampler (secai/model/decode.py) against mlx-lm's own decoding of the same model."""

from __future__ import annotations

import numpy as np
import pytest

from secai.model.decode import Prefiller, choose, common_prefix_length, sample_cpu


@pytest.fixture(scope="module")
def lm(tiny_model):
    from secai.config import load_settings
    from secai.model.base import load, resolve_model

    return load(resolve_model(str(tiny_model), load_settings()))


def _prompts():
    # Two share a long prefix (as fix prompts share the system prompt), one shares nothing.
    shared = list(range(3, 40))
    return [shared + [41, 7, 12], shared + [60, 5], [11, 64, 19, 23, 71, 5, 9], shared + [41, 7, 13, 2]]


def _greedy_reference(model, tokenizer, prompt, max_tokens):
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(model)
    logits = model(mx.array(prompt)[None], cache=cache)[:, -1]
    out = []
    for _ in range(max_tokens):
        token = mx.argmax(logits, axis=-1).item()
        if token in set(tokenizer.eos_token_ids):
            break
        out.append(token)
        logits = model(mx.array([[token]]), cache=cache)[:, -1]
    return tokenizer.decode(out)


def test_choose_is_argmax_at_temperature_zero_and_samples_only_likely_tokens():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 500)).astype(np.float32)
    logits[:, 7] += 50  # one token holds nearly all the probability
    assert choose(logits, 0.0, 1.0, rng).tolist() == logits.argmax(-1).tolist()
    assert choose(logits, 0.7, 0.9, rng).tolist() == [7, 7, 7]
    flat = np.zeros((1, 500), dtype=np.float32)
    flat[0, [3, 9]] = 10.0  # two equally likely tokens, the rest negligible
    seen = {int(choose(flat, 1.0, 1.0, rng)[0]) for _ in range(64)}
    assert seen == {3, 9}


def test_common_prefix_length():
    assert common_prefix_length([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([1, 2], [1, 2]) == 2


def test_prefiller_reuses_shared_prefixes_and_gives_the_same_cache(lm):
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    from secai.model.cpu.forward import NumpyExpForward

    model, _ = lm
    forward = NumpyExpForward(model)
    prefill = Prefiller(model, forward)
    a, b = _prompts()[0], _prompts()[1]
    prefill.cache_for(a)
    shared = prefill.cache_for(b)
    assert prefill.reused == common_prefix_length(a, b) == 37
    fresh = make_prompt_cache(model)
    forward.prefill(b, fresh)
    for x, y in zip(shared, fresh):
        assert x.offset == y.offset == len(b)
        assert mx.allclose(x.keys[..., : x.offset, :], y.keys[..., : y.offset, :], atol=1e-5).item()


def test_greedy_batched_sampling_matches_mlx_lm_token_by_token(lm):
    model, tokenizer = lm
    prompts = _prompts()
    texts = sample_cpu(model, tokenizer, prompts, n=2, temperature=0.0, top_p=1.0, seed=0, max_tokens=12, batch_size=3)
    for prompt, samples in zip(prompts, texts):
        expected = _greedy_reference(model, tokenizer, prompt, 12)
        assert samples == [expected, expected]


def test_stop_ends_a_sequence_and_sampling_is_seeded(lm):
    model, tokenizer = lm
    prompts = _prompts()[:2]
    stopped = sample_cpu(
        model,
        tokenizer,
        prompts,
        n=1,
        temperature=0.0,
        top_p=1.0,
        seed=0,
        max_tokens=12,
        batch_size=2,
        stop=lambda text: len(text) > 0,
    )
    full = sample_cpu(model, tokenizer, prompts, n=1, temperature=0.0, top_p=1.0, seed=0, max_tokens=12, batch_size=2)
    for (short,), (long,) in zip(stopped, full):
        assert short and long.startswith(short) and len(short) < len(long)

    def draw(seed):
        return sample_cpu(
            model, tokenizer, prompts, n=3, temperature=1.0, top_p=0.95, seed=seed, max_tokens=8, batch_size=4
        )

    assert draw(1) == draw(1)
