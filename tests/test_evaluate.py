"""The gate and the rejection kinds of the fix evaluation (the evaluation itself, with the real
scanner, is in test_fix_dataset.py)."""

from __future__ import annotations

import pytest

from secai.config import load_settings
from secai.run.records import EvalResult, FixEval, FixScore, Tally
from secai.training.evaluate import decide_gate, print_table, reason_kind


def _score(verified: int, n: int = 10) -> FixScore:
    return FixScore(
        n=n,
        proposed=n,
        verified=verified,
        verified_rate=verified / n if n else 0.0,
        verified_rate_at_1=verified / n / 2 if n else 0.0,
        by_tool={"bandit": Tally(n=n, verified=verified)},
    )


@pytest.mark.parametrize(
    "base, tuned, margin, passed, why",
    [
        (1, 6, 0.1, True, "gains +0.50"),
        (3, 4, 0.1, True, "gains +0.10"),
        (3, 3, 0.1, False, "less than evaluate.margin"),
        (5, 4, 0.0, False, "fewer fixes than the base model"),
        (0, 0, 0.0, True, "gains +0.00"),
    ],
)
def test_the_gate_needs_the_margin_and_never_a_loss(base, tuned, margin, passed, why):
    settings = load_settings(overrides={"evaluate": {"margin": margin}})
    gate = decide_gate(_score(base), _score(tuned), settings)
    assert gate.passed is passed and why in gate.reason
    assert gate.margin == round((tuned - base) / 10, 4)


def test_nothing_scored_never_passes_and_a_disabled_gate_reports_only():
    settings = load_settings(overrides={"evaluate": {"margin": 0.0}})
    assert not decide_gate(_score(0, n=0), _score(0, n=0), settings).passed
    off = load_settings(overrides={"evaluate": {"gate": False}})
    gate = decide_gate(_score(5), _score(1), off)
    assert gate.passed and not gate.enabled and "fewer fixes" in gate.reason


@pytest.mark.parametrize(
    "reason, kind",
    [
        ("4 candidates, none verified; first: bandit still reports B506 at line 3", "finding still reported"),
        (
            "4 candidates, none verified; first: introduces a new finding: bandit B603 at line 9",
            "introduces a new finding",
        ),
        ("adds a suppression marker (nosec)", "adds a suppression"),
        ("the patched file no longer parses: line 3: invalid syntax", "file no longer parses"),
        (
            "4 answers, none with a usable edit (most often: no ```before/```after blocks in the answer)",
            "malformed answer",
        ),
        ("only a ```after block; a before and an after block expected", "malformed answer"),
        ("the before text matches 2 times in the named lines", "edit does not apply"),
        ("bandit run here does not report B101 at a.py:3 on the original file", "not reproduced on the original file"),
        ("something new", "other"),
    ],
)
def test_rejection_reasons_are_grouped_by_kind(reason, kind):
    assert reason_kind(reason) == kind


def test_the_table_names_each_fixer_and_the_gate(capsys):
    fix = FixEval(k=4, cases=10, base=_score(1), tuned=_score(6), deterministic=_score(2))
    settings = load_settings()
    print_table(EvalResult(fix=fix, gate=decide_gate(fix.base, fix.tuned, settings)))
    out = capsys.readouterr().out
    assert "deterministic" in out and "6/10" in out and "gate: PASSED" in out


def test_one_case_per_fix_when_several_scanners_reported_the_same_edit():
    from collections import Counter

    from secai.dataset.fixes import FixCase
    from secai.training.evaluate import _one_per_fix

    def case(i, tool, commit="c1", replace="safe_load(d)"):
        return FixCase(
            id=str(i),
            source="history",
            commit=commit,
            tool=tool,
            rule_id="r",
            path="a.py",
            line=3,
            end_line=3,
            search="load(d)",
            replace=replace,
        )

    cases = [case(1, "bandit"), case(2, "semgrep"), case(3, "bandit", commit="c2"), case(4, "x", replace="other")]
    unscored: Counter[str] = Counter()
    assert [c.id for c in _one_per_fix(cases, unscored)] == ["1", "3", "4"]
    assert unscored == {"the same fix as another held-out case": 1}
