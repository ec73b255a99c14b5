"""LoRA fine-tuning through mlx-lm's trainer (`mlx_lm.tuner.trainer.train`).

- Loss on the assistant answer only (`ChatDataset(mask_prompt=True)`).
- Length-sorted batches padded to a multiple of 8, so little compute goes to padding (mlx-lm's
  own sorter measures a chat row's length as its number of keys, so its batches mix lengths).
- Iterations from epochs x examples / batch size within `[min_iters, max_iters]`; Adam with a
  linear warmup and a cosine decay.
- Validation every `steps_per_eval` steps: `adapters.safetensors` is always the best adapter by
  validation loss; training stops after `patience` validations without improvement.
- `checkpoint.safetensors` holds the adapter, the optimizer state, the step and the history in
  one file (written atomically), so an interrupted run resumes where it was, not from step 0.
- `training.json` records the recipe (seed, config, dataset hash, versions, base model) and the
  per-step losses, speed and peak memory from the trainer's callbacks; `loss.png` plots them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from secai.config import Settings
from secai.errors import SecaiError
from secai.fix.memory import MEMORY_FILE
from secai.run.folder import atomic_write_json, sha256_file
from secai.training import trunk
from secai.training.batches import PAD_MULTIPLE, LengthSortedBatches

log = logging.getLogger("secai")

ADAPTER_FILE = "adapters.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
RECIPE_VERSION = "1"
MAX_VALID_ROWS = 24


class TrainResult(BaseModel):
    adapter_dir: str
    planned_iters: int
    iterations: int
    best_iteration: int | None = None
    best_val_loss: float | None = None
    first_val_loss: float | None = None
    final_train_loss: float | None = None
    stopped_early: bool = False
    diverged_at: int | None = None
    resumed_from: int | None = None
    tokens_per_second: float | None = None
    input_tokens_per_second: float | None = None
    peak_memory_gb: float | None = None
    seconds: float = 0.0
    summary: str = ""


class TrainPlan(BaseModel):
    iters: int
    warmup: int
    learning_rate: float
    min_learning_rate: float
    num_layers: int
    train_examples: int
    valid_examples: int
    batch_size: int


class _EarlyStop(Exception):
    pass


class _Diverged(Exception):
    """The training loss became NaN or infinite: the steps after the best adapter are useless."""

    def __init__(self, iteration: int):
        super().__init__(iteration)
        self.iteration = iteration


# -- data ---------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise SecaiError(f"{path}: line {n} is not JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
            raise SecaiError(f"{path}: line {n} has no 'messages' list")
        rows.append(row)
    return rows


def _prompt_version(dataset_dir: Path) -> str | None:
    """The prompt version the dataset's rows were written with (its stats.json), if it says."""
    try:
        stats = json.loads((dataset_dir / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = stats.get("prompt_version") if isinstance(stats, dict) else None
    return version if isinstance(version, str) else None


def dataset_sha256(dataset_dir: Path) -> str:
    h = hashlib.sha256()
    for name in ("train.jsonl", "valid.jsonl"):
        p = dataset_dir / name
        h.update(name.encode() + b"\0" + (sha256_file(p).encode() if p.exists() else b"-") + b"\n")
    return h.hexdigest()


def tokenize(rows: list[dict], tokenizer) -> list[tuple[list[int], int]]:
    """(tokens, offset of the answer) per row; the loss covers only tokens from the offset on.

    Rendered by the model's chat template exactly as generation renders a prompt
    (`secai.model.chat`), so training and inference see the same turns (mlx-lm's `ChatDataset`
    would use the template's own defaults, such as a thinking block or a rejected system turn)."""
    from secai.model.chat import chat_ids

    out = []
    for row in rows:
        messages = row["messages"]
        tokens = chat_ids(tokenizer, messages, add_generation_prompt=False)
        prompt = chat_ids(tokenizer, messages[:-1], add_generation_prompt=messages[-1].get("role") == "assistant")
        out.append((tokens, len(prompt)))
    return out


# -- plan ---------------------------------------------------------------------------------------


def plan_training(n_train: int, n_valid: int, n_layers: int, settings: Settings) -> TrainPlan:
    cfg = settings.train
    steps = math.ceil(cfg.epochs * n_train / cfg.batch_size)
    iters = max(cfg.min_iters, min(cfg.max_iters, steps))
    warmup = max(1, min(20, iters // 10))
    layers = n_layers if cfg.num_layers < 0 else min(cfg.num_layers, n_layers)
    return TrainPlan(
        iters=iters,
        warmup=warmup,
        learning_rate=cfg.learning_rate,
        min_learning_rate=cfg.learning_rate * 0.1,
        num_layers=layers,
        train_examples=n_train,
        valid_examples=n_valid,
        batch_size=cfg.batch_size,
    )


def make_optimizer(plan: TrainPlan):
    import mlx.optimizers as optim

    decay = optim.cosine_decay(plan.learning_rate, max(1, plan.iters - plan.warmup), plan.min_learning_rate)
    warm = optim.linear_schedule(plan.learning_rate / 10, plan.learning_rate, plan.warmup)
    return optim.Adam(learning_rate=optim.join_schedules([warm, decay], [plan.warmup]))


def lora_parameters(settings: Settings, keys: list[str] | None = None) -> dict[str, Any]:
    cfg = settings.train
    return {
        "rank": cfg.rank,
        "scale": cfg.scale,
        "dropout": cfg.dropout,
        "keys": list(cfg.keys if keys is None else keys),
    }


def lora_keys(model, num_layers: int, wanted: list[str]) -> list[str]:
    """The modules of the adapted blocks to put adapters on: the configured keys when this
    architecture has all of them, otherwise every linear layer of the block (mlx-lm's own default),
    which covers the same projections under the family's names (Phi-3 fuses q/k/v into
    `self_attn.qkv_proj` and gate/up into `mlp.gate_up_proj`)."""
    import mlx.nn as nn

    blocks = model.layers[-num_layers:] if num_layers > 0 else model.layers
    linear = sorted(
        {
            name
            for block in blocks
            for name, m in block.named_modules()
            if isinstance(m, (nn.Linear, nn.QuantizedLinear))
        }
    )
    missing = [k for k in wanted if k not in linear]
    if not missing:
        return list(wanted)
    log.info(
        "train: this architecture has no %s; adapting every linear layer of a block: %s",
        ", ".join(missing),
        ", ".join(linear),
    )
    return linear


def _quantized(model) -> bool:
    import mlx.nn as nn

    return any(isinstance(m, nn.QuantizedLinear) for _, m in model.named_modules())


# -- checkpoints --------------------------------------------------------------------------------


def _save_safetensors(path: Path, arrays: dict, metadata: dict[str, str] | None = None) -> None:
    import mlx.core as mx

    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.safetensors")
    try:
        try:
            mx.save_safetensors(str(tmp), arrays, metadata=metadata or {})
        except RuntimeError as e:  # MLX reports a full disk or an unwritable folder this way
            raise OSError(errno.EIO, str(e).splitlines()[0], str(path)) from None
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_checkpoint(path: Path, model, optimizer, state: dict[str, Any]) -> None:
    from mlx.utils import tree_flatten

    arrays = {f"adapter.{k}": v for k, v in tree_flatten(model.trainable_parameters())}
    arrays.update({f"optimizer.{k}": v for k, v in tree_flatten(optimizer.state)})
    _save_safetensors(path, arrays, {"secai": json.dumps(state)})


def load_checkpoint(path: Path, model, optimizer, fingerprint: str) -> dict[str, Any] | None:
    """Restore adapter and optimizer from a checkpoint of the same recipe; None when unusable."""
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    if not path.exists():
        return None
    try:
        arrays, meta = mx.load(str(path), return_metadata=True)
        state = json.loads(meta.get("secai", "{}"))
    except Exception as e:  # a torn or foreign file only costs a fresh start
        log.warning("%s: unreadable checkpoint, starting over (%s)", path, str(e).splitlines()[0][:120])
        return None
    if state.get("fingerprint") != fingerprint:
        log.info("%s: checkpoint is for another dataset or config, starting over", path)
        return None
    adapter = [(k[len("adapter.") :], v) for k, v in arrays.items() if k.startswith("adapter.")]
    opt = [(k[len("optimizer.") :], v) for k, v in arrays.items() if k.startswith("optimizer.")]
    model.load_weights(adapter, strict=False)
    optimizer.state = tree_unflatten(opt)
    optimizer.init(model.trainable_parameters())
    mx.eval(model.parameters(), optimizer.state)
    return state


def _finite(x: float) -> float | None:
    """JSON has no NaN: a non-finite number is recorded as null."""
    return x if math.isfinite(x) else None


# -- progress and callbacks ---------------------------------------------------------------------


class _QuietUI:
    """Stands in for mlx-lm's TrainUI, which prints a line per report; secai shows one progress bar."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def advance(self):
        pass

    def report_train(self, *args):
        pass

    @contextmanager
    def val_task(self, total: int):
        yield lambda: None

    def report_val(self, *args):
        pass

    def report_save(self, *args):
        pass


@contextmanager
def _quiet_trainer_ui():
    from mlx_lm.tuner import trainer

    original = trainer.TrainUI
    trainer.TrainUI = _QuietUI
    try:
        yield
    finally:
        trainer.TrainUI = original


def _make_callback_class():
    from mlx_lm.tuner.callbacks import TrainingCallback

    class Recorder(TrainingCallback):
        """Records every report, keeps the best adapter, checkpoints, and stops early."""

        def __init__(
            self,
            *,
            model,
            optimizer,
            out: Path,
            start: int,
            state: dict[str, Any],
            patience: int,
            batches: LengthSortedBatches,
            progress,
            on_step: Callable[[int], None] | None,
            validate: Callable[[], float] | None,
            steps_per_eval: int,
            iters: int,
        ):
            self.validate = validate
            self.steps_per_eval = steps_per_eval
            self.iters = iters
            self.model = model
            self.optimizer = optimizer
            self.out = out
            self.start = start
            self.state = state
            self.patience = patience
            self.batches = batches
            self.progress = progress
            self.on_step = on_step
            self._consumed = 0

        def on_train_loss_report(self, info: dict) -> None:
            it = self.start + int(info["iteration"])
            steps = it - (
                self.state["history"]["train"][-1]["iteration"] if self.state["history"]["train"] else self.start
            )
            real = sum(self.batches.real_tokens[self._consumed : self._consumed + steps])
            self._consumed += steps
            it_s = float(info["iterations_per_second"])
            if not math.isfinite(float(info["train_loss"])):
                raise _Diverged(it)
            row = {
                "iteration": it,
                "train_loss": round(float(info["train_loss"]), 5),
                "learning_rate": _finite(float(info["learning_rate"])),
                "iterations_per_second": round(it_s, 4),
                "tokens_per_second": round(float(info["tokens_per_second"]), 2),
                "input_tokens_per_second": round(real * it_s / max(steps, 1), 2),
                "trained_tokens": int(info["trained_tokens"]),
                "peak_memory_gb": round(float(info["peak_memory"]), 3),
            }
            self.state["history"]["train"].append(row)
            self.state["iteration"] = it
            if self.progress is not None:
                self.progress.update(it, row)
            if self.validate is not None and it % self.steps_per_eval == 0 and it < self.iters:
                self.record_val(it, self.validate())
            if self.on_step is not None:
                self.on_step(it)

        def record_val(self, it: int, val_loss: float) -> None:
            st = self.state
            if st["history"]["val"] and st["history"]["val"][-1]["iteration"] == it:
                return  # a resumed run re-validates the checkpoint it started from
            st["history"]["val"].append({"iteration": it, "val_loss": round(val_loss, 5)})
            if self.progress is not None:
                self.progress.val(it, val_loss)
            if st["best_val_loss"] is None or val_loss < st["best_val_loss"] - 1e-4:
                st["best_val_loss"] = val_loss
                st["best_iteration"] = it
                st["bad_evals"] = 0
                from mlx.utils import tree_flatten

                _save_safetensors(self.out / ADAPTER_FILE, dict(tree_flatten(self.model.trainable_parameters())))
            elif it > 0:
                st["bad_evals"] += 1
            st["iteration"] = it
            if it > 0:
                save_checkpoint(self.out / CHECKPOINT_FILE, self.model, self.optimizer, st)
            if st["bad_evals"] >= self.patience:
                st["stopped_early"] = True
                save_checkpoint(self.out / CHECKPOINT_FILE, self.model, self.optimizer, st)
                raise _EarlyStop()

    return Recorder


class _Progress:
    """A rich progress bar with loss, it/s and tokens/s."""

    def __init__(self, total: int, start: int, enabled: bool):
        self.enabled = enabled
        self._p = None
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "loss {task.fields[loss]}  val {task.fields[val]}  {task.fields[its]} it/s  {task.fields[toks]} tok/s"
            ),
            TimeElapsedColumn(),
            transient=False,
        )
        self._task = self._p.add_task("train", total=total, completed=start, loss="-", val="-", its="-", toks="-")

    def __enter__(self):
        if self._p is not None:
            self._p.start()
        return self

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.stop()
        return False

    def update(self, it: int, row: dict) -> None:
        if self._p is not None:
            self._p.update(
                self._task,
                completed=it,
                loss=f"{row['train_loss']:.3f}",
                its=f"{row['iterations_per_second']:.2f}",
                toks=f"{row['input_tokens_per_second']:.0f}",
            )

    def val(self, it: int, loss: float) -> None:
        if self._p is not None:
            self._p.update(self._task, val=f"{loss:.3f}")


# -- reports ------------------------------------------------------------------------------------


def mermaid_chart(history: dict[str, list[dict]]) -> str:
    """An `xychart-beta` block: validation loss and the training loss at the same iterations."""
    val = history.get("val", [])
    train = history.get("train", [])
    if not val:
        return ""
    xs = [v["iteration"] for v in val]

    def train_at(i: int) -> float:
        before = [t["train_loss"] for t in train if t["iteration"] <= max(i, 1)]
        return before[-1] if before else (train[0]["train_loss"] if train else float("nan"))

    ys_train = [round(train_at(i), 3) for i in xs]
    ys_val = [round(v["val_loss"], 3) for v in val]
    top = max([y for y in ys_train + ys_val if y == y] or [1.0])
    return (
        "xychart-beta\n"
        '    title "LoRA loss (line 1: train, line 2: validation)"\n'
        f'    x-axis "iteration" [{", ".join(str(x) for x in xs)}]\n'
        f'    y-axis "loss" 0 --> {math.ceil(top * 1.1 * 10) / 10}\n'
        f"    line [{', '.join(str(y) for y in ys_train)}]\n"
        f"    line [{', '.join(str(y) for y in ys_val)}]\n"
    )


def plot_loss(history: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    tr = history.get("train", [])
    va = history.get("val", [])
    if tr:
        ax.plot([t["iteration"] for t in tr], [t["train_loss"] for t in tr], label="train", linewidth=1)
    if va:
        ax.plot([v["iteration"] for v in va], [v["val_loss"] for v in va], "o-", label="validation")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (answer tokens)")
    ax.set_title("secai LoRA training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("mlx", "mlx-lm", "secai"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "unknown"
    return out


# -- the stage ----------------------------------------------------------------------------------


def train_adapter(
    dataset_dir: str | Path,
    out_dir: str | Path,
    resolved_model,
    settings: Settings,
    *,
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train a LoRA adapter on `dataset_dir` into `out_dir` (resuming a matching checkpoint there).

    `on_step(iteration)` is called after every training step (tests use it to interrupt a run).
    """
    import mlx.core as mx
    import numpy as np
    from mlx_lm.tuner.trainer import TrainingArgs, default_loss, evaluate, train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    from secai.model.base import load, runtime_model

    started = time.time()
    dataset_dir, out = Path(dataset_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = settings.train
    train_rows = read_jsonl(dataset_dir / "train.jsonl")
    valid_rows = read_jsonl(dataset_dir / "valid.jsonl")
    if len(valid_rows) > MAX_VALID_ROWS:
        # Validation runs every few steps: an evenly spaced subset keeps it cheap and representative.
        step = len(valid_rows) / MAX_VALID_ROWS
        valid_rows = [valid_rows[int(i * step)] for i in range(MAX_VALID_ROWS)]
    if len(train_rows) < cfg.batch_size:
        raise SecaiError(
            f"{dataset_dir / 'train.jsonl'}: {len(train_rows)} examples, need at least the batch size ({cfg.batch_size})"
        )

    runtime = runtime_model(resolved_model, settings, purpose="train")
    model, tokenizer = load(runtime)
    plan = plan_training(len(train_rows), len(valid_rows), len(model.layers), settings)
    data_sha = dataset_sha256(dataset_dir)
    recipe = {
        "recipe_version": RECIPE_VERSION,
        "train": cfg.model_dump(),
        "plan": plan.model_dump(),
        "dataset_sha256": data_sha,
        "base_model": {"model_id": resolved_model.model_id, "revision": resolved_model.revision},
    }
    fingerprint = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()

    mx.random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    model.freeze()
    lora = lora_parameters(settings, lora_keys(model, plan.num_layers, list(cfg.keys)))
    # On a quantized (4-bit) base the adapters wrap mlx-lm's QuantizedLinear layers: QLoRA.
    qlora = _quantized(model)
    if qlora:
        log.info("train: QLoRA on the quantized base (%s)", runtime.path)
    linear_to_lora_layers(model, plan.num_layers, lora)
    optimizer = make_optimizer(plan)
    train_set = tokenize(train_rows, tokenizer)
    valid_set = tokenize(valid_rows, tokenizer) if valid_rows else []
    use_trunk = cfg.cache_trunk and trunk.supported(model, plan.num_layers)
    if use_trunk:
        train_set = trunk.Encoded(model, train_set, plan.num_layers, cfg.max_seq_length)
        valid_set = trunk.Encoded(model, valid_set, plan.num_layers, cfg.max_seq_length) if valid_set else []
    loss_fn = trunk.make_loss(plan.num_layers) if use_trunk else default_loss
    Batching = trunk.Batches if use_trunk else LengthSortedBatches

    ckpt = out / CHECKPOINT_FILE
    state = load_checkpoint(ckpt, model, optimizer, fingerprint)
    resumed_from = None
    if state is not None:
        resumed_from = int(state["iteration"])
        log.info("resuming training from step %d of %d", resumed_from, plan.iters)
    else:
        state = {
            "fingerprint": fingerprint,
            "iteration": 0,
            "best_val_loss": None,
            "best_iteration": None,
            "bad_evals": 0,
            "stopped_early": False,
            "history": {"train": [], "val": []},
            "resumed_from": [],
        }
        (out / ADAPTER_FILE).unlink(missing_ok=True)
    if resumed_from is not None:
        state["resumed_from"].append(resumed_from)
    start = int(state["iteration"])
    mx.random.seed(cfg.seed + start)

    batches = Batching(seed=cfg.seed, skip=start)
    remaining = plan.iters - start
    last_file = out / f".last.{os.getpid()}.safetensors"
    args = TrainingArgs(
        batch_size=cfg.batch_size,
        iters=max(remaining, 0),
        val_batches=-1,
        steps_per_report=1,
        steps_per_eval=cfg.steps_per_eval,
        steps_per_save=10**9,
        max_seq_length=cfg.max_seq_length,
        adapter_file=str(last_file),
        grad_checkpoint=cfg.grad_checkpoint,
    )

    def validate() -> float:
        # secai schedules validation by the global step (mlx-lm's own schedule counts the steps of
        # this process, so a resumed run would validate at other steps than an uninterrupted one).
        loss = evaluate(
            model,
            valid_set,
            batch_size=cfg.batch_size,
            num_batches=-1,
            loss=loss_fn,
            max_seq_length=cfg.max_seq_length,
            iterate_batches=Batching(cfg.seed),
        )
        model.train()
        return float(loss)

    Recorder = _make_callback_class()
    with _Progress(plan.iters, start, progress) as bar:
        recorder = Recorder(
            model=model,
            optimizer=optimizer,
            out=out,
            start=start,
            state=state,
            patience=cfg.patience,
            batches=batches,
            progress=bar,
            on_step=on_step,
            validate=validate if valid_set else None,
            steps_per_eval=cfg.steps_per_eval,
            iters=plan.iters,
        )
        if remaining > 0 and not state.get("stopped_early"):
            try:
                if start == 0 and valid_set:
                    recorder.record_val(0, validate())
                with _quiet_trainer_ui():
                    train(
                        model,
                        optimizer,
                        train_set,
                        None,
                        args=args,
                        loss=loss_fn,
                        iterate_batches=batches,
                        training_callback=recorder,
                    )
            except _EarlyStop:
                log.info(
                    "early stop at step %d: no validation improvement in %d evaluations",
                    state["iteration"],
                    cfg.patience,
                )
            except _Diverged as e:
                log.warning(
                    "training loss became NaN/inf at step %d; keeping the best adapter (step %s). "
                    "A lower train.learning_rate avoids this.",
                    e.iteration,
                    state["best_iteration"],
                )
                state["stopped_early"] = True
                state["diverged_at"] = e.iteration
                if (out / ADAPTER_FILE).exists():
                    model.load_weights(str(out / ADAPTER_FILE), strict=False)
                save_checkpoint(ckpt, model, optimizer, state)
            finally:
                last_file.unlink(missing_ok=True)
        if not state.get("stopped_early") and valid_set:
            final_it = state["history"]["train"][-1]["iteration"] if state["history"]["train"] else start
            try:
                recorder.record_val(final_it, validate())
            except _EarlyStop:
                pass
    if use_trunk:
        log.info(
            "train: the frozen trunk (%d of %d blocks) ran once for %d examples, %.1fs in all",
            len(model.layers) - plan.num_layers,
            len(model.layers),
            train_set.encoded + (valid_set.encoded if valid_set else 0),
            train_set.seconds + (valid_set.seconds if valid_set else 0.0),
        )
    if not valid_set or not (out / ADAPTER_FILE).exists():
        # No validation split: the last adapter is the only one there is.
        from mlx.utils import tree_flatten

        _save_safetensors(out / ADAPTER_FILE, dict(tree_flatten(model.trainable_parameters())))
        save_checkpoint(ckpt, model, optimizer, state)

    adapter_config = {
        "fine_tune_type": "lora",
        "num_layers": plan.num_layers,
        "lora_parameters": lora,
        # What `mlx_lm.generate --model <base> --adapter-path <adapter>` needs: the base's Hub id
        # (or folder) and the exact revision the adapter was trained on.
        "model": resolved_model.model_id,
        "base_model": resolved_model.model_id,
        "base_model_revision": resolved_model.revision,
        "base_model_source": resolved_model.source,
        "quantized_base": qlora,
        "mask_prompt": True,
        "batch_size": cfg.batch_size,
        "iters": plan.iters,
        "learning_rate": cfg.learning_rate,
        "max_seq_length": cfg.max_seq_length,
        "seed": cfg.seed,
    }
    atomic_write_json(out / "adapter_config.json", adapter_config)
    # The adapter learned to apply an earlier fix shown in its prompt: the fixes it was trained
    # with travel with it (`secai.fix.memory`).
    if (dataset_dir / MEMORY_FILE).is_file():
        shutil.copyfile(dataset_dir / MEMORY_FILE, out / MEMORY_FILE)

    hist = state["history"]
    tr = hist["train"]
    tail = tr[-min(len(tr), 20) :] if tr else []
    mean = (lambda k: round(sum(r[k] for r in tail) / len(tail), 2)) if tail else (lambda k: None)
    result = TrainResult(
        adapter_dir=str(out),
        planned_iters=plan.iters,
        iterations=int(tr[-1]["iteration"]) if tr else start,
        best_iteration=state["best_iteration"],
        best_val_loss=round(state["best_val_loss"], 5) if state["best_val_loss"] is not None else None,
        first_val_loss=hist["val"][0]["val_loss"] if hist["val"] else None,
        final_train_loss=tr[-1]["train_loss"] if tr else None,
        stopped_early=bool(state.get("stopped_early")),
        diverged_at=state.get("diverged_at"),
        resumed_from=resumed_from,
        tokens_per_second=mean("tokens_per_second"),
        input_tokens_per_second=mean("input_tokens_per_second"),
        peak_memory_gb=max((r["peak_memory_gb"] for r in tr), default=None),
        seconds=round(time.time() - started, 2),
    )
    result.summary = (
        f"{result.iterations}/{plan.iters} steps, val loss {result.first_val_loss} -> best {result.best_val_loss} "
        f"at step {result.best_iteration}"
        + (", stopped early" if result.stopped_early else "")
        + (f", resumed from {resumed_from}" if resumed_from is not None else "")
    )
    record = {
        **recipe,
        "prompt_version": _prompt_version(dataset_dir),
        "seed": cfg.seed,
        "versions": _versions(),
        "runtime_model": {"path": str(runtime.path), "revision": runtime.revision, "quantized": runtime.quantized},
        "lora_parameters": lora,
        "qlora": qlora,
        "architecture": getattr(getattr(model, "args", None), "model_type", None),
        "optimizer": {
            "name": "adam",
            "schedule": "linear warmup then cosine decay",
            "warmup_steps": plan.warmup,
            "learning_rate": plan.learning_rate,
            "min_learning_rate": plan.min_learning_rate,
        },
        "mask_prompt": True,
        "batching": f"length-sorted, padded to a multiple of {PAD_MULTIPLE}",
        "frozen_trunk_cached": use_trunk,
        "openblas_preloaded": "openblas" in os.environ.get("LD_PRELOAD", ""),
        "result": result.model_dump(),
        "history": hist,
        "mermaid": mermaid_chart(hist),
    }
    atomic_write_json(out / "training.json", record)
    if tr or hist["val"]:
        plot_loss(hist, out / "loss.png")
    return result
