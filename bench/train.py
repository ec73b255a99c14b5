"""Training throughput: secai's trainer vs plain `python -m mlx_lm lora`, same data and settings.

Both run as subprocesses in one invocation, with the same environment (so the same BLAS), the
same float32 model folder, dataset (the shared corpus; the validation file cut to one batch so
validation costs both the same), LoRA rank/scale/keys, layers, batch size, iterations and
learning rate, and both with the loss on the answers only (`--mask-prompt`).

The figure compared is trained (answer) tokens per second of wall time for the whole command:
model load, secai's one-time pass over the frozen trunk, every step and validation included.
mlx-lm's own per-step "tokens/sec" is printed too; secai's per-step figure is not comparable
(its trunk pass happens outside the step timer) and is not used.

    .venv/bin/python bench/train.py --iters 20
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
# mlx-lm's report line: "  <it>    <loss> ▼    <tokens/sec>    <trained>k"
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_REPORT_RE = re.compile(r"^\s*(\d+)\s+([\d.]+)\s+[▼▲]\s+([\d,]+)\s+([\d.]+)k\s*$")


def build_data(out: Path, settings, batch_size: int) -> None:
    from secai.dataset.build import build_dataset
    from secai.ingest.collect import collect

    res = collect([CORPUS], settings.limits)
    build_dataset(res.findings, out, settings)
    valid = out / "valid.jsonl"
    valid.write_text("".join(valid.read_text().splitlines(keepends=True)[:batch_size]))


def run_secai(data: Path, model_name: str, out: Path, a, env: dict) -> tuple[int, float]:
    env = dict(env, SECAI_TRAIN__STEPS_PER_EVAL=str(a.iters * 10), SECAI_TRAIN__SEED="0")
    cmd = [
        sys.executable,
        "-m",
        "secai.cli",
        "train",
        str(data),
        "--out",
        str(out),
        "--model",
        model_name,
        "--iters",
        str(a.iters),
        "--rank",
        str(a.rank),
        "--layers",
        str(a.layers),
        "--batch-size",
        str(a.batch_size),
        "--lr",
        str(a.lr),
        "--no-progress",
    ]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    record = json.loads((out / "training.json").read_text())
    if not record.get("frozen_trunk_cached"):
        print("note: secai trained without the frozen-trunk cache (all layers adapted?)")
    return int(record["history"]["train"][-1]["trained_tokens"]), wall


def run_mlx_lm(
    data: Path, model_path: Path, out: Path, a, keys: list[str], env: dict
) -> tuple[int, float, list[float]]:
    import yaml

    cfg = out / "lora.yaml"
    out.mkdir(parents=True, exist_ok=True)
    cfg.write_text(yaml.safe_dump({"lora_parameters": {"rank": a.rank, "scale": 20.0, "dropout": 0.0, "keys": keys}}))
    cmd = [
        sys.executable,
        "-m",
        "mlx_lm",
        "lora",
        "--model",
        str(model_path),
        "--train",
        "--data",
        str(data),
        "--iters",
        str(a.iters),
        "--batch-size",
        str(a.batch_size),
        "--num-layers",
        str(a.layers),
        "--learning-rate",
        str(a.lr),
        "--mask-prompt",
        "--steps-per-report",
        "1",
        "--val-batches",
        "1",
        "--steps-per-eval",
        str(a.iters * 10),
        "--adapter-path",
        str(out / "adapters"),
        "-c",
        str(cfg),
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, check=True, env=dict(env, COLUMNS="200"), capture_output=True, text=True)
    wall = time.perf_counter() - started
    plain = _ANSI_RE.sub("", proc.stdout)
    rows = [m for line in plain.splitlines() if (m := _REPORT_RE.match(line))]
    if not rows:
        raise SystemExit("could not read mlx_lm lora's progress lines:\n" + proc.stdout[-2000:])
    rates = [float(m.group(3).replace(",", "")) for m in rows]
    return round(float(rows[-1].group(4)) * 1000), wall, rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    a = ap.parse_args()

    from secai.config import load_settings
    from secai.model.base import resolve_model, runtime_model

    settings = load_settings()
    runtime = runtime_model(resolve_model(a.model, settings), settings, purpose="train")
    from secai.model.cpu.openblas import preload_env

    # Both trainers get the same BLAS: secai's CLI would re-execute itself with OpenBLAS preloaded,
    # so the bench preloads it for both children (when this machine has it).
    env = preload_env(dict(os.environ)) or dict(os.environ)
    print(
        f"model {runtime.path} | iters {a.iters}, batch {a.batch_size}, rank {a.rank}, layers {a.layers} | "
        f"LD_PRELOAD={env.get('LD_PRELOAD', '-')}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_data(tmp / "data", settings, a.batch_size)
        ours_tokens, ours_wall = run_secai(tmp / "data", a.model, tmp / "secai", a, env)
        theirs_tokens, theirs_wall, theirs_rates = run_mlx_lm(
            tmp / "data", runtime.path, tmp / "mlx_lm", a, settings.train.keys, env
        )

    o, t = ours_tokens / ours_wall, theirs_tokens / theirs_wall
    steady = theirs_rates[2:] if len(theirs_rates) > 4 else theirs_rates
    print(f"{'':14}{'trained tok':>12}{'wall s':>9}{'tok/s wall':>12}")
    print(
        f"{'mlx_lm lora':14}{theirs_tokens:>12}{theirs_wall:>9.1f}{t:>12.1f}   "
        f"(its own per-step figure: {sum(steady) / len(steady):.1f} tok/s)"
    )
    print(f"{'secai train':14}{ours_tokens:>12}{ours_wall:>9.1f}{o:>12.1f}")
    print(
        f"ratio secai / mlx_lm lora: {o / t:.2f}x trained tokens per wall second, "
        f"{theirs_wall / ours_wall:.2f}x wall time for {a.iters} steps (target >= 1.3x)"
    )


if __name__ == "__main__":
    main()
