"""Validate a run before anything is published: the adapter files are complete and fit the base
model, base + adapter load and answer sensibly, the cards make only true claims, and the
evaluation gate's status is recorded. Writes `validation.json`."""

from __future__ import annotations

import json
import logging
import math
import re
import struct
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from secai.config import FixSettings, Settings
from secai.errors import SecaiError
from secai.ingest.redact import redact_text
from secai.release.cards import (
    EMBEDDED_BASE_ID,
    EMBEDDED_BASE_LICENSE,
    CardFacts,
    check_dataset_card,
    check_model_card,
    model_card,
)
from secai.run import files
from secai.run.records import Check, Sample, ValidationResult

log = logging.getLogger("secai")

ADAPTER_FILES = ("adapters.safetensors", "adapter_config.json")
MAX_HEADER_BYTES = 100 << 20
DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "U16": 2,
    "U32": 4,
    "U64": 8,
}
GENERATE_EXAMPLES = 3
GENERATE_TOKENS = 160
MIN_DISTINCT_BIGRAMS = 0.25
_LORA_NAME = re.compile(r"^(?:model\.)?layers\.(\d+)\.(.+)\.(lora_a|lora_b|m)$")


class BaseInfo(BaseModel):
    """The base model an adapter belongs to."""

    model_id: str
    path: str
    embedded: bool = False
    license: str = "other"
    #: The folder generation loads: the variant this machine runs (float32 on a CPU), as in training.
    runtime_path: str | None = None


class AdapterError(SecaiError):
    pass


