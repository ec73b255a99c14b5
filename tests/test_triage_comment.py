"""The PR comment shows a verdict only when it is earned (issue 15.4): the tuned model's verdict and
reason after it beat the per-rule baseline, else the rule's history from the team's labels, else
nothing; and the pipeline's verdict stage that writes verdicts.jsonl."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from secai.config import load_settings
from secai.findings import finding_json
from secai.ingest.collect import collect
from secai.report.build import write_reports
from secai.report.escape import md_inline
from secai.run import files
from secai.run.folder import Manifest
from secai.run.meta import RunMeta
from secai.run.records import EvalResult, FixEval, FixScore, Gate, TriageEval, TriageScore
from secai.triage.comment import VerdictRecord, history_sentence, read_verdicts, write_verdicts
from secai.triage.labels import Label, write_labels

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PING = re.compile(r"(?<![A-Za-z0-9_\u200d])@[A-Za-z0-9]")
HOSTILE = (
    "<img src=x onerror=alert(1)> @octocat see #12 [click](javascript:alert(1)) <!-- secai-report --> "
    "| x | ``` ghp_abcdefghijklmnopqrstuvwxyz0123456789"
)


@pytest.fixture(scope="module")
def findings():
    """Real bandit findings of examples/vulnerable-app: 16 of three rules, all listed in a comment."""
    return [
        f
        for f in collect([EXAMPLES / "artifacts" / "bandit-results"]).findings
        if f.rule_id in ("B105", "B602", "B603")
    ]


def _label(i: int, rule: str, verdict: str, **kw) -> Label:
    return Label(
        fingerprint=f"old-{rule}-{i}",
        tool="bandit",
        rule_id=rule,
        verdict=verdict,
        source="code-scanning",
        date=f"2025-01-{1 + i:02d}",
        **kw,
    )


def _score(acc: float, n: int = 12) -> TriageScore:
    return TriageScore(n=n, correct=round(acc * n), accuracy=acc, coverage=1.0)


def _eval(earned: bool, tuned: float = 0.9, baseline: float = 0.5) -> EvalResult:
    s = FixScore(n=1, proposed=1, verified=0, verified_rate=0.0, verified_rate_at_1=0.0)
    return EvalResult(
        fix=FixEval(k=4, cases=1, base=s, tuned=s, deterministic=s),
        gate=Gate(enabled=True, passed=True, margin=0.0, required_margin=0.0),
        triage=TriageEval(
            cases=12,
            n=12,
            train_labels=40,
            base=_score(0.25),
            tuned=_score(tuned),
            baseline=_score(baseline),
            earned=earned,
            min_cases=10,
            reason="the tuned model's accuracy does not beat the per-rule baseline's" if not earned else "beats",
        ),
    )


def _run(tmp_path, findings, *, labels=(), ev=None, verdicts=()):
    run = tmp_path / "run"
    run.mkdir()
    (run / "findings.json").write_text(json.dumps([finding_json(f) for f in findings]))
    files.write_run_meta(run, RunMeta(repo="acme/app", event="pull_request", pr=7))
    write_labels(run, list(labels))
    if ev is not None:
        files.write_eval(run / "eval.json", ev)
    write_verdicts(run, list(verdicts))
    return run


def _entries(comment: str, rule: str) -> list[str]:
    """The comment's blocks of the entries for `rule`."""
    blocks = re.split(r"\n(?=\*\*\d+\.\*\* )", comment.split("### Fix evaluation")[0])
    return [b for b in blocks if f"`{rule}`" in b.split("\n")[0]]


def _entry(comment: str, rule: str) -> str:
    """The block of the comment's entry for `rule` with a triage line, else its first one."""
    blocks = _entries(comment, rule)
    return next((b for b in blocks if "🧭" in b), blocks[0])


def test_history_sentences_are_counted_and_plural_correct():
    labels = [_label(i, "B105", "false positive") for i in range(3)] + [_label(3, "B105", "true positive")]
    assert (
        history_sentence(labels, "bandit", "B105")
        == "3 of 4 earlier B105 findings here were dismissed as false positive."
    )
    assert (
        history_sentence(labels[:2], "bandit", "B105")
        == "All 2 earlier B105 findings here were dismissed as false positive."
    )
    assert (
        history_sentence(labels[3:], "bandit", "B105")
        == "The one earlier B105 finding here was fixed or confirmed as real."
    )
    # the finding's own label is not its history; another tool's rule of the same name is not either
    assert history_sentence(labels, "bandit", "B105", exclude={"old-B105-3"}).startswith("All 3 earlier")
    assert history_sentence(labels, "semgrep", "B105") == ""
    # a tie goes to the latest decision
    tie = [_label(1, "B603", "accepted risk"), _label(2, "B603", "true positive")]
    assert (
        history_sentence(tie, "bandit", "B603") == "1 of 2 earlier B603 findings here were fixed or confirmed as real."
    )


