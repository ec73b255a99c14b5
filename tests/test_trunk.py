"""The frozen-trunk training path: the same loss and gradients as mlx-lm's full forward pass."""

import numpy as np
import pytest

from secai.training import trunk
from secai.training.train import LengthSortedBatches


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from tiny_model import make_tiny_model

    path = make_tiny_model(tmp_path_factory.mktemp("tiny4"), layers=4)
    model, _ = load(str(path))
    model.freeze()
    linear_to_lora_layers(
        model,
        2,
        {"rank": 4, "scale": 10.0, "dropout": 0.0, "keys": ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"]},
    )
    # Non-zero B matrices, so the adapted blocks differ from the base model.
    mx.random.seed(1)
    params = tree_flatten(model.trainable_parameters())
    model.update(tree_unflatten([(k, mx.random.normal(v.shape) * 0.05) for k, v in params]))
    rng = np.random.default_rng(0)
    shared = rng.integers(1, 400, size=9).tolist()  # like the system prompt every example starts with
    examples = []
    for n in (23, 40, 31, 17):
        tokens = shared + rng.integers(1, 400, size=n).tolist()
        examples.append((tokens, int(rng.integers(12, len(tokens) - 2))))
    return model, examples


def test_supported_only_with_unadapted_blocks(adapted):
    model, _ = adapted
    assert trunk.supported(model, 2) and trunk.supported(model, 3)
    assert not trunk.supported(model, 4) and not trunk.supported(model, 0)


@pytest.mark.parametrize("shared_prefix", [True, False])
def test_loss_and_gradients_match_mlx_lm_default_loss(adapted, shared_prefix):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.trainer import default_loss

    model, examples = adapted
    if not shared_prefix:
        examples = [([7 + i] + tokens, off + 1) for i, (tokens, off) in enumerate(examples)]
    assert trunk.common_prefix(examples) == (9 if shared_prefix else 0)
    batch, lengths, _ = LengthSortedBatches._array(examples, list(range(len(examples))), 1024)
    encoded = trunk.encode(model, examples, 2, 1024)
    arrays, real = trunk.batch_arrays(encoded, 1024)
    assert real == sum(len(t) for t, _ in examples)

    full_loss, full_grads = nn.value_and_grad(model, default_loss)(model, batch, lengths)
    (fast_loss, ntoks), fast_grads = nn.value_and_grad(model, trunk.make_loss(2))(model, *arrays)
    full_ntoks = default_loss(model, batch, lengths)[1]
    assert int(ntoks.item()) == int(full_ntoks.item()) == sum(len(t) - off for t, off in examples)
    assert full_loss[0].item() == pytest.approx(fast_loss.item(), rel=1e-5)
    full_g, fast_g = dict(tree_flatten(full_grads)), dict(tree_flatten(fast_grads))
    assert full_g.keys() == fast_g.keys() and len(full_g) == 12  # 2 blocks x 3 keys x (A, B)
    for k in full_g:
        assert mx.allclose(full_g[k], fast_g[k], rtol=1e-4, atol=1e-6).item(), k


def test_batches_follow_the_length_sorted_order_and_resume(adapted):
    model, examples = adapted
    encoded = trunk.encode(model, examples * 3, 2, 1024)
    full = trunk.Batches(seed=3)
    stream = full(encoded, 2, 1024, loop=True)
    first = [next(stream)[1].shape for _ in range(8)]
    resumed = trunk.Batches(seed=3, skip=5)(encoded, 2, 1024, loop=True)
    assert [next(resumed)[1].shape for _ in range(3)] == first[5:8]
    assert all(shape[1] % trunk.WIDTH_MULTIPLE == 0 for shape in first)


def test_examples_longer_than_max_seq_length_are_cut(adapted):
    model, examples = adapted
    tokens, offset = examples[1]
    ((cut_tokens, _, hidden, prefix),) = trunk.encode(model, [(tokens, 5)], 2, 20)
    assert len(cut_tokens) == 20 and prefix.shape[0] + hidden.shape[0] == 19 and prefix.shape[0] == 4


def test_common_prefix_stops_before_the_first_answer_token():
    assert trunk.common_prefix([([1, 2, 3, 4, 5], 4), ([1, 2, 3, 9, 9], 3)]) == 2
    assert trunk.common_prefix([([1, 2, 3, 4], 3)]) == 2
    assert trunk.common_prefix([([1, 2], 1), ([5, 2], 1)]) == 0


def test_examples_are_encoded_when_a_batch_first_needs_them(adapted):
    model, examples = adapted
    enc = trunk.Encoded(model, examples * 2, 2, 1024)
    assert enc.encoded == 0 and enc.prefix.shape[0] == 9
    stream = trunk.Batches(seed=0)(enc, 2, 1024, loop=True)
    next(stream)
    assert enc.encoded == 2 and enc.token_length(1) == len(examples[1][0])


def test_the_numpy_exponential_trunk_matches_the_model_s_own(adapted):
    import mlx.core as mx

    model, examples = adapted
    fast = trunk.Encoded(model, examples, 2, 1024)
    plain = trunk.Encoded(model, examples, 2, 1024)
    plain._numpy = False
    # The prefix was computed with the numpy path: recompute it the plain way.
    plain._caches = [None] * len(plain._trunk)
    prefix, caches = plain._run(plain.examples[0][0][: plain.prefix_length], plain._caches)
    plain._caches, plain.prefix = caches, prefix[0]
    assert fast._numpy, "a llama model on the CPU takes the numpy path"
    assert mx.allclose(fast.prefix, plain.prefix, atol=1e-4).item()
    for i in range(len(examples)):
        assert mx.allclose(fast[i][2], plain[i][2], atol=1e-4).item()
