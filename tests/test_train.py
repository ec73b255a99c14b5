import json

import pytest

from secai.config import load_settings
from secai.training.train import ADAPTER_FILE, CHECKPOINT_FILE, LengthSortedBatches, plan_training, train_adapter

ANSWERS = [
    ("requests", "2.19.0", "2.31.0"),
    ("lodash", "4.17.4", "4.17.21"),
    ("urllib3", "1.26.3", "1.26.5"),
    ("jinja2", "2.10", "2.11.3"),
]


def _row(i: int) -> dict:
    name, old, new = ANSWERS[i % len(ANSWERS)]
    return {
        "messages": [
            {"role": "system", "content": "You are a security analyst."},
            {
                "role": "user",
                "content": f"package: {name}\ninstalled version: {old}\nfixed versions: {new}" + " x" * (i % 5),
            },
            {
                "role": "assistant",
                "content": f"Verdict: likely true positive\nRisk: {name} {old} is vulnerable.\n"
                f"Remediation: Upgrade {name} from {old} to {new}.",
            },
        ]
    }


@pytest.fixture()
def dataset_dir(tmp_path):
    d = tmp_path / "dataset"
    d.mkdir()
    (d / "train.jsonl").write_text("".join(json.dumps(_row(i)) + "\n" for i in range(24)))
    (d / "valid.jsonl").write_text("".join(json.dumps(_row(i)) + "\n" for i in range(100, 106)))
    return d


@pytest.fixture()
def resolved(tiny_model):
    from secai.model.base import resolve_model

    return resolve_model(str(tiny_model), load_settings())


def _settings(**train):
    base = {
        "min_iters": 1,
        "max_iters": 24,
        "steps_per_eval": 4,
        "patience": 50,
        "learning_rate": 2e-3,
        "rank": 8,
        "epochs": 3.0,
    }
    base.update(train)
    return load_settings(overrides={"train": base})


def test_loss_goes_down_and_best_adapter_is_kept(dataset_dir, tmp_path, resolved, tiny_model):
    out = tmp_path / "adapter"
    res = train_adapter(dataset_dir, out, resolved, _settings(min_iters=24), progress=False)
    rec = json.loads((out / "training.json").read_text())
    train_losses = [r["train_loss"] for r in rec["history"]["train"]]
    val = rec["history"]["val"]
    assert res.iterations == res.planned_iters == 24 and len(train_losses) == 24
    assert sum(train_losses[-4:]) / 4 < sum(train_losses[:4]) / 4
    assert res.best_val_loss < res.first_val_loss
    best = min(val, key=lambda v: v["val_loss"])
    assert (res.best_iteration, res.best_val_loss) == (best["iteration"], pytest.approx(best["val_loss"], abs=1e-4))
    # Validation before training, after every N global steps, and after the last step.
    assert [v["iteration"] for v in val] == [0, 4, 8, 12, 16, 20, 24]
    # The recipe is recorded.
    assert rec["dataset_sha256"] and rec["seed"] == 0 and rec["versions"]["mlx-lm"] != "unknown"
    assert rec["base_model"]["model_id"] == resolved.model_id and rec["mask_prompt"] is True
    assert all(r["tokens_per_second"] > 0 and r["peak_memory_gb"] > 0 for r in rec["history"]["train"])
    assert rec["mermaid"].startswith("xychart-beta") and (out / "loss.png").stat().st_size > 1000
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["fine_tune_type"] == "lora" and cfg["num_layers"] == 2
    assert cfg["lora_parameters"] == {"rank": 8, "scale": 20.0, "dropout": 0.0, "keys": load_settings().train.keys}

    # mlx-lm loads base + adapter from these files as its own `lora` output.
    import mlx.core as mx
    from mlx_lm import load

    model, tok = load(str(tiny_model), adapter_path=str(out))
    saved = mx.load(str(out / ADAPTER_FILE))
    assert saved and all(k.endswith(("lora_a", "lora_b")) for k in saved)


def test_early_stopping_keeps_the_best(dataset_dir, tmp_path, resolved):
    out = tmp_path / "adapter"
    # With a vanishing learning rate validation cannot improve; patience 2 stops the run.
    res = train_adapter(
        dataset_dir, out, resolved, _settings(learning_rate=1e-9, steps_per_eval=2, patience=2), progress=False
    )
    assert res.stopped_early and res.iterations < res.planned_iters
    rec = json.loads((out / "training.json").read_text())
    assert res.best_val_loss == pytest.approx(min(v["val_loss"] for v in rec["history"]["val"]), abs=1e-4)
    assert (out / ADAPTER_FILE).exists()


