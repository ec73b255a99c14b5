"""A run without a gated adapter of its own (a pull request run) borrows the latest adapter of the
same repository that a trusted run trained on the same base model and whose gate passed; planted,
tampered, untrusted, failed and foreign adapters are refused (secai.run.adapters)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from secai.cli import main
from secai.config import Settings, load_settings
from secai.fix.prompt import PROMPT_VERSION
from secai.report.baseline import record_run_folder
from secai.run import files
from secai.run.adapters import ADAPTER_MEMORY, latest_trusted_adapter
from secai.run.folder import Manifest, hash_tree
from secai.run.meta import RunMeta
from secai.run.records import EvalResult, FixEval, FixScore, Gate, TriageEval, TriageScore

KEY = "secai-test/tiny@rev1"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _eval(passed: bool = True, earned: bool = False) -> EvalResult:
    s = FixScore(n=4, proposed=4, verified=1, verified_rate=0.25, verified_rate_at_1=0.25)
    t = TriageScore(n=12, correct=10, accuracy=0.83, coverage=1.0)
    return EvalResult(
        fix=FixEval(k=4, cases=4, base=s, tuned=s, deterministic=s),
        gate=Gate(enabled=True, passed=passed, margin=0.25 if passed else 0.0, required_margin=0.1),
        triage=TriageEval(
            cases=12, n=12, train_labels=40, base=t, tuned=t, baseline=t, earned=earned, min_cases=10, reason="r"
        ),
    )


def write_trained(
    run: Path,
    *,
    key: str = KEY,
    passed: bool = True,
    earned: bool = False,
    weights: Path | None = None,
    memory: str | None = None,
    prompt_version: str | None = PROMPT_VERSION,
) -> Path:
    """What the train and evaluate stages leave in a run folder: the adapter (its base model in
    training.json and adapter_config.json), eval.json, and their hashes in manifest.json."""
    (run / "adapter").mkdir(parents=True)
    model_id, revision = key.split("@")
    if weights is not None:
        shutil.copyfile(weights / "adapters.safetensors", run / "adapter" / "adapters.safetensors")
        config = json.loads((weights / "adapter_config.json").read_text())
    else:
        (run / "adapter" / "adapters.safetensors").write_bytes(f"weights of {run.name}".encode())
        config = {"fine_tune_type": "lora"}
    config.update(base_model=model_id, base_model_revision=revision, model=model_id)
    (run / "adapter" / "adapter_config.json").write_text(json.dumps(config))
    base = {"base_model": {"model_id": model_id, "revision": revision}, "prompt_version": prompt_version}
    (run / "adapter" / "training.json").write_text(json.dumps(base))
    files.write_eval(run / "eval.json", _eval(passed, earned))
    manifest = Manifest.load(run)
    adapter_files = ["adapter/adapters.safetensors", "adapter/adapter_config.json", "adapter/training.json"]
    if memory is not None:  # the earlier fixes the adapter was trained with
        (run / ADAPTER_MEMORY).write_text(memory)
        adapter_files.append(ADAPTER_MEMORY)
    manifest.record(run, "train", "t", adapter_files, "done", time.time())
    manifest.record(run, "evaluate", "e", ["eval.json"], "done", time.time())
    return run


def trained_run(
    settings: Settings,
    name: str,
    *,
    repo: str = "acme/app",
    event: str = "push",
    branch: str | None = "main",
    pr: int | None = None,
    is_fork: bool = False,
    **trained,
) -> Path:
    """A trained run folder, recorded in the store the way `run` and `fetch` record runs."""
    run = settings.runs_dir / name
    run.mkdir(parents=True)
    meta = RunMeta(repo=repo, run_id=name, branch=branch, pr=pr, event=event, is_fork=is_fork, head_sha="ab" * 20)
    files.write_run_meta(run, meta)
    write_trained(run, **trained)
    assert record_run_folder(run, settings)
    return run


@pytest.fixture
def settings(tmp_path) -> Settings:
    return load_settings(overrides={"home": str(tmp_path / "home")}, environ={})


def _lent(settings: Settings, **kw):
    return latest_trusted_adapter("acme/app", lambda: KEY, settings, **kw)


def test_the_latest_trusted_gated_adapter_is_chosen(settings):
    assert _lent(settings) is None  # no store yet
    older = trained_run(settings, "101", earned=True)
    newer = trained_run(settings, "102")
    got = _lent(settings)
    assert got.run_id == "102" and got.path == newer / "adapter" and not got.triage_earned
    assert got.sha256 == Manifest.load(newer).stages["train"].outputs["adapter/adapters.safetensors"]
    again = _lent(settings, exclude=newer)  # a run never borrows from itself
    assert again.run_id == "101" and again.path == older / "adapter" and again.triage_earned
    assert latest_trusted_adapter("acme/other", lambda: KEY, settings) is None


def test_an_adapter_trained_on_another_prompt_version_is_passed_over(settings, caplog):
    current = trained_run(settings, "101")
    trained_run(settings, "102", prompt_version="fix/1")
    trained_run(settings, "103", prompt_version=None)  # from before adapters recorded it
    caplog.set_level(logging.INFO, logger="secai")
    got = latest_trusted_adapter("acme/app", lambda: KEY, settings, prompt_version=PROMPT_VERSION)
    assert got.path == current / "adapter"
    assert "trained on fix/1 prompts" in caplog.text and "trained on older prompts" in caplog.text
    assert _lent(settings).run_id == "103"  # without a version to match, the newest


def test_the_earlier_fixes_come_with_the_adapter_only_as_recorded(settings, caplog):
    run = trained_run(settings, "101", memory='{"id": "a"}\n')
    assert _lent(settings).memory == run / ADAPTER_MEMORY
    (run / ADAPTER_MEMORY).write_text('{"id": "planted"}\n')
    with caplog.at_level(logging.WARNING, logger="secai"):
        got = _lent(settings)
    assert got.run_id == "101" and got.memory is None  # the adapter still holds; its memory does not
    assert [m for m in caplog.messages if "its earlier fixes are not used" in m]
    unrecorded = trained_run(settings, "102")
    (unrecorded / ADAPTER_MEMORY).write_text('{"id": "planted"}\n')
    assert _lent(settings).run_id == "102" and _lent(settings).memory is None


def _planted_run_json(settings):
    run = trained_run(settings, "new")
    files.write_run_meta(run, RunMeta(repo="acme/app", run_id="new", branch="main", event="workflow_run"))


def _tampered(settings):
    run = trained_run(settings, "new")
    (run / "adapter" / "adapters.safetensors").write_bytes(b"planted weights")


def _tampered_eval(settings):
    run = trained_run(settings, "new", passed=False)
    files.write_eval(run / "eval.json", _eval(passed=True))


def _no_manifest(settings):
    (trained_run(settings, "new") / "manifest.json").unlink()


REFUSED = {
    "pull request run": lambda s: trained_run(s, "new", event="pull_request", pr=3),
    "pull request run named like main": lambda s: trained_run(s, "new", event="pull_request", pr=3, branch="main"),
    "gate failed": lambda s: trained_run(s, "new", passed=False),
    "another repository": lambda s: trained_run(s, "new", repo="acme/other"),
    "another base model": lambda s: trained_run(s, "new", key="secai-test/tiny@rev2"),
    "untrusted event": lambda s: trained_run(s, "new", event="workflow_run"),
    "untrusted branch": lambda s: trained_run(s, "new", branch="feature"),
    "fork": lambda s: trained_run(s, "new", is_fork=True),
    "run.json rewritten after it was recorded": _planted_run_json,
    "adapter bytes differ from the manifest": _tampered,
    "eval.json differs from the manifest": _tampered_eval,
    "no manifest": _no_manifest,
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_newer_adapter_that_may_not_be_trusted_is_passed_over(settings, case, caplog):
    trained_run(settings, "old")
    with caplog.at_level(logging.WARNING, logger="secai"):
        REFUSED[case](settings)
        got = _lent(settings)
    assert got is not None and got.run_id == "old", case
    tampered = [r.getMessage() for r in caplog.records if "not what its" in r.getMessage()]
    if case in ("adapter bytes differ from the manifest", "eval.json differs from the manifest", "no manifest"):
        assert len(tampered) == 1 and "that run's adapter is not used" in tampered[0]
        assert "\n" not in tampered[0]
    else:
        assert not tampered


def test_a_deleted_run_folder_is_passed_over(settings):
    trained_run(settings, "old")
    shutil.rmtree(trained_run(settings, "new"))
    assert _lent(settings).run_id == "old"


# -- through the pipeline ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A small app with one bandit finding the model provider tries, and bandit's report of it."""
    root = tmp_path_factory.mktemp("borrow")
    src = root / "src"
    (src / "app").mkdir(parents=True)
    (src / "app" / "run.py").write_text(
        "import subprocess\n\n\ndef run(c):\n    return subprocess.call(c, shell=True)\n"
    )
    reports = root / "reports"
    reports.mkdir()
    from secai.scanners.registry import get_scanner

    bandit = get_scanner("bandit", load_settings(environ={})).executable()
    if bandit is None:
        pytest.fail("bandit is not installed: run `make scanners`")
    subprocess.run([str(bandit), "-q", "-r", ".", "-f", "json", "-o", str(reports / "bandit.json")], cwd=src)
    return src, reports


