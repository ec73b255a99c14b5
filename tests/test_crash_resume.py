"""Crash suite: `secai-runner run` killed with SIGKILL at every stage boundary and in the middle of
training, then run again, must finish with the outputs of an uninterrupted run. Also: changed
inputs recompute only what depends on them, a truncated output reruns its stage, and a full disk or
an unwritable run folder is a one-line error that leaves the SQLite store intact.

The kill points are observed, not injected: the test polls `manifest.json` (a stage is recorded
there once its outputs are written) and the training checkpoint, and kills the process group.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DOJO, requires_corpus
from fix_history import bandit_report, make_fix_repo

RUNNER = Path(sys.executable).parent / "secai-runner"
STAGES = ["parse", "mine", "labels", "dataset", "train", "evaluate", "fix", "validate", "publish", "report"]
REPORTS = [
    DOJO / "checkov" / "checkov-report-many-vuln.json",
    DOJO / "npm_audit" / "many_vuln.json",
    DOJO / "anchore_grype" / "check_all_fields.json",
    DOJO / "semgrep" / "many_findings.json",
    DOJO / "osv_scanner" / "some_findings.json",
    DOJO / "anchore_grype" / "fix_available.json",
    DOJO / "gitleaks" / "gitleaks8_many.json",
]
SETTINGS = {
    "SECAI_TRAIN__MAX_ITERS": "6",
    "SECAI_TRAIN__MIN_ITERS": "6",
    "SECAI_TRAIN__STEPS_PER_EVAL": "2",
    "SECAI_TRAIN__PATIENCE": "10",
    "SECAI_FIX__CANDIDATES": "2",
    "SECAI_FIX__MAX_TOKENS": "16",
    "SECAI_EVALUATE__MAX_EXAMPLES": "2",
    "SECAI_MINE__SCANNERS": "[bandit]",
    "SECAI_FIX__PROVIDERS": "[dependency, model]",
}
# Files whose bytes must match the uninterrupted run exactly.
SAME_BYTES = [
    "findings.json",
    "events.jsonl",
    "dataset/train.jsonl",
    "dataset/valid.jsonl",
    "dataset/test.jsonl",
    "dataset/test_cases.jsonl",
    "dataset/stats.json",
    "dataset/README.md",
    "adapter/adapter_config.json",
    "fixes.jsonl",
]


def runner_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECAI_")}
    env.update(SETTINGS, SECAI_HOME=str(home), HF_HUB_OFFLINE="1")
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def history(tmp_path_factory) -> tuple[Path, Path]:
    """The fix-history repository (the run's --source) and a bandit report of its HEAD."""
    from secai.config import load_settings
    from secai.scanners.bandit import Bandit

    root = tmp_path_factory.mktemp("crash-history")
    bandit = Bandit(load_settings(environ={"SECAI_HOME": str(root / "home")}))
    if not bandit.available():
        pytest.skip("bandit is not installed")
    repo = make_fix_repo(root)
    HISTORY[:] = [repo.path, bandit_report(repo, root / "bandit", bandit.executable()).parent]
    return HISTORY[0], HISTORY[1]


HISTORY: list[Path] = []


def start(run_dir: Path, model: Path, home: Path, reports=REPORTS, **popen) -> subprocess.Popen:
    source, bandit = HISTORY
    args = [
        str(RUNNER),
        "run",
        "--artifacts",
        *map(str, reports),
        str(bandit),
        "--source",
        str(source),
        "--out",
        str(run_dir),
        "--model",
        str(model),
        "--no-progress",
    ]
    return subprocess.Popen(
        args,
        env=popen.pop("env", None) or runner_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def manifest(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["stages"]
    except (OSError, ValueError, KeyError):
        return {}


def kill_when(proc: subprocess.Popen, condition, timeout: float = 240) -> bool:
    """SIGKILL the run's process group as soon as `condition()` holds; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("kill point never reached")


def statuses(result: subprocess.CompletedProcess) -> dict[str, str]:
    """Stage -> status from the runner's stderr log ("<stage> running/up to date")."""
    out = {}
    for line in result.stderr.splitlines():
        parts = line.removeprefix("secai: ").split()
        if len(parts) >= 2 and parts[0] in STAGES:
            if parts[1:3] == ["up", "to"]:
                out[parts[0]] = "cached"
            elif parts[1] in ("done", "skipped:"):
                out[parts[0]] = parts[1].rstrip(":")
    return out


def adapter_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    import mlx.core as mx

    return {k: np.array(v) for k, v in mx.load(str(run_dir / "adapter" / "adapters.safetensors")).items()}


def eval_scores(run_dir: Path) -> dict:
    ev = json.loads((run_dir / "eval.json").read_text(encoding="utf-8"))
    keys = ("n", "proposed", "verified", "verified_rate", "verified_rate_at_1", "rejections")
    return {
        "gate": ev["gate"],
        **{arm: {k: ev["fix"][arm][k] for k in keys} for arm in ("deterministic", "base", "tuned")},
        "examples": ev["fix"]["examples"],
    }


def assert_same_outputs(run: Path, ref: Path) -> str:
    """Every output equal to the reference; returns how the adapter weights compared."""
    for name in SAME_BYTES:
        assert (run / name).read_bytes() == (ref / name).read_bytes(), name
    assert eval_scores(run) == eval_scores(ref)
    assert (run / "comment.md").read_text() == (ref / "comment.md").read_text()
    assert (
        json.loads((run / "validation.json").read_text())["checks"]
        == json.loads((ref / "validation.json").read_text())["checks"]
    )
    a, b = adapter_arrays(run), adapter_arrays(ref)
    assert a.keys() == b.keys()
    if all(np.array_equal(a[k], b[k]) for k in a):
        return "bit-identical"
    worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    assert all(np.allclose(a[k], b[k], rtol=1e-4, atol=1e-6) for k in a), worst
    return f"within float tolerance (max abs diff {worst:.2e})"


@pytest.fixture(scope="module")
def reference(tiny_model, tmp_path_factory, history):
    root = tmp_path_factory.mktemp("crash-ref")
    started = time.monotonic()
    res = finish(start(root / "run", tiny_model, root / "home"))
    seconds = time.monotonic() - started
    assert (root / "run" / "comment.md").is_file(), res.stderr
    done = manifest(root / "run")
    assert [s for s in STAGES if done.get(s, {}).get("status") == "done"] == [
        "parse",
        "mine",
        "labels",
        "dataset",
        "train",
        "evaluate",
        "fix",
        "validate",
        "report",
    ]
    print(f"\nreference run: {seconds:.1f}s")
    return root / "run"


@requires_corpus
def test_kill_at_every_stage_boundary_then_resume(reference, tiny_model, tmp_path):
    """One run folder, killed once just after each stage is recorded; each restart resumes from
    the boundary the previous one was killed at, and the last one finishes."""
    run, home = tmp_path / "run", tmp_path / "home"
    killed_after = []
    for stage in ["parse", "mine", "labels", "dataset", "train", "evaluate", "fix", "validate"]:
        proc = start(run, tiny_model, home)
        assert kill_when(proc, lambda stage=stage: stage in manifest(run)), f"run ended before {stage} was recorded"
        recorded = manifest(run)
        assert "report" not in recorded
        killed_after.append(stage)
    res = finish(start(run, tiny_model, home))
    assert res.returncode in (0, 3), res.stderr  # 3: the model gate (a tiny model may miss it)
    st = statuses(res)
    assert st["parse"] == st["mine"] == st["dataset"] == st["train"] == "cached"
    assert st["report"] == "done"
    how = assert_same_outputs(run, reference)
    print(f"\nkilled after {', '.join(killed_after)}; resumed outputs equal the reference, adapter {how}")


@requires_corpus
def test_kill_mid_training_resumes_from_the_checkpoint(reference, tiny_model, tmp_path):
    run, home = tmp_path / "run", tmp_path / "home"
    ckpt = run / "adapter" / "checkpoint.safetensors"
    proc = start(run, tiny_model, home)
    assert kill_when(proc, lambda: ckpt.is_file() and "train" not in manifest(run))
    assert "train" not in manifest(run) and ckpt.is_file()
    res = finish(start(run, tiny_model, home))
    assert res.returncode in (0, 3), res.stderr  # 3: the model gate (a tiny model may miss it)
    assert "resuming training from step" in res.stderr
    st = statuses(res)
    assert st["parse"] == st["mine"] == st["dataset"] == "cached" and st["train"] == "done"
    training = json.loads((run / "adapter" / "training.json").read_text())
    assert training.get("resumed_from") or "resumed from" in manifest(run)["train"]["note"]
    how = assert_same_outputs(run, reference)
    print(f"\nkilled mid-training after a checkpoint; resumed adapter {how}")


@requires_corpus
def test_changed_inputs_recompute_only_what_depends_on_them(reference, tiny_model, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    # An added report (with no findings) changes parse's inputs but not findings.json.
    res = finish(start(run, tiny_model, tmp_path / "home", reports=REPORTS + [DOJO / "semgrep" / "empty.json"]))
    st = statuses(res)
    assert st["parse"] == "done", res.stderr
    assert all(st[s] == "cached" for s in ("mine", "dataset", "train", "evaluate", "fix", "validate", "report")), st
    # A changed evaluate setting reruns evaluate and what reads eval.json; earlier stages stay cached.
    env = runner_env(tmp_path / "home", SECAI_EVALUATE__MARGIN="0.5")
    res = finish(
        start(run, tiny_model, tmp_path / "home", reports=REPORTS + [DOJO / "semgrep" / "empty.json"], env=env)
    )
    st = statuses(res)
    assert all(st[s] == "cached" for s in ("parse", "mine", "dataset", "train")), st
    assert st["evaluate"] == "done" and json.loads((run / "eval.json").read_text())["gate"]["required_margin"] == 0.5


@requires_corpus
@pytest.mark.parametrize(
    "name, stage",
    [
        ("findings.json", "parse"),
        ("dataset/train.jsonl", "dataset"),
        ("adapter/adapters.safetensors", "train"),
        ("comment.md", "report"),
    ],
)
def test_truncated_output_reruns_its_stage(reference, tiny_model, tmp_path, name, stage):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    path = run / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    res = finish(start(run, tiny_model, tmp_path / "home"))
    st = statuses(res)
    assert st[stage] == "done", (st, res.stderr)
    earlier = STAGES[: STAGES.index(stage)]
    assert all(st[s] == "cached" for s in earlier if s != "publish"), st
    assert_same_outputs(run, reference)


def _limit_file_size(nbytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


@requires_corpus
def test_full_disk_is_a_clear_error_and_the_store_stays_consistent(tiny_model, tmp_path, history):
    home = tmp_path / "home"
    # First a normal run, so the store holds mined scans; then a run whose writes hit the size limit.
    ok = finish(
        start(
            tmp_path / "ok",
            tiny_model,
            home,
            reports=REPORTS[:2],
            env=runner_env(home, SECAI_TRAIN__MAX_ITERS="2", SECAI_TRAIN__MIN_ITERS="2"),
        )
    )
    store = home / "secai.sqlite3"
    assert store.is_file(), ok.stderr
    before = _analyses(store)
    # findings.json (37 kB) still fits; the store and later outputs do not.
    res = finish(start(tmp_path / "full", tiny_model, home, preexec_fn=_limit_file_size(38_000)))
    assert res.returncode != 0
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    errors = [line for line in res.stderr.splitlines() if "File too large" in line or "disk is full" in line]
    assert errors, res.stderr
    con = sqlite3.connect(store)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    assert _analyses(store) >= before
    print(f"\nfull disk: {errors[-1]}")


def _analyses(store: Path) -> int:
    con = sqlite3.connect(store)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)  # noqa: S608
    finally:
        con.close()


@requires_corpus
def test_unwritable_run_folder_is_a_one_line_error(tiny_model, tmp_path, history):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the run folder's parent should be")
    res = finish(start(blocker / "run", tiny_model, tmp_path / "home"))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(blocker) in lines[0], res.stderr
