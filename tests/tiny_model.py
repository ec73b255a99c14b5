"""A tiny random llama model with a real BPE tokenizer and a ChatML template, made in seconds.

Unit tests use it wherever the embedded model would be too slow; it exercises the same mlx-lm
code paths (load, batch_generate, LoRA training) as a real model.
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

_CORPUS_TEXT = [
    "Upgrade the package to the fixed version. The scanner reports CVE-2023-1234 in requests 2.19.0.",
    "Set the permissions block in the workflow. CKV2_GHA_1 failed in .github/workflows/ci.yml line 12.",
    "Use parameterized queries to avoid SQL injection (CWE-89) in app/db.py.",
    "Verdict: likely true positive. Risk: remote code execution. Remediation: upgrade lodash to 4.17.21.",
] * 20


def make_tiny_model(
    path: str | Path, *, vocab_size: int = 512, hidden: int = 64, layers: int = 2, seed: int = 0
) -> Path:
    """Write an mlx-lm loadable llama model folder at `path` and return it."""
    import mlx.core as mx
    from mlx_lm.models import llama
    from mlx_lm.utils import save_config, save_model
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS_TEXT, trainer=trainer)
    tok.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<|im_start|>",
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
                "chat_template": CHATML_TEMPLATE,
                "model_max_length": 2048,
            }
        )
    )
    real_vocab = tok.get_vocab_size()
    config = {
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "intermediate_size": hidden * 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5,
        "vocab_size": real_vocab,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
        "rope_theta": 10000.0,
        "eos_token_id": tok.token_to_id("<|im_end|>"),
        "bos_token_id": tok.token_to_id("<|im_start|>"),
    }
    mx.random.seed(seed)
    model = llama.Model(
        llama.ModelArgs(**{k: v for k, v in config.items() if k not in ("eos_token_id", "bos_token_id")})
    )
    mx.eval(model.parameters())
    save_model(path, model)
    save_config(config, path / "config.json")
    return path
