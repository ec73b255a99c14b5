"""Chat prompts through the model's own chat template (the one its tokenizer carries).

Every stage (fix proposals, triage verdicts, training, evaluation, validation) builds its prompts here, so
each architecture gets its own turn format; the embedded SmolLM2 model's ChatML template comes
from its GGUF metadata (`secai/model/gguf.py`) like any other tokenizer's.

- A template that rejects a system turn (Gemma's raises "System role not supported") gets the
  system text at the start of the first user turn instead.
- Text that spells one of the tokenizer's special or added marker tokens (`<|im_start|>`,
  `<end_of_turn>`, `[INST]`, ...) has its first character swapped for a look-alike, so untrusted
  content can never open or close a turn, whatever the family's markers are.
- A thinking model is asked to answer directly (`enable_thinking=False`).
- A tokenizer without a chat template (a base model, not an instruct model) is a one-line error.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Any

from secai.errors import ModelError

_LOOKALIKE = {"<": "\u2039", "[": "\uff3b"}
_MARKER = re.compile(r"^[<\[].*[>\]]$", re.S)


@dataclass
class _TemplateFacts:
    markers: re.Pattern | None
    system_role: bool


_FACTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _marker_strings(tokenizer) -> set[str]:
    """The tokenizer's special tokens and its added tokens that look like markers (`<...>`, `[...]`)."""
    out: set[str] = set()
    for tok in getattr(tokenizer, "all_special_tokens", None) or []:
        if isinstance(tok, str) and tok.strip() and len(tok) > 1:
            out.add(tok)
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    for added in decoder.values():
        content = getattr(added, "content", added)
        if isinstance(content, str) and len(content) > 2 and _MARKER.match(content):
            out.add(content)
    return out


def _render(tokenizer, messages: list[dict[str, str]], *, add_generation_prompt: bool, tokenize: bool):
    return tokenizer.apply_chat_template(
        messages, add_generation_prompt=add_generation_prompt, tokenize=tokenize, enable_thinking=False
    )


def _facts(tokenizer) -> _TemplateFacts:
    try:
        return _FACTS[tokenizer]
    except (KeyError, TypeError):
        pass
    has_template = getattr(tokenizer, "has_chat_template", None)
    if has_template is None:  # a plain transformers tokenizer rather than mlx-lm's wrapper
        has_template = getattr(tokenizer, "chat_template", None) is not None
    if not has_template:
        raise ModelError(
            "the model's tokenizer has no chat template (a base model?): use an instruct model, "
            "or add a chat_template to its tokenizer_config.json"
        )
    markers = sorted(_marker_strings(tokenizer), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(m) for m in markers)) if markers else None
    probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    try:
        _render(tokenizer, probe, add_generation_prompt=True, tokenize=False)
        system_role = True
    except Exception:  # jinja's TemplateError from raise_exception(), or a template bug
        try:
            _render(tokenizer, probe[1:], add_generation_prompt=True, tokenize=False)
        except Exception as e:
            raise ModelError(f"the model's chat template cannot render a user turn ({str(e)[:120]})") from None
        system_role = False
    facts = _TemplateFacts(markers=pattern, system_role=system_role)
    try:
        _FACTS[tokenizer] = facts
    except TypeError:  # not weak-referenceable: recomputed next time
        pass
    return facts


def defuse(text: str, markers: re.Pattern | None) -> str:
    """`text` with every spelled-out marker token broken (its first character swapped)."""
    if markers is None or not text:
        return text
    return markers.sub(lambda m: _LOOKALIKE.get(m.group(0)[0], "\u2039") + m.group(0)[1:], text)


def prepare_messages(tokenizer, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages this tokenizer's template accepts, with no marker token spelled out in any content."""
    facts = _facts(tokenizer)
    out = [{**m, "content": defuse(str(m.get("content", "")), facts.markers)} for m in messages]
    if not facts.system_role and out and out[0].get("role") == "system":
        system, rest = out[0]["content"], out[1:]
        if rest and rest[0].get("role") == "user":
            rest[0] = {**rest[0], "content": f"{system}\n\n{rest[0]['content']}"}
        else:
            rest.insert(0, {"role": "user", "content": system})
        out = rest
    return out


def chat_ids(tokenizer, messages: list[dict[str, Any]], *, add_generation_prompt: bool = True) -> list[int]:
    """Token ids of `messages` rendered by the model's chat template."""
    ids = _render(
        tokenizer, prepare_messages(tokenizer, messages), add_generation_prompt=add_generation_prompt, tokenize=True
    )
    if isinstance(ids, dict):  # a tokenizer that returns a BatchEncoding-like mapping
        ids = ids["input_ids"]
    return list(ids)


def chat_text(tokenizer, messages: list[dict[str, Any]], *, add_generation_prompt: bool = True) -> str:
    """The prompt text of `messages` rendered by the model's chat template."""
    return _render(
        tokenizer, prepare_messages(tokenizer, messages), add_generation_prompt=add_generation_prompt, tokenize=False
    )
