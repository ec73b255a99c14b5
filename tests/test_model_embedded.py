"""End to end with the real embedded model (SmolLM2-135M-Instruct converted from its GGUF).

Reuses the model `make model` converted (tests/conftest.py `shared_models_dir`), converting it
there first when missing.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import MPO, requires_corpus

from secai.config import load_settings
from secai.ingest.collect import collect
from secai.model.base import EMBEDDED_MODEL_ID, describe, load, resolve_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded(shared_models_dir):
    settings = load_settings(overrides={"model": {"cache_dir": str(shared_models_dir)}})
    return settings, resolve_model("embedded", settings)


def test_embedded_model_is_the_converted_smollm2(embedded):
    _, r = embedded
    assert r.source == "embedded" and r.model_id == EMBEDDED_MODEL_ID and r.quantized
    assert re.fullmatch(r"gguf-sha256:[0-9a-f]{12}", r.revision)
    manifest = json.loads((r.path / "secai-manifest.json").read_text())
    assert manifest["revision"] == r.revision and len(manifest["source_sha256"]) == 64
    info = describe(r)
    assert info.architecture == "llama" and info.layers == 30 and info.chat_template
    assert 130e6 < info.parameters < 140e6
    assert info.quantization == "4-bit, group size 32"


def test_embedded_model_answers_chatml_in_english(embedded):
    from mlx_lm import generate

    _, r = embedded
    model, tok = load(r)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is SQL injection? Answer in one sentence."}], add_generation_prompt=True
    )
    answer = generate(model, tok, prompt, max_tokens=30)
    words = re.findall(r"[A-Za-z]+", answer)
    assert len(words) >= 8
    assert sum(len(w) for w in words) >= 0.6 * len(answer.replace(" ", ""))  # words, not byte soup
    assert re.search(r"sql|select|inject", answer, re.I)  # on topic


@requires_corpus
def test_the_embedded_model_answers_triage_prompts_on_the_cpu_path(embedded):
    """Real greedy triage answers of the base model (the fast CPU sampler on this machine): each is
    text, and each parses as one of the three verdicts or is an abstention, never a guess."""
    from secai.dataset.triage import facts_for_finding
    from secai.triage.model import model_verdicts

    settings, r = embedded
    findings = collect([str(MPO / "osv-scanner-results-workflow_dispatch-392")], load_settings().limits).findings[:3]
    out = model_verdicts(r, [facts_for_finding(f) for f in findings], settings)
    assert len(out) == 3 and all(o.answer.strip() for o in out)
    for o in out:
        assert o.parsed.verdict in (None, "true positive", "false positive", "accepted risk")
        if o.parsed.verdict is not None:
            assert re.search(r"verdict\W*:", o.answer, re.I)
