"""eval.json's triage section: base and tuned against the per-rule majority baseline (issue 15.3)."""

from __future__ import annotations

import json

import pytest
from run_fixture import shared_adapter

from secai.config import load_settings
from secai.dataset.triage import CASES, TriageCase
from secai.model.base import resolve_model
from secai.run import files
from secai.run.records import EvalResult, FixEval, FixScore, Gate
from secai.training.triage_eval import evaluate_triage, majority_baseline, score


def _case(i: int, rule: str, verdict: str, split: str, day: int) -> TriageCase:
    return TriageCase(
        id=f"c{i}",
        split=split,
        source="code-scanning" if i % 2 else "inline-marker",
        date=f"2025-04-{day:02d}T09:00:00Z",
        tool="bandit",
        rule_id=rule,
        title=f"{rule} finding",
        message="Possible hardcoded password" if rule == "B105" else "subprocess call",
        path="app/x.py",
        line=3 + i,
        window=f'x = "{i}"',
        window_start=3 + i,
        verdict=verdict,
        reason="team decision",
    )


def _write(tmp_path, cases):
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / CASES).write_text("".join(c.model_dump_json() + "\n" for c in cases))
    return ds


RULES = {"B105": "false positive", "B603": "true positive", "B404": "accepted risk"}


def _by_rule(n_train: int = 12, n_test: int = 6) -> list[TriageCase]:
    """Labels that follow the rule exactly: each rule always gets the same verdict."""
    rules = list(RULES)
    out = [_case(i, rules[i % 3], RULES[rules[i % 3]], "train", 1 + i) for i in range(n_train)]
    out += [_case(100 + i, rules[i % 3], RULES[rules[i % 3]], "test", 20 + i) for i in range(n_test)]
    return out


def test_metrics_count_abstentions_as_wrong():
    cases = [
        _case(i, "B105", v, "test", 1)
        for i, v in enumerate(["false positive", "true positive", "true positive", "accepted risk"])
    ]
    s = score(cases, ["false positive", "false positive", None, "accepted risk"])
    assert (s.n, s.correct, s.abstained) == (4, 2, 1)
    assert s.accuracy == 0.5 and s.coverage == 0.75
    assert s.fp_precision == 0.5  # two false-positive calls, one right
    assert s.tp_recall == 0.0  # two true positives, neither called
    none = score(cases[:1], [None])
    assert none.fp_precision is None and none.tp_recall is None and none.coverage == 0.0


def test_the_baseline_is_the_rules_majority_and_the_overall_majority_for_unseen_rules():
    train = [
        _case(1, "B105", "false positive", "train", 1),
        _case(2, "B105", "false positive", "train", 2),
        _case(3, "B105", "true positive", "train", 3),
        _case(4, "B603", "true positive", "train", 4),
        _case(5, "B603", "accepted risk", "train", 5),  # a tie: the later decision
        _case(6, "B404", "false positive", "train", 6),
    ]
    predict = majority_baseline(train)
    assert predict(_case(9, "B105", "true positive", "test", 9)) == "false positive"
    assert predict(_case(9, "B603", "true positive", "test", 9)) == "accepted risk"
    assert predict(_case(9, "B999", "true positive", "test", 9)) == "false positive"  # 3 of 6 overall
    assert majority_baseline([])(_case(9, "B105", "true positive", "test", 9)) is None


def test_labels_that_follow_the_rule_make_the_baseline_perfect_and_nothing_is_earned(
    tiny_model, tmp_path, tmp_path_factory
):
    """The issue's evaluation test, with real greedy answers of the tiny model and a real adapter."""
    settings = load_settings(overrides={"verdict": {"min_cases": 1}})
    ds = _write(tmp_path, _by_rule())
    adapter = shared_adapter(tiny_model, tmp_path_factory.mktemp("adapter"))
    tr = evaluate_triage(ds, adapter, resolve_model(str(tiny_model), settings), settings)
    assert tr.n == tr.cases == 6 and tr.train_labels == 12
    assert tr.baseline.accuracy == 1.0 and tr.baseline.coverage == 1.0
    assert tr.tuned.n == tr.base.n == 6
    assert not tr.earned and "does not beat the per-rule baseline" in tr.reason
    assert tr.labels_by_source == {"code-scanning": 9, "inline-marker": 9}
    assert tr.labels_by_verdict == {"accepted risk": 6, "false positive": 6, "true positive": 6}
    assert len(tr.examples) == 6 and all("tuned_answer" in e and "base_answer" in e for e in tr.examples)
    # a model that matches the baseline exactly ties it: still not earned
    perfect = evaluate_triage(ds, adapter, None, settings, predict=lambda cs, a: [c.verdict for c in cs])
    assert perfect.tuned.accuracy == perfect.baseline.accuracy == 1.0 and not perfect.earned


