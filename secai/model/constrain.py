"""Constrained decoding: a sequence's opening text kept to one of a set of allowed texts.

`PrefixConstraint(targets)` lets a sequence write only text that is a prefix of one of `targets`;
once it has written one of them whole, it decodes freely. At each step the allowed tokens are those
whose text continues the sequence's text along some target (a token may also run past a target's
end: the text after it is free). Sampling then chooses among the allowed tokens by the model's own
probabilities, so the model still picks which target to write, and how to go on after it.

The fix provider uses it for the ```before block of an answer, which must be whole lines copied
from the lines it names: a small model otherwise copies lines from the prompt's example instead.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Sequence

_VOCABS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Vocabulary:
    """Each token's text as it decodes after other text, and the tokens for a given text."""

    def __init__(self, tokenizer):
        hf = getattr(tokenizer, "_tokenizer", tokenizer)
        # Decoded after an anchor, a token keeps its leading space (SentencePiece drops it alone).
        anchor = hf.encode("a", add_special_tokens=False)
        lead = hf.decode(anchor)
        special = set(hf.all_special_ids)
        texts = hf.batch_decode([anchor + [i] for i in range(len(hf))])
        self.by_text: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            if i in special or not text.startswith(lead):
                continue
            s = text[len(lead) :]
            if s and "\ufffd" not in s:  # a part of a multi-byte character has no text of its own
                self.by_text.setdefault(s, []).append(i)
        self._sorted = sorted(self.by_text)
        self.longest = max(map(len, self._sorted), default=0)

    def prefixes_of(self, text: str) -> list[int]:
        """Tokens whose text is a non-empty prefix of `text`."""
        out: list[int] = []
        for n in range(1, min(len(text), self.longest) + 1):
            out += self.by_text.get(text[:n], ())
        return out

    def starting_with(self, text: str) -> list[int]:
        """Tokens whose text starts with `text` (and is longer)."""
        out: list[int] = []
        i = bisect.bisect_right(self._sorted, text)
        while i < len(self._sorted) and self._sorted[i].startswith(text):
            out += self.by_text[self._sorted[i]]
            i += 1
        return out


def vocabulary(tokenizer) -> Vocabulary:
    """The tokenizer's `Vocabulary`, built once per tokenizer object."""
    vocab = _VOCABS.get(tokenizer)
    if vocab is None:
        vocab = _VOCABS[tokenizer] = Vocabulary(tokenizer)
    return vocab


class PrefixConstraint:
    """The text a sequence writes first must be one of `targets`."""

    def __init__(self, targets: Sequence[str]):
        self.targets = sorted({t for t in targets if t})

    def allowed(self, text: str, vocab: Vocabulary) -> list[int] | None:
        """The tokens that may follow `text`; None when decoding is free: a target is complete, or
        `text` left every target (it cannot, unless a step before it had no allowed token)."""
        # no token is longer than vocab.longest: what lies beyond cannot change the answer
        rests = {t[len(text) : len(text) + vocab.longest] for t in self.targets if t.startswith(text)}
        if not rests or "" in rests:
            return None
        ids: set[int] = set()
        for rest in rests:
            ids.update(vocab.prefixes_of(rest))
            ids.update(vocab.starting_with(rest))
        return sorted(ids) or None
