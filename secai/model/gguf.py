"""Convert a llama-architecture GGUF file into an mlx-lm loadable folder.

`mx.load` reads GGUF block-quantized tensors (Q4_0/Q4_1/Q8_0) as MLX affine-quantized arrays
(group size 32, `.scales`/`.biases`) and returns the metadata: hyperparameters, the GPT-2 style
BPE vocabulary and merges, token types, special token ids and the chat template. The weights
only need mlx-lm's names; llama.cpp stores Q and K permuted for its rotary layout, which
`rope_traditional: true` undoes. The tokenizer is rebuilt with the `tokenizers` library.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from secai.errors import ModelError

#: Bump when the converted folder's layout or contents change: cached conversions are redone.
CONVERTER_VERSION = "1"

GGUF_MAGIC = b"GGUF"
_GROUP_SIZE = 32  # every GGUF block quantization MLX reads uses 32-weight blocks

_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_BLK_RE = re.compile(r"^blk\.(\d+)\.([a-z_]+)\.(weight|scales|biases|bias)$")
_TOP_RE = re.compile(r"^([a-z_]+)\.(weight|scales|biases|bias)$")
_TOKEN_TYPE_CONTROL = 3


def check_gguf_file(path: Path) -> None:
    """Fail with one clear line unless `path` is a readable file that starts like a GGUF."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as e:
        raise ModelError(f"{path}: cannot read GGUF file ({e.strerror})") from None
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path}: not a GGUF file (bad magic bytes)")


def rename_weight(name: str) -> str:
    """GGUF tensor name -> mlx-lm llama parameter name."""
    m = _BLK_RE.match(name)
    if m:
        layer, part, kind = m.groups()
        if part not in _LAYER_NAMES:
            raise ModelError(f"unexpected GGUF tensor {name!r}")
        return f"model.layers.{layer}.{_LAYER_NAMES[part]}.{kind}"
    m = _TOP_RE.match(name)
    if m and m.group(1) in _TOP_NAMES:
        return f"{_TOP_NAMES[m.group(1)]}.{m.group(2)}"
    raise ModelError(f"unexpected GGUF tensor {name!r}")


def _scalar(meta: dict, key: str, default: Any = None) -> Any:
    if key not in meta:
        if default is None:
            raise ModelError(f"GGUF metadata lacks {key!r}")
        return default
    v = meta[key]
    return v.item() if hasattr(v, "item") else v


def _quantization(weights: dict) -> dict[str, Any] | None:
    """The mlx-lm `quantization` config: the common bits as default, other widths per layer."""
    per_layer: dict[str, int] = {}
    for name, w in weights.items():
        if not name.endswith(".scales"):
            continue
        prefix = name[: -len(".scales")]
        packed = weights[prefix + ".weight"].shape[-1]
        in_dims = w.shape[-1] * _GROUP_SIZE
        per_layer[prefix] = packed * 32 // in_dims
    if not per_layer:
        return None
    counts: dict[int, int] = {}
    for bits in per_layer.values():
        counts[bits] = counts.get(bits, 0) + 1
    default_bits = max(counts, key=counts.get)
    quant: dict[str, Any] = {"group_size": _GROUP_SIZE, "bits": default_bits}
    for prefix, bits in sorted(per_layer.items()):
        if bits != default_bits:
            quant[prefix] = {"group_size": _GROUP_SIZE, "bits": bits}
    return quant