def test_resume_continues_from_the_checkpoint(dataset_dir, tmp_path, resolved):
    s = _settings(steps_per_eval=3, max_iters=12)
    full = tmp_path / "full"
    train_adapter(dataset_dir, full, resolved, s, progress=False)
    reference = json.loads((full / "training.json").read_text())["history"]

    out = tmp_path / "adapter"

    def crash(it):
        if it == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_adapter(dataset_dir, out, resolved, s, progress=False, on_step=crash)
    assert (out / CHECKPOINT_FILE).exists() and not (out / "training.json").exists()

    res = train_adapter(dataset_dir, out, resolved, s, progress=False)
    assert res.resumed_from == 6  # the last validation (and checkpoint) before the crash at 8
    hist = json.loads((out / "training.json").read_text())["history"]
    assert [r["iteration"] for r in hist["train"]] == list(range(1, 13))
    # Same batches, same optimizer state, validation at the same global steps: the resumed run
    # matches an uninterrupted one.
    assert [v["iteration"] for v in hist["val"]] == [v["iteration"] for v in reference["val"]] == [0, 3, 6, 9, 12]
    for a, b in zip(hist["train"][6:], reference["train"][6:]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3, abs=1e-3)
    for a, b in zip(hist["val"], reference["val"]):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-3, abs=1e-3)


def test_changed_dataset_starts_over(dataset_dir, tmp_path, resolved):
    s = _settings(steps_per_eval=3, max_iters=6)
    out = tmp_path / "adapter"
    train_adapter(dataset_dir, out, resolved, s, progress=False)
    (dataset_dir / "train.jsonl").write_text((dataset_dir / "train.jsonl").read_text() + json.dumps(_row(7)) + "\n")
    res = train_adapter(dataset_dir, out, resolved, s, progress=False)
    assert res.resumed_from is None and res.iterations == 6


def test_plan_iterations_from_epochs():
    s = load_settings(overrides={"train": {"epochs": 2, "batch_size": 4, "min_iters": 10, "max_iters": 100}})
    assert plan_training(100, 10, 30, s).iters == 50
    assert plan_training(8, 2, 30, s).iters == 10
    assert plan_training(1000, 10, 30, s).iters == 100
    assert plan_training(100, 10, 30, s).num_layers == 8  # the default: the top 8 blocks
    every = load_settings(overrides={"train": {"num_layers": -1}})
    assert plan_training(100, 10, 30, every).num_layers == 30


def test_batches_are_length_sorted_and_resumable():
    data = [([1] * n, 0) for n in (5, 40, 7, 38, 6, 41, 8, 39)]
    it = LengthSortedBatches(seed=1)(data, 2, 1024, loop=True)
    widths = [next(it)[0].shape[1] for _ in range(8)]
    assert set(widths) <= {8, 40, 48}
    again = LengthSortedBatches(seed=1, skip=3)(data, 2, 1024, loop=True)
    assert [next(again)[0].shape[1] for _ in range(5)] == widths[3:]


def test_diverging_loss_stops_and_keeps_the_best_adapter(dataset_dir, tmp_path, resolved, monkeypatch):
    import mlx.core as mx
    import mlx.optimizers as optim

    import secai.training.train

    # A NaN learning rate turns the weights into NaN after the first update.
    monkeypatch.setattr(secai.training.train, "make_optimizer", lambda plan: optim.Adam(learning_rate=float("nan")))
    out = tmp_path / "adapter"
    res = train_adapter(dataset_dir, out, resolved, _settings(steps_per_eval=2), progress=False)
    assert res.diverged_at == 2 and res.stopped_early and res.iterations < res.planned_iters
    text = (out / "training.json").read_text()
    rec = json.loads(text, parse_constant=lambda c: pytest.fail(f"training.json holds {c}"))
    assert all(r["train_loss"] == r["train_loss"] for r in rec["history"]["train"])
    saved = mx.load(str(out / ADAPTER_FILE))
    assert saved and all(bool(mx.isfinite(v).all()) for v in saved.values())


def test_top_layers_train_from_the_cached_trunk(dataset_dir, tmp_path, resolved, tiny_model):
    from mlx_lm import load

    out = tmp_path / "adapter"
    res = train_adapter(dataset_dir, out, resolved, _settings(min_iters=16, max_iters=16, num_layers=1), progress=False)
    rec = json.loads((out / "training.json").read_text())
    assert rec["frozen_trunk_cached"] is True and res.iterations == 16
    losses = [r["train_loss"] for r in rec["history"]["train"]]
    assert sum(losses[-4:]) < sum(losses[:4]) and res.best_val_loss < res.first_val_loss
    assert json.loads((out / "adapter_config.json").read_text())["num_layers"] == 1
    model, _ = load(str(tiny_model), adapter_path=str(out))
    assert all(".layers.1." in k for k in mx_keys(out))


def mx_keys(out):
    import mlx.core as mx

    return list(mx.load(str(out / ADAPTER_FILE)))
