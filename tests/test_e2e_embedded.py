"""`secai-runner run` end to end with the real embedded model and the real bandit, offline.

The whole loop runs through the CLI in a subprocess on a small repository whose history teaches
fixes (tests/fix_history.py): parse a bandit report of its HEAD, mine the history, build the fix
dataset, LoRA-train, evaluate base vs tuned vs deterministic on the held-out fixes (verified by
bandit), fix today's findings, validate and report. Step counts are cut so it fits the CI budget;
`make demo` runs the same code on the demo history with the demo's settings.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT
from fix_history import bandit_report, make_fix_repo

pytestmark = pytest.mark.slow

RUNNER = Path(ROOT) / ".venv" / "bin" / "secai-runner"
SMALL = {
    "SECAI_TRAIN__MIN_ITERS": "16",
    "SECAI_TRAIN__MAX_ITERS": "16",
    "SECAI_TRAIN__STEPS_PER_EVAL": "8",
    "SECAI_FIX__CANDIDATES": "2",
    "SECAI_MINE__SCANNERS": "[bandit]",
    "SECAI_DATASET__TEST_FRACTION": "0.2",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory, shared_models_dir):
    from secai.config import load_settings
    from secai.scanners.bandit import Bandit

    if not (shared_models_dir / "smollm2-135m-instruct").is_dir():
        pytest.fail(f"{shared_models_dir}: the embedded model is not converted; run `make model` first")
    home = tmp_path_factory.mktemp("home")
    bandit = Bandit(load_settings(environ={"SECAI_HOME": str(home)}))
    if not bandit.available():
        pytest.fail("bandit is not installed; run `make scanners` first")
    repo = make_fix_repo(home)
    reports = bandit_report(repo, home / "reports", bandit.executable()).parent
    run_dir = home / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECAI_")}
    env.update(SMALL, SECAI_HOME=str(home), SECAI_MODEL__CACHE_DIR=str(shared_models_dir), HF_HUB_OFFLINE="1")
    res = subprocess.run(
        [
            str(RUNNER),
            "run",
            "--artifacts",
            str(reports),
            "--source",
            str(repo.path),
            "--model",
            "embedded",
            "--out",
            str(run_dir),
            "--no-progress",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return res, run_dir, repo.path, bandit.executable()


def test_every_stage_runs(run):
    res, run_dir, _, _ = run
    assert res.returncode in (0, 3), res.stderr[-3000:]  # 3: the tuned model missed the gate
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    for stage in ("parse", "mine", "dataset", "train", "evaluate", "fix", "validate", "report"):
        assert stages[stage]["status"] == "done", (stage, stages[stage])
    assert "verified fixes on" in res.stdout


def test_training_learned_and_the_evaluation_scored_every_fixer_alike(run):
    _, run_dir, _, _ = run
    training = json.loads((run_dir / "adapter" / "training.json").read_text())
    assert training["frozen_trunk_cached"]
    assert training["result"]["best_val_loss"] < training["result"]["first_val_loss"]
    fix = json.loads((run_dir / "eval.json").read_text())["fix"]
    assert fix["base"]["n"] == fix["tuned"]["n"] == fix["deterministic"]["n"] >= 2
    for arm in ("base", "tuned"):
        s = fix[arm]
        assert s["verified"] <= s["proposed"] <= s["n"] and s["verified_rate"] == round(s["verified"] / s["n"], 4)


def test_every_verified_fix_re_verifies_with_bandit(run, tmp_path):
    """The statuses are consistent: each verified diff, applied here to a copy, leaves bandit
    without the finding; nothing unverified carries a diff."""
    _, run_dir, source, bandit = run
    rows = [json.loads(line) for line in (run_dir / "fixes.jsonl").read_text().splitlines()]
    assert rows and all(bool(r["diff"]) == (r["status"] == "verified") for r in rows)
    for r in (r for r in rows if r["status"] == "verified"):
        copy = tmp_path / r["fingerprint"]
        subprocess.run(["cp", "-r", str(source), str(copy)], check=True)
        subprocess.run(["git", "apply", "-"], cwd=copy, input=r["diff"], text=True, check=True)
        out = subprocess.run(
            [str(bandit), "-q", "-f", "json", r["path"]],
            cwd=copy,
            capture_output=True,
            text=True,
        )
        still = [x for x in json.loads(out.stdout)["results"] if x["test_id"] == r["rule_id"]]
        assert not still, (r["path"], r["rule_id"], r["diff"])


def test_validation_loaded_the_adapter_and_the_report_shows_the_evaluation(run):
    _, run_dir, _, _ = run
    validation = json.loads((run_dir / "validation.json").read_text())
    checks = {c["name"]: c for c in validation["checks"]}
    assert checks["adapter files"]["passed"] and checks["adapter config"]["passed"]
    assert "load and generate" in checks and validation["samples"]
    comment = (run_dir / "comment.md").read_text()
    assert "### Fix evaluation" in comment