def model_config(meta: dict, weights: dict) -> dict[str, Any]:
    arch = _scalar(meta, "general.architecture")
    if arch != "llama":
        raise ModelError(f"GGUF architecture {arch!r} is not supported (only llama)")
    hidden = int(_scalar(meta, "llama.embedding_length"))
    heads = int(_scalar(meta, "llama.attention.head_count"))
    config: dict[str, Any] = {
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": int(_scalar(meta, "llama.block_count")),
        "intermediate_size": int(_scalar(meta, "llama.feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(_scalar(meta, "llama.attention.head_count_kv", heads)),
        "head_dim": int(_scalar(meta, "llama.rope.dimension_count", hidden // heads)),
        "rms_norm_eps": float(_scalar(meta, "llama.attention.layer_norm_rms_epsilon", 1e-5)),
        "vocab_size": len(meta["tokenizer.ggml.tokens"]),
        "max_position_embeddings": int(_scalar(meta, "llama.context_length", 2048)),
        "rope_theta": float(_scalar(meta, "llama.rope.freq_base", 10000.0)),
        "rope_traditional": True,
        "tie_word_embeddings": "lm_head.weight" not in weights,
        "bos_token_id": int(_scalar(meta, "tokenizer.ggml.bos_token_id", 1)),
        "eos_token_id": int(_scalar(meta, "tokenizer.ggml.eos_token_id", 2)),
    }
    quant = _quantization(weights)
    if quant:
        config["quantization"] = quant
        config["quantization_config"] = quant
    return config


def build_tokenizer(meta: dict, out_dir: Path) -> None:
    """Write `tokenizer.json` and `tokenizer_config.json` from the GGUF vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    if _scalar(meta, "tokenizer.ggml.model", "gpt2") != "gpt2":
        raise ModelError(f"GGUF tokenizer {meta['tokenizer.ggml.model']!r} is not supported (only gpt2 BPE)")
    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    types = meta["tokenizer.ggml.token_type"].tolist() if "tokenizer.ggml.token_type" in meta else []
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    # SmolLM's pre-tokenizer (`tokenizer.ggml.pre = smollm`): single digits, then GPT-2 byte level.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    specials = [tokens[i] for i, t in enumerate(types) if t == _TOKEN_TYPE_CONTROL]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.save(str(out_dir / "tokenizer.json"))

    def token(key: str) -> str | None:
        if key not in meta:
            return None
        i = int(_scalar(meta, key))
        return tokens[i] if 0 <= i < len(tokens) else None

    tcfg: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": bool(_scalar(meta, "tokenizer.ggml.add_bos_token", False)),
        "bos_token": token("tokenizer.ggml.bos_token_id"),
        "eos_token": token("tokenizer.ggml.eos_token_id"),
        "pad_token": token("tokenizer.ggml.padding_token_id") or token("tokenizer.ggml.eos_token_id"),
        "unk_token": token("tokenizer.ggml.unknown_token_id"),
        "additional_special_tokens": specials,
        "model_max_length": int(_scalar(meta, "llama.context_length", 2048)),
        "clean_up_tokenization_spaces": False,
    }
    if "tokenizer.chat_template" in meta:
        tcfg["chat_template"] = str(meta["tokenizer.chat_template"])
    (out_dir / "tokenizer_config.json").write_text(
        json.dumps({k: v for k, v in tcfg.items() if v is not None}, indent=2)
    )


def convert_gguf(gguf_path: Path, out_dir: Path) -> dict[str, Any]:
    """Write an mlx-lm model folder for `gguf_path` into the (new, empty) `out_dir`; returns the
    model config. The caller makes the folder appear atomically."""
    import mlx.core as mx

    gguf_path = Path(gguf_path)
    check_gguf_file(gguf_path)
    try:
        raw, meta = mx.load(str(gguf_path), return_metadata=True)
    except Exception as e:  # mlx raises RuntimeError/ValueError with the parser's message
        raise ModelError(f"{gguf_path}: corrupt or unsupported GGUF file ({str(e).splitlines()[0][:200]})") from None
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges"):
        if key not in meta:
            raise ModelError(f"{gguf_path}: GGUF file has no {key!r}; cannot build a tokenizer")
    weights = {rename_weight(k): v for k, v in raw.items()}
    config = model_config(meta, weights)
    out_dir.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out_dir / "model.safetensors"), weights, metadata={"format": "mlx"})
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))
    build_tokenizer(meta, out_dir)
    return config