def test_a_tuned_model_that_beats_the_baseline_on_enough_cases_earns_its_verdicts(tmp_path):
    cases = _by_rule(n_train=9, n_test=0)
    # the team changed its mind about B603: the newest ones are accepted risks
    cases += [_case(200 + i, "B603", "accepted risk", "test", 25 + i) for i in range(8)]
    cases += [_case(300 + i, "B105", "false positive", "test", 25 + i) for i in range(4)]
    ds = _write(tmp_path, cases)
    settings = load_settings()

    def tuned_is_right(cs, adapter):
        return [c.verdict if adapter else None for c in cs]

    tr = evaluate_triage(ds, "adapter", None, settings, predict=tuned_is_right)
    assert tr.baseline.accuracy == round(4 / 12, 4) and tr.tuned.accuracy == 1.0 and tr.base.coverage == 0.0
    assert tr.earned and "beats the per-rule baseline" in tr.reason
    settings.verdict.min_cases = 13
    few = evaluate_triage(ds, "adapter", None, settings, predict=tuned_is_right)
    assert not few.earned and "fewer than verdict.min_cases (13)" in few.reason
    settings.verdict.max_cases = 5
    capped = evaluate_triage(ds, "adapter", None, settings, predict=tuned_is_right)
    assert capped.n == 5 and capped.cases == 12
    assert {e["id"] for e in capped.examples} <= {f"c{200 + i}" for i in range(3, 8)} | {
        f"c{300 + i}" for i in range(4)
    }


def test_no_held_out_labels_no_section(tmp_path):
    ds = _write(tmp_path, _by_rule(n_test=0))
    assert evaluate_triage(ds, None, None, load_settings(), predict=lambda cs, a: []) is None


def _fix_eval() -> FixEval:
    s = FixScore(n=1, proposed=1, verified=0, verified_rate=0.0, verified_rate_at_1=0.0)
    return FixEval(k=4, cases=1, base=s, tuned=s, deterministic=s)


@pytest.mark.parametrize("with_triage", [False, True])
def test_eval_json_with_or_without_a_triage_section_loads(tmp_path, with_triage):
    settings = load_settings()
    result = EvalResult(fix=_fix_eval(), gate=Gate(enabled=True, passed=False, margin=0.0, required_margin=0.1))
    data = result.model_dump(mode="json")
    if with_triage:
        ds = _write(tmp_path, _by_rule())
        result.triage = evaluate_triage(ds, "a", None, settings, predict=lambda cs, a: [c.verdict for c in cs])
        data = result.model_dump(mode="json")
    else:
        del data["triage"]  # an eval.json written before the triage section existed
    (tmp_path / "eval.json").write_text(json.dumps(data))
    back = files.read_eval(tmp_path)
    assert back is not None and back.fix.k == 4
    assert (back.triage is not None) is with_triage
    if with_triage:
        assert back.triage == result.triage


def test_one_case_better_than_a_near_perfect_baseline_is_noise_not_earned():
    from secai.run.records import TriageScore
    from secai.training.triage_eval import decide_earned

    def score(correct, n=48):
        return TriageScore(n=n, correct=correct, abstained=0, accuracy=round(correct / n, 4), coverage=1.0)

    # the demo's first triage evaluation: baseline 47 of 48, tuned 48 of 48 (all "true positive")
    earned, why = decide_earned(score(48), score(47), min_cases=10, margin=0.05)
    assert not earned and "by verdict.margin (0.05)" in why
    assert decide_earned(score(44), score(40), min_cases=10, margin=0.05)[0]