def test_not_earned_the_comment_states_the_rules_history_or_nothing(findings, tmp_path):
    b105 = next(f for f in findings if f.rule_id == "B105")
    labels = [_label(i, "B105", "false positive") for i in range(3)] + [_label(3, "B105", "true positive")]
    stale = VerdictRecord(
        fingerprint=b105.fingerprint, tool="bandit", rule_id="B105", verdict="true positive", reason="model says so"
    )
    run = _run(tmp_path, findings, labels=labels, ev=_eval(earned=False), verdicts=[stale])
    comment, summary = write_reports(run, load_settings())
    block = _entry(comment, "B105")
    assert "📜 " + md_inline("3 of 4 earlier B105 findings here were dismissed as false positive.") in block
    assert "model says so" not in comment and "Triage (tuned model)" not in comment
    assert "📜" not in _entry(comment, "B603")  # no labels for that rule: nothing
    assert "Verdicts not shown: the tuned model" in comment
    assert re.search(r"\| accuracy \| 0\.50 \| 0\.25 \| 0\.90 \|", comment)
    assert "triage verdicts of a model" not in comment
    assert "📜 3 of 4 earlier B105" in summary


def test_earned_the_comment_shows_the_tuned_verdict_escaped(findings, tmp_path):
    b105 = next(f for f in findings if f.rule_id == "B105")
    labels = [_label(i, "B105", "true positive") for i in range(2)]
    hostile = VerdictRecord(
        fingerprint=b105.fingerprint, tool="bandit", rule_id="B105", verdict="false positive", reason=HOSTILE
    )
    run = _run(tmp_path, findings, labels=labels, ev=_eval(earned=True), verdicts=[hostile])
    comment, _ = write_reports(run, load_settings())
    block = _entry(comment, "B105")
    assert "🧭 Triage (tuned model): **false positive** — " in block
    assert "📜" not in block  # the earned verdict replaces the history sentence
    assert "<img" not in comment and "&lt;img" in block
    assert comment.count("<!--") == 1  # only secai's own marker
    assert not PING.search(comment) and "#\u200d12" in block
    assert "](javascript" not in comment
    assert "ghp_" not in comment
    assert "Verdicts shown: the tuned model beat the per-rule baseline." in comment
    assert "triage verdicts of a model that beat the per-rule baseline" in comment
    # entries the model gave no verdict for still get the rule's history when there is one
    others = [b for b in _entries(comment, "B105") if "Triage (tuned model)" not in b]
    assert len(others) == len(_entries(comment, "B105")) - 1 >= 1
    said = md_inline("All 2 earlier B105 findings here were fixed or confirmed as real.")
    assert all(f"📜 {said}" in b for b in others)


def test_labels_that_follow_the_rule_fall_back_to_the_history_sentence(findings, tmp_path):
    """The issue's evaluation test through to the comment: a model that matches the per-rule
    baseline exactly ties it, so its verdicts are not shown; the rule's history is."""
    from secai.dataset.build import build_dataset
    from secai.dataset.triage import triage_cases
    from secai.training.triage_eval import evaluate_triage

    settings = load_settings(overrides={"verdict": {"min_cases": 1}})
    rules = {"B105": "false positive", "B603": "true positive", "B602": "accepted risk"}
    labels = [
        Label(
            fingerprint=f.fingerprint,
            tool="bandit",
            rule_id=f.rule_id,
            path=f.location.path,
            line=f.location.start_line,
            verdict=rules[f.rule_id],
            source="inline-marker",
            date=f"2025-02-{1 + i:02d}",
        )
        for i, f in enumerate(f for f in findings if f.rule_id in rules)
    ]
    cases, _ = triage_cases(labels, findings, [], settings)
    build_dataset([], tmp_path / "ds", settings, run_meta=RunMeta(event="push", branch="main"), triage=cases)
    tr = evaluate_triage(tmp_path / "ds", "adapter", None, settings, predict=lambda cs, a: [c.verdict for c in cs])
    assert tr.baseline.accuracy == tr.tuned.accuracy == 1.0 and not tr.earned
    ev = _eval(earned=False)
    ev.triage = tr
    b105 = next(f for f in findings if f.rule_id == "B105")
    v = VerdictRecord(fingerprint=b105.fingerprint, tool="bandit", rule_id="B105", verdict="false positive", reason="r")
    run = _run(tmp_path, findings, labels=labels[:5], ev=ev, verdicts=[v])
    comment, _ = write_reports(run, load_settings())
    assert "Triage (tuned model)" not in comment
    assert re.search(r"📜 (All \d+|The one) earlier B\d+ findings? here (were|was) ", comment)


