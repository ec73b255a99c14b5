"""Training throughput: secai's trainer vs plain `python -m mlx_lm lora`, same data and settings.

Both run as subprocesses in one invocation, with the same environment (so the same BLAS), the
same float32 model folder, dataset, LoRA rank/scale/keys, layers, batch size, iterations and
learning rate, and both with the loss on the answers only (`--mask-prompt`). The figure compared
is mlx-lm's own "tokens/sec" report (trained tokens per second of step time, validation
excluded), averaged over the steps after the first two (compilation warm-up).

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libopenblas.so.0 .venv/bin/python bench/train.py --iters 20
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
_REPORT_RE = re.compile(r"^\s*(\d+)\s+([\d.]+)\s+[▼▲]\s+([\d,]+)\s+([\d.]+)k\s*$")


def build_data(out: Path, settings) -> None:
    from secai.dataset import build_dataset
    from secai.ingest import collect

    res = collect([CORPUS], settings.limits)
    build_dataset(res.findings, out, settings)


def run_secai(data: Path, model_name: str, out: Path, a, env: dict) -> tuple[list[float], float]:
    env = dict(env, SECAI_TRAIN__STEPS_PER_EVAL=str(a.iters * 10), SECAI_TRAIN__SEED="0")
    cmd = [sys.executable, "-m", "secai.cli", "train", str(data), "--out", str(out), "--model", model_name,
           "--iters", str(a.iters), "--rank", str(a.rank), "--layers", str(a.layers), "--batch-size", str(a.batch_size),
           "--lr", str(a.lr), "--no-progress"]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    hist = json.loads((out / "training.json").read_text())["history"]["train"]
    return [r["tokens_per_second"] for r in hist], wall


def run_mlx_lm(data: Path, model_path: Path, out: Path, a, keys: list[str], env: dict) -> tuple[list[float], float]:
    import yaml

    cfg = out / "lora.yaml"
    out.mkdir(parents=True, exist_ok=True)
    cfg.write_text(yaml.safe_dump({"lora_parameters": {"rank": a.rank, "scale": 20.0, "dropout": 0.0, "keys": keys}}))
    cmd = [sys.executable, "-m", "mlx_lm", "lora", "--model", str(model_path), "--train", "--data", str(data),
           "--iters", str(a.iters), "--batch-size", str(a.batch_size), "--num-layers", str(a.layers),
           "--learning-rate", str(a.lr), "--mask-prompt", "--steps-per-report", "1", "--val-batches", "1",
           "--steps-per-eval", str(a.iters * 10), "--adapter-path", str(out / "adapters"), "-c", str(cfg)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, check=True, env=dict(env, COLUMNS="200"), capture_output=True, text=True)
    wall = time.perf_counter() - started
    rates = [float(m.group(3).replace(",", "")) for line in proc.stdout.splitlines() if (m := _REPORT_RE.match(line))]
    if not rates:
        raise SystemExit("could not read tokens/sec from mlx_lm lora's output:\n" + proc.stdout[-2000:])
    return rates, wall


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
    from secai.model import resolve_model, runtime_model

    settings = load_settings()
    runtime = runtime_model(resolve_model(a.model, settings), settings, purpose="train")
    env = dict(os.environ)
    print(f"model {runtime.path} | iters {a.iters}, batch {a.batch_size}, rank {a.rank}, layers {a.layers} | "
          f"LD_PRELOAD={env.get('LD_PRELOAD', '-')}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_data(tmp / "data", settings)
        ours, ours_wall = run_secai(tmp / "data", a.model, tmp / "secai", a, env)
        theirs, theirs_wall = run_mlx_lm(tmp / "data", runtime.path, tmp / "mlx_lm", a, settings.train.keys, env)

    def mean(xs: list[float]) -> float:
        xs = xs[2:] if len(xs) > 4 else xs
        return sum(xs) / len(xs)

    o, t = mean(ours), mean(theirs)
    print(f"{'':14}{'tokens/s':>10}{'wall s':>10}")
    print(f"{'mlx_lm lora':14}{t:>10.1f}{theirs_wall:>10.1f}")
    print(f"{'secai train':14}{o:>10.1f}{ours_wall:>10.1f}")
    print(f"ratio secai / mlx_lm lora: {o / t:.2f}x tokens/s, {theirs_wall / ours_wall:.2f}x wall time (target >= 1.3x)")


if __name__ == "__main__":
    main()
