"""A complete, small run folder for the validate/publish/cards tests: a tiny base model, a real
LoRA adapter for it (mlx-lm format, briefly trained so it answers in words), hand-written dataset
splits and card, `training.json`, `eval.json`, `loss.png` and `run.json`."""

from __future__ import annotations

import json
from pathlib import Path

SYSTEM = "You are a security assistant. Answer only from the finding's facts."
ANSWERS = [
    (
        "requests 2.19.0 has CVE-2023-1234",
        "Upgrade the package to the fixed version 2.31.0. The scanner reports CVE-2023-1234 in requests 2.19.0.",
    ),
    (
        "CKV2_GHA_1 in .github/workflows/ci.yml",
        "Set the permissions block in the workflow. CKV2_GHA_1 failed in .github/workflows/ci.yml line 12.",
    ),
    ("SQL built from input in app/db.py", "Use parameterized queries to avoid SQL injection (CWE-89) in app/db.py."),
    (
        "lodash 4.17.4 prototype pollution",
        "Verdict: likely true positive. Risk: remote code execution. Remediation: upgrade lodash to 4.17.21.",
    ),
]
KEYS = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
]
LORA = {"rank": 16, "scale": 20.0, "dropout": 0.0, "keys": KEYS}
LEARNING_RATE = 1e-3

DATASET_CARD = """---
license: other
pretty_name: secai findings (test)
task_categories:
- text-generation
size_categories:
- n<1K
tags:
- security
- sast
configs:
- config_name: default
  data_files:
  - split: train
    path: train.jsonl
  - split: validation
    path: valid.jsonl
  - split: test
    path: test.jsonl
---

# secai findings (test)

Source repository: example/app. Answers are grounded in scanner facts; secrets are redacted.
"""


def example(user: str, answer: str) -> dict:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"<finding>\n{user}\n</finding>"},
            {"role": "assistant", "content": answer},
        ]
    }


def write_dataset(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    rows = [example(u, a) for u, a in ANSWERS]
    for name, part in (("train.jsonl", rows), ("valid.jsonl", rows[:2]), ("test.jsonl", rows[2:])):
        (out / name).write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    (out / "README.md").write_text(DATASET_CARD, encoding="utf-8")
    (out / "stats.json").write_text(json.dumps({"train": 4, "valid": 2, "test": 2}), encoding="utf-8")
    return out


def write_adapter(base: Path, out: Path, *, steps: int = 100, seed: int = 0) -> Path:
    """Train a LoRA adapter on the tiny model for a few steps and save it the way `mlx_lm lora` does."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    out.mkdir(parents=True, exist_ok=True)
    mx.random.seed(seed)
    model, tokenizer = load(str(base))
    model.freeze()
    num_layers = len(model.layers)
    linear_to_lora_layers(model, num_layers, LORA)
    texts = [tokenizer.apply_chat_template(example(u, a)["messages"], tokenize=False) for u, a in ANSWERS]
    batch = [tokenizer.encode(t) for t in texts]
    width = max(len(b) for b in batch)
    ids = mx.array([b + [0] * (width - len(b)) for b in batch])
    mask = mx.array([[1] * (len(b) - 1) + [0] * (width - len(b)) for b in batch])

    def loss_fn(m):
        logits = m(ids[:, :-1])
        ce = nn.losses.cross_entropy(logits, ids[:, 1:]) * mask
        return ce.sum() / mask.sum()

    opt = optim.Adam(learning_rate=LEARNING_RATE)
    step = nn.value_and_grad(model, loss_fn)
    losses = []
    for _ in range(steps):
        loss, grads = step(model)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(float(loss))
    mx.save_safetensors(str(out / "adapters.safetensors"), dict(tree_flatten(model.trainable_parameters())))
    config = {
        "fine_tune_type": "lora",
        "num_layers": num_layers,
        "lora_parameters": LORA,
        "model": str(base),
        "data": "/tmp/data",
        "adapter_path": str(out),
        "seed": seed,
    }
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (out / "training.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "iters": steps,
                "learning_rate": LEARNING_RATE,
                "batch_size": len(batch),
                "lora": {"rank": LORA["rank"], "scale": LORA["scale"], "num_layers": num_layers, "keys": LORA["keys"]},
                "base_model": {"model_id": "secai-test/tiny-llama", "revision": "local"},
                "train_loss": [[i + 1, round(v, 4)] for i, v in enumerate(losses)],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    _loss_png(out / "loss.png", losses)
    return out


def _loss_png(path: Path, losses: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(range(1, len(losses) + 1), losses)
    fig.savefig(path)
    plt.close(fig)


def write_eval(run_dir: Path, *, passed: bool = True) -> None:
    """An eval.json as `secai.training.evaluate` writes it: base 1 of 4 fixes, tuned 3 (or 1)."""
    from secai.run import files
    from secai.run.records import EvalResult, FixEval, FixScore, Gate, Tally

    def score(verified: int) -> FixScore:
        return FixScore(
            n=4,
            proposed=4,
            verified=verified,
            verified_rate=verified / 4,
            verified_rate_at_1=verified / 4,
            by_tool={"bandit": Tally(n=4, verified=verified)},
        )

    base, tuned = score(1), score(3 if passed else 1)
    margin = round(tuned.verified_rate - base.verified_rate, 4)
    gate = Gate(enabled=True, passed=passed, margin=margin, required_margin=0.1)
    files.write_eval(
        run_dir / "eval.json",
        EvalResult(fix=FixEval(k=4, cases=4, base=base, tuned=tuned, deterministic=score(0)), gate=gate),
    )


def make_run(
    run_dir: Path,
    base: Path,
    adapter_src: Path | None = None,
    *,
    run_id: str = "101",
    head_sha: str = "0123456789abcdef0123456789abcdef01234567",
    eval_passed: bool = True,
) -> Path:
    """A run folder; `adapter_src` (a folder made by `write_adapter`) is copied to save training time."""
    import shutil

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "repo": "example/app",
                "run_id": run_id,
                "head_sha": head_sha,
                "branch": "main",
                "pr": None,
                "event": "push",
            }
        ),
        encoding="utf-8",
    )
    write_dataset(run_dir / "dataset")
    if adapter_src is not None:
        shutil.copytree(adapter_src, run_dir / "adapter", dirs_exist_ok=True)
    else:
        write_adapter(base, run_dir / "adapter")
    write_eval(run_dir, passed=eval_passed)
    return run_dir


_ADAPTERS: dict[str, Path] = {}


def shared_adapter(base: Path, tmp_root: Path) -> Path:
    """One trained adapter per base model per test session (training takes ~15 s)."""
    key = str(base)
    if key not in _ADAPTERS:
        _ADAPTERS[key] = write_adapter(base, Path(tmp_root) / "adapter")
    return _ADAPTERS[key]