# -- files -----------------------------------------------------------------------------------------
def read_safetensors_header(path: Path) -> dict[str, Any]:
    """Parse and check a safetensors header against the file: a truncated or corrupt file raises
    AdapterError naming the file and the first tensor that does not fit."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise AdapterError(f"{path}: truncated ({size} bytes, no safetensors header)")
        (n,) = struct.unpack("<Q", raw)
        if n > min(size - 8, MAX_HEADER_BYTES):
            raise AdapterError(f"{path}: truncated or not safetensors (header of {n} bytes in a {size}-byte file)")
        try:
            header = json.loads(fh.read(n))
        except ValueError:
            raise AdapterError(f"{path}: safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise AdapterError(f"{path}: safetensors header is not a mapping")
    data_size = size - 8 - n
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    if not tensors:
        raise AdapterError(f"{path}: holds no tensors")
    for name, info in tensors.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise AdapterError(f"{path}: tensor {name} has a malformed header entry") from None
        if dtype not in DTYPE_BYTES or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise AdapterError(f"{path}: tensor {name} has an unsupported dtype or shape ({dtype}, {shape})")
        if end > data_size:
            raise AdapterError(
                f"{path}: truncated: tensor {name} ends at byte {end} of the data, but the file holds only {data_size}"
            )
        if not 0 <= begin <= end or end - begin != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise AdapterError(f"{path}: tensor {name} size does not match its shape {shape} and dtype {dtype}")
    return tensors


def check_adapter_files(adapter_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both files present, the config readable, every tensor readable and finite. Returns
    (config, tensor header)."""
    import mlx.core as mx

    adapter_dir = Path(adapter_dir)
    missing = [f for f in ADAPTER_FILES if not (adapter_dir / f).is_file()]
    if missing:
        raise AdapterError(f"{adapter_dir}: missing {', '.join(missing)}")
    cfg_path = adapter_dir / "adapter_config.json"
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise AdapterError(f"{cfg_path}: not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise AdapterError(f"{cfg_path}: not a JSON object")
    weights_path = adapter_dir / "adapters.safetensors"
    header = read_safetensors_header(weights_path)
    try:
        weights = mx.load(str(weights_path))
    except Exception as e:  # MLX raises RuntimeError/ValueError on unreadable files
        raise AdapterError(f"{weights_path}: cannot be read ({e})") from None
    for name, w in weights.items():
        if not bool(mx.all(mx.isfinite(w.astype(mx.float32))).item()):
            raise AdapterError(f"{weights_path}: tensor {name} holds NaN or infinite values")
    return config, header


# -- consistency with the base ----------------------------------------------------------------------
def base_weight_shapes(base_path: Path) -> dict[str, list[int]]:
    shapes: dict[str, list[int]] = {}
    files = sorted(Path(base_path).glob("*.safetensors"))
    if not files:
        raise AdapterError(f"{base_path}: no *.safetensors weights in the base model folder")
    for f in files:
        shapes.update({k: v["shape"] for k, v in read_safetensors_header(f).items()})
    return shapes


def check_adapter_config(config: dict[str, Any], header: dict[str, Any], base_path: Path) -> list[str]:
    """Problems that would make the adapter wrong for this base (empty when consistent)."""
    problems: list[str] = []
    base_cfg = json.loads((Path(base_path) / "config.json").read_text(encoding="utf-8"))
    n_layers = int(base_cfg.get("num_hidden_layers") or base_cfg.get("n_layers") or 0)
    kind = config.get("fine_tune_type", "lora")
    if kind not in ("lora", "dora"):
        return [f"fine_tune_type {kind!r} is not a LoRA/DoRA adapter"]
    num_layers = config.get("num_layers")
    lora = config.get("lora_parameters")
    if not isinstance(num_layers, int) or not (num_layers == -1 or 1 <= num_layers <= n_layers):
        problems.append(f"num_layers {num_layers!r} is outside 1..{n_layers} (or -1) for the base model")
        return problems
    if not isinstance(lora, dict) or not {"rank", "scale"} <= lora.keys():
        return problems + ["lora_parameters must give rank and scale"]
    rank = lora["rank"]
    adapted = range(0 if num_layers == -1 else n_layers - num_layers, n_layers)
    shapes = base_weight_shapes(base_path)
    bits = (base_cfg.get("quantization") or {}).get("bits")
    modules = {}
    for name, shape in shapes.items():
        m = re.match(r"^model\.layers\.(\d+)\.(.+)\.weight$", name)
        if m:
            modules[(int(m.group(1)), m.group(2))] = shape
    layer_keys = {k for (_, k) in modules}
    keys = lora.get("keys")
    if keys is not None:
        unknown = sorted(set(keys) - layer_keys)
        if unknown:
            problems.append(f"LoRA keys {unknown} are not modules of the base model")
    found: dict[tuple[int, str], dict[str, list[int]]] = {}
    for name, info in header.items():
        m = _LORA_NAME.match(name)
        if not m:
            problems.append(f"tensor {name} is not a LoRA parameter")
            continue
        layer, key, part = int(m.group(1)), m.group(2), m.group(3)
        if layer not in adapted:
            problems.append(
                f"tensor {name} is in layer {layer}, outside the adapted layers {adapted.start}..{adapted.stop - 1}"
            )
        elif (layer, key) not in modules:
            problems.append(f"tensor {name} adapts {key}, which the base model does not have")
        elif keys is not None and key not in keys:
            problems.append(f"tensor {name} adapts {key}, which adapter_config.json does not list")
        found.setdefault((layer, key), {})[part] = info["shape"]
    for (layer, key), parts in sorted(found.items()):
        if (layer, key) not in modules:
            continue
        if "lora_a" not in parts or "lora_b" not in parts:
            problems.append(f"layer {layer} {key}: lora_a or lora_b missing")
            continue
        out_dim, in_dim = modules[(layer, key)]
        if bits and f"model.layers.{layer}.{key}.scales" in shapes:
            in_dim = in_dim * 32 // bits
        a, b = parts["lora_a"], parts["lora_b"]
        if a != [in_dim, rank] or b != [rank, out_dim]:
            problems.append(
                f"layer {layer} {key}: lora_a {a} / lora_b {b} do not match rank {rank} and the "
                f"base weight ({out_dim}x{in_dim})"
            )
    expected = {(i, k) for i in adapted for k in (keys or []) if (i, k) in modules}
    absent = sorted(expected - set(found))
    if absent:
        problems.append(
            f"{len(absent)} adapted modules have no LoRA weights (first: layer {absent[0][0]} {absent[0][1]})"
        )
    return problems


# -- generation -------------------------------------------------------------------------------------
def degenerate_reason(tokens: list[int], text: str) -> str:
    """Why an answer is degenerate ('' when it is not): empty, one token repeated, or a short loop."""
    if not text.strip():
        return "empty answer"
    if len(tokens) >= 4 and len(set(tokens)) == 1:
        return "the same token repeated"
    if len(tokens) >= 8:
        for period in range(1, 9):
            run = 0
            for i in range(len(tokens) - 1, period - 1, -1):
                if tokens[i] != tokens[i - period]:
                    break
                run += 1
            if run >= max(8, 0.4 * len(tokens)):
                return f"ends in a loop of {period} token(s) repeated over {run} tokens"
        bigrams = list(zip(tokens, tokens[1:]))
        ratio = len(set(bigrams)) / len(bigrams)
        if ratio < MIN_DISTINCT_BIGRAMS:
            return f"only {ratio:.0%} distinct token pairs"
        top = Counter(tokens).most_common(1)[0][1] / len(tokens)
        if top > 0.5:
            return f"one token makes up {top:.0%} of the answer"
    return ""


def test_prompts(dataset_dir: Path, n: int = GENERATE_EXAMPLES) -> list[list[dict[str, str]]]:
    path = Path(dataset_dir) / "test.jsonl"
    if not path.is_file():
        path = Path(dataset_dir) / "valid.jsonl"
    prompts = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if len(prompts) >= n:
                break
            try:
                msgs = json.loads(line)["messages"]
            except (ValueError, KeyError, TypeError):
                continue
            turns = [m for m in msgs if m.get("role") != "assistant"]
            if turns:
                prompts.append(turns)
    return prompts


def generate_samples(
    base: BaseInfo,
    adapter_dir: Path,
    prompts: list[list[dict[str, str]]],
    max_tokens: int = GENERATE_TOKENS,
    fix: FixSettings | None = None,
) -> list[Sample]:
    """Base + adapter answers the dataset's held-out fix prompts the way the fix stage asks them
    (`fix.temperature`, `fix.top_p`, `fix.seed`: what ships is sampled, never greedy); an answer is
    fine when it is not degenerate (`well_formed` also records whether it parses as a fix)."""
    from secai.fix.prompt import AnswerError, answer_complete, parse_fix_answer
    from secai.model.base import load_folder
    from secai.model.chat import chat_ids
    from secai.model.generate import sample

    fix = fix or FixSettings()
    model, tokenizer = load_folder(base.runtime_path or base.path, adapter_path=adapter_dir)
    ids = [chat_ids(tokenizer, m) for m in prompts]
    texts = sample(
        model,
        tokenizer,
        ids,
        n=1,
        temperature=fix.temperature,
        top_p=fix.top_p,
        seed=fix.seed,
        max_tokens=max_tokens,
        batch_size=max(1, len(ids)),
        stop=answer_complete,
    )
    outs = [tokenizer.encode(group[0], add_special_tokens=False) for group in texts]
    samples = []
    for tokens, group, messages in zip(outs, texts, prompts):
        answer = group[0]
        why = degenerate_reason(tokens, answer)
        try:
            parse_fix_answer(answer)
            well_formed = True
        except AnswerError:
            well_formed = False
        # Model output is untrusted text that validation.json keeps (and publish may upload).
        samples.append(
            Sample(
                prompt=redact_text(messages[-1]["content"][:300]),
                answer=redact_text(answer),
                ok=not why,
                why=why,
                well_formed=well_formed,
            )
        )
    return samples


# -- facts for the cards ----------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _base_license(path: Path) -> str:
    readme = Path(path) / "README.md"
    if readme.is_file():
        m = re.search(r"^license:\s*([\w.-]+)\s*$", readme.read_text(encoding="utf-8", errors="replace"), re.M)
        if m:
            return m.group(1)
    return "other"


def resolve_base(run_dir: Path, settings: Settings, base: Any = None) -> BaseInfo:
    """The base model: `base` (a ResolvedModel or a local folder), else the one `settings` name."""
    if isinstance(base, BaseInfo):
        return base
    if base is None:
        from secai.model.base import resolve_model

        base = resolve_model(settings.model.name, settings)
    if isinstance(base, (str, Path)):
        path = Path(base)
        recorded = (files.read_training(run_dir) or {}).get("base_model")
        model_id = (recorded.get("model_id") if isinstance(recorded, dict) else recorded) or path.name
        return BaseInfo(model_id=str(model_id), path=str(path), license=_base_license(path))
    from secai.model.base import runtime_model

    embedded = getattr(base, "source", "") == "embedded" or base.model_id == EMBEDDED_BASE_ID
    return BaseInfo(
        model_id=base.model_id,
        path=str(base.path),
        embedded=embedded,
        license=EMBEDDED_BASE_LICENSE if embedded else _base_license(Path(base.path)),
        runtime_path=str(runtime_model(base, settings, purpose="infer").path),
    )


def run_facts(
    run_dir: Path,
    base: BaseInfo,
    *,
    dataset_repo: str | None = None,
    model_repo: str | None = None,
    fused: bool = False,
) -> CardFacts:
    run_dir = Path(run_dir)
    meta = files.read_run_meta(run_dir)
    tools = {f.tool for f in files.read_findings(run_dir)}
    ev = files.read_eval(run_dir)
    adapter_config = _read_json(run_dir / "adapter" / "adapter_config.json")
    revision = adapter_config.get("base_model_revision")
    return CardFacts(
        base_model=base.model_id,
        base_revision=str(revision) if revision else None,
        embedded=base.embedded,
        license=base.license,
        model_repo=model_repo,
        dataset_repo=dataset_repo,
        source_repo=meta.repo,
        run_id=meta.run_id or run_dir.name,
        head_sha=meta.head_sha,
        scanners=sorted(tools),
        adapter_config=adapter_config,
        training=files.read_training(run_dir) or {},
        eval=ev.model_dump(mode="json") if ev else None,
        fused=fused,
    )


# -- the whole validation ---------------------------------------------------------------------------
def validate_run(run_dir: Path, settings: Settings, *, base: Any = None, generate: bool = True) -> ValidationResult:
    run_dir = Path(run_dir)
    adapter_dir = run_dir / "adapter"
    checks: list[Check] = []
    samples: list[Sample] = []

    def add(name: str, problems: list[str], ok_detail: str = "") -> bool:
        checks.append(Check(name=name, passed=not problems, detail="; ".join(problems) or ok_detail))
        return not problems

    info = resolve_base(run_dir, settings, base)
    files_ok = False
    try:
        config, header = check_adapter_files(adapter_dir)
        files_ok = add("adapter files", [], f"{len(header)} tensors readable")
    except AdapterError as e:
        add("adapter files", [str(e)])
    if files_ok:
        consistent = add(
            "adapter config", check_adapter_config(config, header, Path(info.path)), f"consistent with {info.model_id}"
        )
        if consistent and generate:
            prompts = test_prompts(run_dir / "dataset")
            if not prompts:
                add("load and generate", ["no test-split prompts to generate from"])
            else:
                try:
                    samples = generate_samples(info, adapter_dir, prompts, fix=settings.fix)
                    bad = [f"answer {i + 1}: {s.why}" for i, s in enumerate(samples) if not s.ok]
                    add("load and generate", bad, f"{len(samples)} non-degenerate answers")
                except Exception as e:  # noqa: BLE001  mlx-lm raises many types for a bad model/adapter
                    add("load and generate", [f"base + adapter failed to load or generate: {e}"])

    card_path = run_dir / "dataset" / "README.md"
    if card_path.is_file():
        add("dataset card", check_dataset_card(card_path.read_text(encoding="utf-8"), run_dir / "dataset"))
    else:
        add("dataset card", [f"{card_path}: missing"])
    facts = run_facts(run_dir, info, dataset_repo=settings.publish.dataset_repo, model_repo=settings.publish.model_repo)
    add("model card", check_model_card(model_card(facts), facts))
    for extra in (adapter_dir / "README.md",):
        if extra.is_file():
            add(f"model card {extra.name}", check_model_card(extra.read_text(encoding="utf-8"), facts))

    ev = files.read_eval(run_dir)
    result = ValidationResult(
        run_dir=str(run_dir),
        passed=all(c.passed for c in checks),
        checks=checks,
        samples=samples,
        eval_gate=ev.gate.passed if ev else None,
        base_model=info.model_id,
    )
    files.write_validation(run_dir, result)
    for c in checks:
        (log.info if c.passed else log.error)(
            "validate %-18s %s%s", c.name, "ok" if c.passed else "FAILED", f": {c.detail}" if c.detail else ""
        )
    return result
