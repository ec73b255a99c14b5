"""`fix` with the real embedded model on a slice of examples/vulnerable-app (bandit findings of
one file), codemod first: every verified diff must re-check when the test runs bandit itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter

import pytest
from conftest import EXAMPLES

pytestmark = pytest.mark.slow

APP = EXAMPLES / "vulnerable-app"
SLICE = "app/jobs.py"


def _bandit_ids(bandit: str, folder, path: str) -> Counter:
    res = subprocess.run([bandit, "-q", "-f", "json", path], cwd=folder, capture_output=True, text=True)
    assert res.returncode in (0, 1), res.stderr
    return Counter(r["test_id"] for r in json.loads(res.stdout)["results"])


def test_verified_fixes_recheck_with_the_scanner(tmp_path, shared_models_dir):
    from secai.config import load_settings
    from secai.fix.run import fix_findings
    from secai.ingest.collect import collect
    from secai.scanners.registry import get_scanner

    if not (shared_models_dir / "smollm2-135m-instruct").is_dir():
        pytest.fail(f"{shared_models_dir}: the embedded model is not converted; run `make model` first")
    settings = load_settings(
        overrides={
            "home": str(tmp_path / "home"),
            "model": {"cache_dir": str(shared_models_dir)},
            "fix": {"candidates": 2, "max_tokens": 96},
        },
        environ={},
    )
    report = collect([EXAMPLES / "artifacts" / "bandit-results" / "bandit.json"], settings.limits)
    findings = [f for f in report.findings if f.location and f.location.path == SLICE]
    assert len(findings) >= 5
    run = fix_findings(findings, APP, settings, providers=["codemod", "model"])

    assert len(run.results) == len(findings)
    for r in run.results:
        assert r.status in ("verified", "rejected", "unverifiable", "no_proposal") and r.reason
        assert (r.status == "verified") == bool(r.diff)
    model = [r for r in run.results if r.provider == "model"]
    assert model and all(r.candidates == 2 for r in model if r.status != "unverifiable")

    bandit = str(get_scanner("bandit", settings).executable())
    before = _bandit_ids(bandit, APP, SLICE)
    for r in (r for r in run.results if r.status == "verified"):
        work = tmp_path / f"check-{r.fingerprint}"
        shutil.copytree(APP / "app", work / "app")
        subprocess.run(["git", "init", "-q", str(work)], check=True)
        (work / "fix.patch").write_text(r.diff)
        subprocess.run(["git", "apply", "fix.patch"], cwd=work, check=True)
        after = _bandit_ids(bandit, work, SLICE)
        assert after[r.rule_id] == before[r.rule_id] - 1, (r.rule_id, r.diff)
        assert all(n <= before[rule] for rule, n in after.items()), (after, before, r.diff)
