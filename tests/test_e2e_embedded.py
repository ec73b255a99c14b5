"""`secai-runner run` end to end on real scanner output with the real embedded model.

The whole pipeline (parse, analyze, dataset, LoRA training, base-vs-tuned evaluation, validation,
report) runs through the CLI in a subprocess, offline, on the Semgrep and detect-secrets reports
of examples/ (40 findings). Step counts and answer caps are cut so it fits the CI budget; `make
demo` runs the same code on all of examples/artifacts with the defaults.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow

RUNNER = Path(ROOT) / ".venv" / "bin" / "secai-runner"
REPORTS = [EXAMPLES / "artifacts" / "semgrep-results", EXAMPLES / "artifacts" / "detect-secrets"]
SMALL = {
    "SECAI_ANALYZE__MAX_TOKENS": "24",
    "SECAI_TRAIN__MIN_ITERS": "16",
    "SECAI_TRAIN__MAX_ITERS": "16",
    "SECAI_TRAIN__STEPS_PER_EVAL": "8",
    "SECAI_EVALUATE__MAX_TOKENS": "128",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory, shared_models_dir):
    if not (shared_models_dir / "smollm2-135m-instruct").is_dir():
        pytest.fail(f"{shared_models_dir}: the embedded model is not converted; run `make model` first")
    home = tmp_path_factory.mktemp("home")
    run_dir = home / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECAI_")}
    env.update(SMALL, SECAI_HOME=str(home), SECAI_MODEL__CACHE_DIR=str(shared_models_dir), HF_HUB_OFFLINE="1")
    res = subprocess.run(
        [str(RUNNER), "run", "--artifacts", *map(str, REPORTS), "--out", str(run_dir), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return res, run_dir


def test_every_stage_runs_and_the_run_succeeds(run):
    res, run_dir = run
    assert res.returncode == 0, res.stderr[-3000:]
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    for stage in ("parse", "analyze", "dataset", "train", "evaluate", "validate", "report"):
        assert stages[stage]["status"] == "done", (stage, stages[stage])
    assert "faithfulness  base" in res.stdout


def test_analysis_covers_every_finding(run):
    _, run_dir = run
    findings = json.loads((run_dir / "findings.json").read_text())
    findings = findings["findings"] if isinstance(findings, dict) else findings
    rows = [json.loads(line) for line in (run_dir / "analysis.jsonl").read_text().splitlines() if line.strip()]
    assert len(findings) == 40 and {r["fingerprint"] for r in rows} == {f["fingerprint"] for f in findings}


def test_tuned_model_beats_the_base_on_held_out_findings(run):
    _, run_dir = run
    ev = json.loads((run_dir / "eval.json").read_text())
    base, tuned = ev["base"], ev["tuned"]
    assert base["n"] == tuned["n"] >= 3
    assert tuned["faithfulness"] >= base["faithfulness"] + 0.2 and ev["gate"]["passed"]
    assert tuned["hallucination_rate"] <= 0.05
    training = json.loads((run_dir / "adapter" / "training.json").read_text())
    assert (
        training["frozen_trunk_cached"] and training["result"]["best_val_loss"] < training["result"]["first_val_loss"]
    )


def test_validation_loaded_the_adapter_and_the_report_shows_the_scores(run):
    _, run_dir = run
    validation = json.loads((run_dir / "validation.json").read_text())
    assert validation["passed"], validation
    comment = (run_dir / "comment.md").read_text()
    ev = json.loads((run_dir / "eval.json").read_text())
    assert f"{ev['tuned']['faithfulness']:.2f}" in comment
