"""Tiny random models of several mlx-lm architectures, each with a real BPE tokenizer and the chat
template of its family, made in seconds.

Unit tests use them wherever the embedded model would be too slow; they exercise the same mlx-lm
code paths (load, generation, LoRA training) as real models of those architectures. The weights
come from mlx-lm's own model classes (`mlx_lm.models.<arch>.Model`), so what loads and runs here
is what loads and runs for a real checkpoint of that family; only the sizes are tiny.
"""

from __future__ import annotations

import json
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Qwen2.5's shape: ChatML with a default system turn when the conversation has none.
QWEN2_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}" + CHATML_TEMPLATE
)

# Gemma 2's shape: no system role (the real template raises), `model` for the assistant turn.
GEMMA2_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

# OLMo 2 / Tulu's shape: role tags on their own lines, EOS closes an assistant turn.
OLMO2_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + '\n' }}"
    "{% else %}{{ '<|assistant|>\n' + message['content'] + eos_token + '\n' }}{% endif %}"
    "{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    "{% endfor %}"
)

# Phi-3's shape: `<|end|>` closes every turn.
PHI3_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

#: Per architecture: special tokens, tokenizer roles, chat template, extra config keys. The first
#: special token is the padding token; `eos` may name several tokens (the first is the tokenizer's).
ARCHITECTURES: dict[str, dict] = {
    "llama": {
        "specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        "bos": "<|im_start|>",
        "eos": ["<|im_end|>"],
        "template": CHATML_TEMPLATE,
        "config": {"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True},
    },
    "qwen2": {
        "specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        "bos": None,
        "eos": ["<|im_end|>", "<|endoftext|>"],
        "template": QWEN2_TEMPLATE,
        "config": {"rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": True},
    },
    "gemma2": {
        "specials": ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"],
        "bos": "<bos>",
        "eos": ["<eos>", "<end_of_turn>"],
        "template": GEMMA2_TEMPLATE,
        "config": {
            "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0,
            "head_dim": 16,
            "query_pre_attn_scalar": 16,
            "attn_logit_softcapping": 50.0,
            "final_logit_softcapping": 30.0,
        },
    },
    "olmo2": {
        "specials": ["<|pad|>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>"],
        "bos": "<|endoftext|>",
        "eos": ["<|endoftext|>"],
        "template": OLMO2_TEMPLATE,
        "config": {"rms_norm_eps": 1e-6, "rope_theta": 500000.0, "tie_word_embeddings": False},
    },
    "phi3": {
        "specials": ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
        "bos": None,
        "eos": ["<|endoftext|>", "<|end|>"],
        "template": PHI3_TEMPLATE,
        "config": {"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False},
    },
}

_CORPUS_TEXT = [
    "Upgrade the package to the fixed version. The scanner reports CVE-2023-1234 in requests 2.19.0.",
    "Set the permissions block in the workflow. CKV2_GHA_1 failed in .github/workflows/ci.yml line 12.",
    "Use parameterized queries to avoid SQL injection (CWE-89) in app/db.py.",
    "Verdict: likely true positive. Risk: remote code execution. Remediation: upgrade lodash to 4.17.21.",
] * 20


def make_tiny_model(
    path: str | Path,
    *,
    arch: str = "llama",
    vocab_size: int = 512,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    seed: int = 0,
    quantize_bits: int | None = None,
    corpus: list[str] | None = None,
) -> Path:
    """Write an mlx-lm loadable model folder of architecture `arch` at `path` and return it.

    `quantize_bits` saves it quantized the way `mlx_lm convert -q` does (group size 32); `corpus`
    adds tokenizer training text (more merges: shorter token sequences for that kind of text)."""
    import importlib

    import mlx.core as mx
    from mlx_lm.utils import quantize_model, save_config, save_model
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    spec = ARCHITECTURES[arch]
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    specials = spec["specials"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS_TEXT + list(corpus or []), trainer=trainer)
    tok.save(str(path / "tokenizer.json"))
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": spec["eos"][0],
        "pad_token": specials[0],
        "unk_token": specials[0],
        "chat_template": spec["template"],
        "model_max_length": 2048,
    }
    if spec["bos"]:
        tokenizer_config["bos_token"] = spec["bos"]
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    eos_ids = [tok.token_to_id(t) for t in spec["eos"]]
    config = {
        "model_type": arch,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "intermediate_size": hidden * 2,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "vocab_size": tok.get_vocab_size(),
        "max_position_embeddings": 2048,
        **spec["config"],
    }
    module = importlib.import_module(f"mlx_lm.models.{arch}")
    mx.random.seed(seed)
    model = module.Model(module.ModelArgs.from_dict(config))
    mx.eval(model.parameters())
    config["eos_token_id"] = eos_ids if len(eos_ids) > 1 else eos_ids[0]
    if spec["bos"]:
        config["bos_token_id"] = tok.token_to_id(spec["bos"])
    if quantize_bits:
        model, config = quantize_model(model, config, group_size=32, bits=quantize_bits)
    save_model(path, model)
    save_config(config, path / "config.json")
    return path
