"""`fix` with the real embedded model on a slice of examples/vulnerable-app (bandit findings of
one file), codemod first: every verified diff must re-check when the test runs bandit itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest
from conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow

APP = EXAMPLES / "vulnerable-app"
SLICE = "app/jobs.py"


def _bandit_ids(bandit: str, folder, path: str) -> Counter:
    res = subprocess.run([bandit, "-q", "-f", "json", path], cwd=folder, capture_output=True, text=True)
    assert res.returncode in (0, 1), res.stderr
    return Counter(r["test_id"] for r in json.loads(res.stdout)["results"])


def test_verified_fixes_recheck_with_the_scanner(tmp_path, shared_models_dir):
    from secai.config import load_settings
    from secai.scanners.registry import get_scanner

    if not (shared_models_dir / "smollm2-135m-instruct").is_dir():
        pytest.fail(f"{shared_models_dir}: the embedded model is not converted; run `make model` first")
    report = json.loads((EXAMPLES / "artifacts" / "bandit-results" / "bandit.json").read_text())
    report["results"] = [r for r in report["results"] if r["filename"].removeprefix("./") == SLICE]
    assert len(report["results"]) >= 5
    (tmp_path / "bandit.json").write_text(json.dumps(report))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECAI_")}
    env.update(
        PYTHONPATH=str(ROOT),
        SECAI_HOME=str(tmp_path / "home"),
        SECAI_MODEL__CACHE_DIR=str(shared_models_dir),
        SECAI_FIX__CANDIDATES="2",
        SECAI_FIX__MAX_TOKENS="96",
        HF_HUB_OFFLINE="1",
    )
    # through the CLI, so that on a Linux CPU it re-runs itself with OpenBLAS preloaded
    cmd = [sys.executable, "-m", "secai.cli", "fix", str(tmp_path / "bandit.json"), "--source", str(APP)]
    cmd += ["--provider", "codemod", "--provider", "model", "--format", "json", "-o", str(tmp_path / "fixes.json")]
    res = subprocess.run(cmd + ["--out", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads((tmp_path / "fixes.json").read_text())

    assert len(results) == len(report["results"])
    for r in results:
        assert r["status"] in ("verified", "rejected", "unverifiable", "no_proposal") and r["reason"]
        assert (r["status"] == "verified") == bool(r["diff"])
    lines = [json.loads(x) for x in (tmp_path / "run" / "fixes.jsonl").read_text().splitlines()]
    model = [r for r in lines if r["provider"] == "model"]
    assert model and all(r["candidates"] == 2 for r in model if r["status"] != "unverifiable")

    bandit = str(get_scanner("bandit", load_settings(environ={})).executable())
    before = _bandit_ids(bandit, APP, SLICE)
    for r in (r for r in results if r["status"] == "verified"):
        work = tmp_path / f"check-{r['fingerprint']}"
        shutil.copytree(APP / "app", work / "app")
        subprocess.run(["git", "init", "-q", str(work)], check=True)
        (work / "fix.patch").write_text(r["diff"])
        subprocess.run(["git", "apply", "fix.patch"], cwd=work, check=True)
        after = _bandit_ids(bandit, work, SLICE)
        assert after[r["rule_id"]] == before[r["rule_id"]] - 1, (r["rule_id"], r["diff"])
        assert all(n <= before[rule] for rule, n in after.items()), (after, before, r["diff"])