def _mark_done(run: Path, stage: str, outputs: list[str]) -> None:
    m = Manifest.load(run)
    m.record(run, stage, "test", outputs, "done", time.time())


def test_the_verdict_stage_runs_only_when_earned(findings, tmp_path, tiny_model, tmp_path_factory, monkeypatch):
    from run_fixture import shared_adapter

    from secai.pipeline import Pipeline
    from secai.triage import model as triage_model
    from secai.triage.model import ModelVerdict
    from secai.triage.prompt import parse_verdict

    settings = load_settings(overrides={"verdict": {"max_comment": 3}})
    adapter = shared_adapter(tiny_model, tmp_path_factory.mktemp("adapter"))
    b105 = next(f for f in findings if f.rule_id == "B105")
    stale = VerdictRecord(fingerprint=b105.fingerprint, tool="bandit", rule_id="B105", verdict="true positive")
    run = _run(tmp_path, findings, ev=_eval(earned=False), verdicts=[stale])
    _mark_done(run, "evaluate", ["eval.json"])
    (run / "adapter").mkdir()
    for name in ("adapters.safetensors", "adapter_config.json"):
        (run / "adapter" / name).write_bytes((adapter / name).read_bytes())

    res = Pipeline(run, settings, model=str(tiny_model), stages=["verdict"], progress=False).run()
    assert res.stages[0].status == "skipped" and "not earned" in res.stages[0].note
    assert not (run / "verdicts.jsonl").exists()  # an earlier run's verdicts are gone

    files.write_eval(run / "eval.json", _eval(earned=True))
    _mark_done(run, "evaluate", ["eval.json"])
    asked = []

    def answers(resolved, facts, settings, adapter=None):
        asked.append((facts, adapter))
        return [
            ModelVerdict(parse_verdict(a), a)
            for a in [
                "Verdict: false positive\nReason: " + HOSTILE,
                "no idea",
                "Verdict: true positive\nReason: shell=True",
            ]
        ][: len(facts)]

    monkeypatch.setattr(triage_model, "model_verdicts", answers)
    res = Pipeline(run, settings, model=str(tiny_model), stages=["verdict"], progress=False).run()
    assert res.stages[0].status == "done", res.stages
    ((facts, used),) = asked
    assert len(facts) == 3 and Path(used) == run / "adapter"
    assert all(f.window for f in facts if f.rule_id != "B105")  # code windows from the report snippets
    got = read_verdicts(run)
    assert len(got) == 2  # the abstention is not stored
    first = got[next(iter(got))]
    assert first.verdict == "false positive" and "ghp_" not in first.reason and "[REDACTED:" in first.reason


def test_the_verdict_stage_with_the_real_tiny_model(findings, tmp_path, tiny_model, tmp_path_factory):
    """Real greedy answers from base + adapter: whatever they are, only parsed verdicts are stored."""
    from run_fixture import shared_adapter

    from secai.pipeline import Pipeline

    settings = load_settings(overrides={"verdict": {"max_comment": 2, "max_tokens": 16}})
    adapter = shared_adapter(tiny_model, tmp_path_factory.mktemp("adapter"))
    run = _run(tmp_path, findings[:4], ev=_eval(earned=True))
    _mark_done(run, "evaluate", ["eval.json"])
    (run / "adapter").mkdir()
    for name in ("adapters.safetensors", "adapter_config.json"):
        (run / "adapter" / name).write_bytes((adapter / name).read_bytes())
    res = Pipeline(run, settings, model=str(tiny_model), stages=["verdict"], progress=False).run()
    assert res.stages[0].status == "done", res.stages
    rows = (run / "verdicts.jsonl").read_text().splitlines()
    assert (
        res.stages[0].note == f"{len(rows)} verdicts"
        and len(rows) <= 2
        and all(VerdictRecord.model_validate_json(r) for r in rows)
    )
