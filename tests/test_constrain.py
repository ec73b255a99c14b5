"""Constrained decoding (secai/model/constrain.py): the answer's opening stays inside its targets,
on both samplers (secai's CPU sampler and mlx-lm's BatchGenerator)."""

from __future__ import annotations

import pytest

from secai.fix.prompt import before_openings, edit_from_answer, parse_fix_answer
from secai.model.constrain import PrefixConstraint, Vocabulary, vocabulary


class _CharTokenizer:
    """Tokens: every printable character, newline, and a few longer pieces (as BPE has)."""

    pieces = ["```", "before", "\n   ", "x =", " 1", "\n```\n", "1\n```\nmore"]

    def __init__(self):
        chars = [chr(c) for c in range(32, 127)] + ["\n"]
        self.texts = ["<eos>", *chars, *self.pieces]
        self.all_special_ids = [0]

    def __len__(self):
        return len(self.texts)

    def encode(self, text, add_special_tokens=False):
        return [self.texts.index(ch) for ch in text]

    def decode(self, ids):
        return "".join(self.texts[i] for i in ids)

    def batch_decode(self, rows):
        return [self.decode(r) for r in rows]


def _texts(vocab: Vocabulary, ids):
    tok = _CharTokenizer()
    return {tok.texts[i] for i in ids}


def test_allowed_tokens_continue_a_target_and_decoding_is_free_after_one():
    vocab = Vocabulary(_CharTokenizer())
    c = PrefixConstraint(["```before\n    x = 1\n```\n", "```before\ny = 2\n```\n"])
    assert _texts(vocab, c.allowed("", vocab)) == {"`", "```"}
    assert _texts(vocab, c.allowed("```before", vocab)) == {"\n", "\n   "}
    assert _texts(vocab, c.allowed("```before\n", vocab)) == {" ", "y"}
    # a token may also run past the end of a target: what follows one is free
    assert _texts(vocab, c.allowed("```before\n    x = ", vocab)) == {"1", "1\n```\nmore"}
    assert _texts(vocab, c.allowed("```before\n    x = 1", vocab)) == {"\n", "\n```\n"}
    assert c.allowed("```before\n    x = 1\n```\n", vocab) is None  # complete
    assert c.allowed("```before\n    x = 1\n```\n```after\n", vocab) is None
    assert c.allowed("something else", vocab) is None  # left every target: nothing to keep to
    assert 0 not in (c.allowed("", vocab) or [])  # never a special token (no early end)


def test_before_openings_are_the_blocks_the_parser_places_once():
    lines = ["def f(a):", "    x = run(a)", "", "    x = run(a)", "    return x", "z = 1"]
    openings = before_openings(lines, 2, 5)
    bodies = [o.split("\n", 1)[1].rsplit("\n```", 1)[0] for o in openings]
    assert "    return x" in bodies and "    x = run(a)\n\n    x = run(a)" in bodies
    assert "    x = run(a)" not in bodies  # twice in the named lines: the parser refuses it
    assert "" not in bodies and "def f(a):" not in bodies and "z = 1" not in bodies
    for opening in openings:
        answer = parse_fix_answer(opening + "```after\n    return x or 0\n```\nRationale: r")
        edit = edit_from_answer(answer, lines, 2, 5)
        assert (edit.start, edit.end) == (2, 5) and edit.new != edit.old


@pytest.fixture(scope="module")
def lm(tiny_model):
    from secai.config import load_settings
    from secai.model.base import load, resolve_model

    return load(resolve_model(str(tiny_model), load_settings()))


def test_the_vocabulary_of_a_real_tokenizer_reproduces_encoded_text(lm):
    _, tokenizer = lm
    vocab = vocabulary(tokenizer)
    assert vocabulary(tokenizer) is vocab  # built once per tokenizer
    text = "```before\n    query = db.execute(sql, (a,))\n```\n"
    ids = tokenizer.encode(text, add_special_tokens=False)
    by_id = {i: t for t, some in vocab.by_text.items() for i in some}
    assert "".join(by_id[i] for i in ids) == text


@pytest.mark.parametrize("path", ["secai", "mlx-lm"])
def test_every_answer_opens_with_a_target_on_both_samplers(lm, path, monkeypatch):
    """A random model never writes these texts by chance; constrained, every sample does, and an
    unconstrained prompt in the same batch is left alone."""
    from secai.model import generate
    from secai.model.cpu import forward

    if path == "mlx-lm":
        monkeypatch.setattr(forward, "cpu_fast_path", lambda model: False)
    model, tokenizer = lm
    targets = ["```before\n    x = run(a)\n```\n", "```before\nreturn x\n```\n"]
    prompts = [tokenizer.encode("fix this"), tokenizer.encode("and this one")]
    out = generate.sample(
        model,
        tokenizer,
        prompts,
        n=4,
        temperature=1.0,
        seed=3,
        max_tokens=40,
        batch_size=8,
        constraints=[PrefixConstraint(targets), None],
    )
    assert all(any(a.startswith(t) for t in targets) for a in out[0]), out[0]
    assert not any(any(a.startswith(t) for t in targets) for a in out[1])