def _fix_stage(run: Path):
    return Manifest.load(run).stages["fix"]


def test_a_pull_request_run_fixes_with_the_trusted_runs_adapter(
    project, tiny_model, tmp_path, tmp_path_factory, monkeypatch, capsys
):
    from run_fixture import shared_adapter

    from secai.fix import run as fix_run
    from secai.model.base import resolve_model

    src, reports = project
    config = tmp_path / "secai.yaml"
    config.write_text(
        f"home: {tmp_path / 'home'}\n"
        "fix:\n  providers: [model]\n  candidates: 2\n  max_tokens: 24\n  max_model_findings: 1\n"
    )
    monkeypatch.setenv("SECAI_CONFIG", str(config))
    settings = load_settings()
    used = []
    real = fix_run.fix_findings

    def spy(*args, **kw):
        used.append(kw.get("adapter"))
        return real(*args, **kw)

    monkeypatch.setattr(fix_run, "fix_findings", spy)
    pr_run = tmp_path / "pr"
    pr_args = ["run", "--artifacts", str(reports), "--source", str(src), "--model", str(tiny_model)]
    pr_args += ["--pr", "5", "--repo-name", "acme/app", "--out", str(pr_run), "--stages", "parse,fix,report"]

    # Nothing trained yet: the base model proposes.
    assert main(pr_args) == 0
    assert _fix_stage(pr_run).note.endswith("(base model)") and used == [None]

    # A local run on main is recorded in the store; once it trained a gated adapter, PRs use it.
    main_run = tmp_path / "main"
    main_args = ["run", "--artifacts", str(reports), "--repo-name", "acme/app", "--branch", "main"]
    assert main([*main_args, "--out", str(main_run), "--stages", "parse"]) == 0
    meta = files.read_run_meta(main_run)
    assert meta.run_id and meta.run_id.startswith("local-") and meta.event == "local"
    weights = shared_adapter(tiny_model, tmp_path_factory.mktemp("adapter"))
    write_trained(main_run, key=resolve_model(str(tiny_model), settings).cache_key, weights=weights)
    before = hash_tree([main_run])

    assert main(pr_args) == 0
    note = _fix_stage(pr_run).note
    assert note.endswith(f"(tuned model from run {meta.run_id})"), note
    assert used[-1] == main_run / "adapter"
    assert hash_tree([main_run]) == before  # read in place, never written
    rows = [json.loads(line) for line in (pr_run / "fixes.jsonl").read_text().splitlines()]
    assert rows and all(r["provider"] == "model" for r in rows)

    assert main(pr_args) == 0 and len(used) == 2  # same adapter: the fix stage is up to date

    # The adapter changes behind the manifest's back: refused with a warning, the fix stage re-runs.
    (main_run / "adapter" / "adapters.safetensors").write_bytes(b"planted")
    capsys.readouterr()
    assert main(pr_args) == 0
    assert _fix_stage(pr_run).note.endswith("(base model)") and used[-1] is None
    warned = [line for line in capsys.readouterr().err.splitlines() if "not what its train stage" in line]
    assert len(warned) == 1 and "main/adapter/adapters.safetensors" in warned[0]


