"""Validation: complete adapter files consistent with the base, base+adapter generating sensible
answers, honest cards, and the evaluation gate recorded."""

from __future__ import annotations

import json
import shutil

import pytest
from run_fixture import make_run, shared_adapter

from secai.config import load_settings
from secai.release.validate import degenerate_reason, read_safetensors_header, validate_run


@pytest.fixture
def run(tiny_model, tmp_path, tmp_path_factory):
    adapter = shared_adapter(tiny_model, tmp_path_factory.mktemp("adapter"))
    return make_run(tmp_path / "run", tiny_model, adapter)


def check(res, name):
    return next(c for c in res.checks if c.name == name)


def test_good_run_passes_and_writes_validation_json(run, tiny_model):
    res = validate_run(run, load_settings(), base=tiny_model)
    assert res.passed, res.problems()
    assert [c.name for c in res.checks] == [
        "adapter files",
        "adapter config",
        "load and generate",
        "dataset card",
        "model card",
    ]
    assert res.samples and all(s.ok and s.answer.strip() for s in res.samples)
    assert res.eval_gate is True
    saved = json.loads((run / "validation.json").read_text())
    assert saved["passed"] is True and saved["eval_gate"] is True


def test_truncated_adapter_is_rejected(run, tiny_model):
    f = run / "adapter" / "adapters.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size - 100])
    res = validate_run(run, load_settings(), base=tiny_model)
    assert not res.passed
    detail = check(res, "adapter files").detail
    assert "truncated" in detail and "adapters.safetensors" in detail
    assert not any(c.name == "load and generate" for c in res.checks)
    with pytest.raises(Exception, match="truncated"):
        read_safetensors_header(f)


def test_missing_adapter_file_is_rejected(run, tiny_model):
    (run / "adapter" / "adapter_config.json").unlink()
    res = validate_run(run, load_settings(), base=tiny_model)
    assert "missing adapter_config.json" in check(res, "adapter files").detail


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c["lora_parameters"].update(rank=4), "do not match rank 4"),
        (lambda c: c.update(num_layers=7), "num_layers 7 is outside 1..2"),
        (
            lambda c: c["lora_parameters"].update(keys=c["lora_parameters"]["keys"] + ["mlp.nonexistent"]),
            "not modules of the base model",
        ),
        (lambda c: c.update(num_layers=1), "outside the adapted layers"),
    ],
)
def test_adapter_config_inconsistent_with_base(run, tiny_model, change, expected):
    p = run / "adapter" / "adapter_config.json"
    cfg = json.loads(p.read_text())
    change(cfg)
    p.write_text(json.dumps(cfg))
    res = validate_run(run, load_settings(), base=tiny_model, generate=False)
    assert not res.passed
    assert expected in check(res, "adapter config").detail


def test_adapter_for_another_base_is_rejected(run, tmp_path):
    from tiny_model import make_tiny_model

    other = make_tiny_model(tmp_path / "other", hidden=32, layers=2)
    res = validate_run(run, load_settings(), base=other, generate=False)
    assert "do not match rank" in check(res, "adapter config").detail


def test_card_claiming_transformers_is_rejected(run, tiny_model):
    res = validate_run(run, load_settings(), base=tiny_model, generate=False)
    assert res.passed
    from secai.release.cards import model_card
    from secai.release.validate import resolve_base, run_facts

    text = model_card(run_facts(run, resolve_base(run, load_settings(), tiny_model)))
    (run / "adapter" / "README.md").write_text(text.replace("library_name: mlx", "library_name: transformers"))
    res = validate_run(run, load_settings(), base=tiny_model, generate=False)
    assert not res.passed
    assert "library_name is 'transformers'" in check(res, "model card README.md").detail


def test_base_without_adapter_answers_are_degenerate(run, tiny_model, tmp_path):
    """The random base alone answers with newlines only: the same check must catch that."""
    from secai.config import FixSettings
    from secai.release.validate import BaseInfo, generate_samples, test_prompts

    zero = tmp_path / "zero-adapter"
    shutil.copytree(run / "adapter", zero)
    import mlx.core as mx

    weights = mx.load(str(zero / "adapters.safetensors"))
    mx.save_safetensors(str(zero / "adapters.safetensors"), {k: mx.zeros_like(v) for k, v in weights.items()})
    greedy = FixSettings(temperature=0.0)  # the random base's greedy answers are newlines only
    samples = generate_samples(
        BaseInfo(model_id="t", path=str(tiny_model)), zero, test_prompts(run / "dataset"), fix=greedy
    )
    assert samples and not any(s.ok for s in samples)


def test_eval_gate_failure_is_recorded(tiny_model, tmp_path, tmp_path_factory):
    adapter = shared_adapter(tiny_model, tmp_path_factory.mktemp("adapter"))
    run = make_run(tmp_path / "run", tiny_model, adapter, eval_passed=False)
    res = validate_run(run, load_settings(), base=tiny_model, generate=False)
    assert res.eval_gate is False
    assert json.loads((run / "validation.json").read_text())["eval_gate"] is False


@pytest.mark.parametrize(
    "tokens, text, bad",
    [
        ([], "", "empty"),
        ([5] * 10, "aaaaaaaaaa", "same token"),
        ([1, 2, 3, 4, 5, 6] + [7, 8] * 10, "x", "loop of 2"),
        (list(range(30)), "a varied answer", ""),
    ],
)
def test_degenerate_reason(tokens, text, bad):
    reason = degenerate_reason(tokens, text)
    assert (bad in reason) if bad else reason == ""


def test_cli_validate(run, tiny_model, capsys):
    from secai.cli import main

    code = main(["validate", str(run), "--model", str(tiny_model), "--no-generate"])
    assert code == 0
    assert "validation: passed" in capsys.readouterr().out
