"""Workarounds for mlx-lm model classes that break batched decoding, applied when a model loads.

mlx-lm 0.32's gemma2 attention groups the query heads as (batch, kv heads, repeats, length, dim)
but applies the batch cache's (batch, 1, length, keys) mask unchanged. With a left-padded batch of
more than one sequence the two do not broadcast (`[broadcast_shapes] Shapes (32,1,1,348) and
(32,2,2,1,348)`), in secai's decoder and in `mlx_lm.batch_generate` alike. The fix gives those
attention modules a subclass that adds the missing repeats axis to a 4-D mask; the module's
parameters, names and everything else stay as they are, so adapters and checkpoints are unaffected.
"""

from __future__ import annotations

from functools import cache


@cache
def _grouped_mask_class(base: type) -> type:
    class GroupedMaskAttention(base):
        def __call__(self, x, mask=None, cache=None):
            if mask is not None and not isinstance(mask, str) and mask.ndim == 4 and self.repeats > 1:
                mask = mask[:, :, None]
            return super().__call__(x, mask, cache)

    GroupedMaskAttention.__name__ = GroupedMaskAttention.__qualname__ = f"{base.__name__}WithGroupedMask"
    return GroupedMaskAttention


def _grouped_attention_types() -> tuple[type, ...]:
    from mlx_lm.models import gemma2

    return (gemma2.Attention,)


def fix_batched_masks(model) -> int:
    """Patch the attention modules of `model` whose batched masks would not broadcast; how many."""
    grouped = _grouped_attention_types()
    patched = 0
    for _, module in model.named_modules():
        if type(module) in grouped and getattr(module, "repeats", 1) > 1:
            module.__class__ = _grouped_mask_class(type(module))
            patched += 1
    return patched