@pytest.mark.parametrize("earned", [True, False])
def test_a_pull_request_run_shows_verdicts_only_from_an_adapter_that_earned_them(
    settings, tiny_model, tmp_path, monkeypatch, earned
):
    from secai.findings import finding_json
    from secai.ingest.collect import collect
    from secai.model.base import resolve_model
    from secai.pipeline import Pipeline
    from secai.triage import model as triage_model
    from secai.triage.comment import read_verdicts
    from secai.triage.model import ModelVerdict
    from secai.triage.prompt import parse_verdict

    findings = collect([EXAMPLES / "artifacts" / "bandit-results"]).findings[:3]
    lender = trained_run(settings, "201", key=resolve_model(str(tiny_model), settings).cache_key, earned=earned)
    run = tmp_path / "pr"
    run.mkdir()
    (run / "findings.json").write_text(json.dumps([finding_json(f) for f in findings]))
    files.write_run_meta(run, RunMeta(repo="acme/app", run_id="9", event="pull_request", pr=7, branch="main"))
    asked = []

    def answers(resolved, facts, settings, adapter=None):
        asked.append(adapter)
        return [ModelVerdict(parse_verdict(a), a) for a in ["Verdict: false positive\nReason: test data"] * len(facts)]

    monkeypatch.setattr(triage_model, "model_verdicts", answers)
    res = Pipeline(run, settings, model=str(tiny_model), stages=["verdict", "report"], progress=False).run()
    comment = (run / "comment.md").read_text()
    verdict = res.stages[0]
    if not earned:
        assert verdict.status == "skipped" and "no triage evaluation" in verdict.note and not asked
        assert "Triage (tuned model)" not in comment
        return
    assert verdict.status == "done" and verdict.note.endswith("(tuned model from run 201)"), verdict
    assert asked == [lender / "adapter"]
    rows = read_verdicts(run)
    assert rows and {r.adapter_run for r in rows.values()} == {"201"}
    assert "🧭 Triage (tuned model): **false positive** — test data" in comment
    assert not (lender / "verdicts.jsonl").exists()
