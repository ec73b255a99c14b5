"""Length-sorted, seeded, resumable batches in the `iterate_batches` form mlx-lm's trainer takes."""

from __future__ import annotations

import math
from collections.abc import Iterator

from secai.errors import SecaiError

PAD_MULTIPLE = 8


class LengthSortedBatches:
    """Batches of similar length for mlx-lm's trainer (its `iterate_batches` signature).

    Examples are sorted by token count and cut into batches once; each epoch visits the batches
    in a seeded random order. `skip` drops the first batches of the stream (resume), and
    `real_tokens` holds the unpadded token count of each batch handed out, for tokens/s.
    Subclasses change what a batch is made of by overriding `arrays`.
    """

    def __init__(self, seed: int, skip: int = 0):
        self.seed = seed
        self.skip = skip
        self.real_tokens: list[int] = []

    @staticmethod
    def _array(dataset, idx: list[int], max_seq_length: int):
        import mlx.core as mx
        import numpy as np

        rows = [dataset[j] for j in idx]
        lengths = [min(len(t), max_seq_length) for t, _ in rows]
        width = min(PAD_MULTIPLE * math.ceil(max(lengths) / PAD_MULTIPLE), max_seq_length)
        arr = np.zeros((len(rows), width), np.int32)
        for r, ((tokens, _), n) in enumerate(zip(rows, lengths)):
            arr[r, :n] = tokens[:n]
        # mlx-lm's mask covers target positions offset..length; length - 1 is the last real token.
        return mx.array(arr), mx.array([[off, n - 1] for (_, off), n in zip(rows, lengths)]), sum(lengths)

    def arrays(self, dataset, idx: list[int], max_seq_length: int) -> tuple[tuple, int]:
        """The batch handed to the loss, and its unpadded token count."""
        x, lengths, real = self._array(dataset, idx, max_seq_length)
        return (x, lengths), real

    def __call__(self, dataset, batch_size, max_seq_length, loop=False, seed=None, comm_group=None) -> Iterator:
        import numpy as np

        length = getattr(dataset, "token_length", None) or (lambda i: len(dataset[i][0]))
        order = sorted(range(len(dataset)), key=length)
        if not loop:  # validation: every example once, in length order, the last batch may be short
            for i in range(0, len(order), batch_size):
                yield self.arrays(dataset, order[i : i + batch_size], max_seq_length)[0]
            return
        if len(order) < batch_size:
            raise SecaiError(f"dataset has {len(order)} examples, fewer than the batch size {batch_size}")
        batches = [order[i : i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
        skip, epoch = self.skip, 0
        while True:
            for b in np.random.default_rng(self.seed + epoch).permutation(len(batches)):
                if skip > 0:
                    skip -= 1
                    continue
                batch, real = self.arrays(dataset, batches[b], max_seq_length)
                self.real_tokens.append(real)
                yield batch
            epoch += 1
