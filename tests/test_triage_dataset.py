"""Triage examples from labels.jsonl: the label is the answer, the real finding and its code the
prompt; splits by time; the evaluation against the per-rule majority baseline (issue 15.3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secai.config import load_settings
from secai.dataset.build import build_dataset, read_split, read_triage_cases
from secai.dataset.triage import neutral_reason, triage_cases
from secai.ingest.collect import collect
from secai.ingest.redact import redact_code
from secai.run.meta import RunMeta
from secai.triage.labels import Label, read_labels, write_labels
from secai.triage.prompt import answer_complete, format_verdict_answer, parse_verdict

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
APP = EXAMPLES / "vulnerable-app"
TRUSTED = RunMeta(event="push", branch="main")
#: The team's decision per rule in these tests (a team that is perfectly consistent by rule).
BY_RULE = {"B105": "false positive", "B603": "true positive", "B404": "accepted risk", "B602": "true positive"}


@pytest.fixture(scope="module")
def findings():
    res = collect([EXAMPLES / "artifacts" / "bandit-results", EXAMPLES / "artifacts" / "checkov-results"])
    return res.findings


def _read(path: str) -> str | None:
    p = APP / path
    return p.read_text(encoding="utf-8") if p.is_file() else None


def _labels(findings, rules=BY_RULE, days=None) -> list[Label]:
    """One label per bandit finding of the given rules, a day apart in report order."""
    out = []
    chosen = [f for f in findings if f.tool == "bandit" and f.rule_id in rules]
    for i, f in enumerate(chosen):
        out.append(
            Label(
                fingerprint=f.fingerprint,
                tool=f.tool,
                rule_id=f.rule_id,
                path=f.location.path,
                line=f.location.start_line,
                verdict=rules[f.rule_id],
                reason="" if i % 3 else f"decided for {f.rule_id}",
                source="code-scanning",
                origin=f"alert {i + 1}",
                date=f"2025-03-{1 + (i if days is None else days[i]):02d}T10:00:00Z",
            )
        )
    return out


def test_each_label_becomes_a_chat_example_with_the_code_and_the_team_answer(findings, tmp_path):
    settings = load_settings()
    labels = _labels(findings)
    write_labels(tmp_path, labels)
    assert read_labels(tmp_path) == labels
    cases, skipped = triage_cases(read_labels(tmp_path), findings, [], settings, _read)
    assert len(cases) == len(labels) and not skipped  # unlabelled findings are no targets
    by_id = {c.id: c for c in cases}
    for lb in labels:
        c = by_id[lb.fingerprint]
        assert c.verdict == lb.verdict and (c.rule_id, c.path, c.line) == (lb.rule_id, lb.path, lb.line)
        assert c.reason == (lb.reason or neutral_reason(lb))
        # the window holds the finding's own line from the source tree
        source_line = (APP / c.path).read_text().split("\n")[c.line - 1]
        if redact_code((APP / c.path).read_text()) == (APP / c.path).read_text():
            assert source_line in c.window
        else:  # a file with secret-looking values: the report's redacted snippet instead
            assert source_line.split("=")[0] in c.window and "[REDACTED:" in c.window
        shown = c.window.split("\n")
        assert c.window_start <= c.line < c.window_start + len(shown)
        source_line = shown[c.line - c.window_start]
        msgs = c.messages()
        assert msgs[-1]["content"] == format_verdict_answer(lb.verdict, c.reason)
        assert f"rule: {lb.rule_id}" in msgs[1]["content"] and f"{c.line} | {source_line}" in msgs[1]["content"]
    neutral = [c for c in cases if not c.reason.startswith("decided")]
    assert neutral and all(c.reason.startswith(("dismissed in code scanning", "fixed after")) for c in neutral)


def test_split_by_time_undated_labels_train_and_the_rows_join_the_fix_examples(findings, tmp_path):
    settings = load_settings(overrides={"dataset": {"triage_min": 100}})  # no cap here: see the balance test
    labels = _labels(findings)
    labels[0].date = ""  # undated: always train
    labels[1].date = "not a date"
    cases, _ = triage_cases(labels, findings, [], settings, _read)
    res = build_dataset([], tmp_path / "ds", settings, run_meta=TRUSTED, triage=cases)
    kept = read_triage_cases(tmp_path / "ds")
    by_split = {s: [c for c in kept if c.split == s] for s in ("train", "valid", "test")}
    dated = len(labels) - 2
    assert len(by_split["test"]) == round(dated * settings.dataset.test_fraction) > 0
    assert len(by_split["valid"]) == round(dated * settings.dataset.valid_fraction)
    assert {labels[0].fingerprint, labels[1].fingerprint} <= {c.id for c in by_split["train"]}
    newest_train = max(c.date for c in by_split["train"] if c.date.startswith("2025"))
    assert newest_train < min(c.date for c in by_split["valid"]) <= max(c.date for c in by_split["valid"])
    assert max(c.date for c in by_split["valid"]) < min(c.date for c in by_split["test"])
    # train/valid rows are chat examples next to the fix examples; held-out ones only in triage_cases.jsonl
    assert res.counts == {"train": len(by_split["train"]), "valid": len(by_split["valid"]), "test": 0}
    train_rows = read_split(tmp_path / "ds", "train")
    assert all(r["messages"][-1]["content"].startswith("Verdict: ") for r in train_rows)
    assert read_split(tmp_path / "ds", "test") == []
    stats = json.loads((tmp_path / "ds" / "stats.json").read_text())
    assert stats["task"] == "fix+triage"
    assert stats["triage"]["by_source"] == {"code-scanning": len(labels)}
    expected = {}
    for lb in labels:
        expected[lb.verdict] = expected.get(lb.verdict, 0) + 1
    assert stats["triage"]["by_verdict"] == dict(sorted(expected.items()))
    card = (tmp_path / "ds" / "README.md").read_text()
    assert "## Triage labels" in card and "| code-scanning | " in card


def test_untrusted_runs_give_no_triage_rows(findings, tmp_path):
    settings = load_settings()
    cases, _ = triage_cases(_labels(findings), findings, [], settings, _read)
    res = build_dataset([], tmp_path / "ds", settings, run_meta=RunMeta(event="pull_request", pr=3), triage=cases)
    assert res.counts == {"train": 0, "valid": 0, "test": 0} and read_triage_cases(tmp_path / "ds") == []
    assert res.excluded["untrusted run"] == len(cases)


def test_reasons_are_redacted_and_markers_leave_the_window(findings):
    settings = load_settings()
    skip = next(f for f in findings if f.rule_id == "CKV_AWS_144")
    fp = next(f for f in findings if f.rule_id == "B105")
    labels = [
        Label(
            fingerprint=skip.fingerprint,
            tool="checkov",
            rule_id="CKV_AWS_144",
            verdict="accepted risk",
            reason="copied to the DR region by AWS Backup",
            source="checkov-skip",
        ),
        Label(
            fingerprint=fp.fingerprint,
            tool="bandit",
            rule_id="B105",
            verdict="false positive",
            reason="only in tests; token ghp_abcdefghijklmnopqrstuvwxyz0123456789 is revoked",
            source="sarif-suppression",
        ),
    ]
    cases, _ = triage_cases(labels, findings, [], settings, _read)
    fp_case, skip_case = sorted(cases, key=lambda c: c.tool)
    # storage.tf line 34 holds `#checkov:skip=CKV_AWS_144:...`, inside the window: it is removed
    assert "checkov:skip" in (APP / "terraform/storage.tf").read_text().split("\n")[33]
    assert "resource" in skip_case.window and "checkov:skip" not in skip_case.window
    assert "checkov:skip" not in skip_case.messages()[1]["content"]
    assert "ghp_" not in fp_case.reason and "[REDACTED:" in fp_case.reason
    assert "ghp_" not in fp_case.messages()[-1]["content"]


def test_the_latest_label_of_a_finding_wins(findings):
    settings = load_settings()
    f = next(f for f in findings if f.rule_id == "B603")
    old = Label(
        fingerprint=f.fingerprint,
        tool="bandit",
        rule_id="B603",
        verdict="accepted risk",
        source="inline-marker",
        date="2025-01-01",
    )
    new = old.model_copy(update={"verdict": "true positive", "source": "history", "date": "2025-02-01"})
    cases, _ = triage_cases([new, old], findings, [], settings, _read)
    assert [c.verdict for c in cases] == ["true positive"]


@pytest.mark.parametrize(
    "answer, verdict, reason",
    [
        ("Verdict: false positive\nReason: only used in tests\n", "false positive", "only used in tests"),
        (
            "**Verdict:** True-Positive.\n**Reason:** user input reaches the shell",
            "true positive",
            "user input reaches the shell",
        ),
        ("verdict: accepted risk", "accepted risk", ""),
        ("Verdict: probably a false positive\nReason: x", None, ""),
        ("Verdict: needs review\nReason: unsure", None, ""),
        ("The code is vulnerable to a Zero-Knowledge Fallacy.", None, ""),
        ("", None, ""),
    ],
)
def test_verdict_parsing_abstains_on_anything_else(answer, verdict, reason):
    got = parse_verdict(answer)
    assert got.verdict == verdict
    if verdict:
        assert got.reason == reason


def test_an_answer_is_complete_after_its_reason_line():
    assert not answer_complete("Verdict: false positive\nReason: only in te")
    assert answer_complete("Verdict: false positive\nReason: only in tests\n")
    assert parse_verdict(format_verdict_answer("accepted risk", "a   b\nc")).reason == "a b c"


def test_a_label_of_a_mined_fix_takes_the_events_facts_and_window():
    from secai.history.events import MinedEvent

    before = "import subprocess\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)  # nosec B602\n"
    e = MinedEvent(
        kind="fixed",
        commit="c0ffee",
        date="2025-05-01T00:00:00Z",
        tool="bandit",
        rule_id="B602",
        title="subprocess call with shell=True identified",
        message="shell=True",
        path="app/run.py",
        line=14,
        before=before,
        before_start=11,
    ).with_id()
    label = Label(
        fingerprint=f"event:{e.id}",
        tool="bandit",
        rule_id="B602",
        verdict="true positive",
        source="history",
        date=e.date,
    )
    (case,), _ = triage_cases([label], [], [e], load_settings())
    assert case.title == e.title and case.path == "app/run.py" and case.line == 14
    assert case.window_start == 11 and "subprocess.call(cmd, shell=True)" in case.window
    assert "nosec" not in case.window and case.reason == "the team fixes findings like this one"


def test_triage_training_rows_are_balanced_and_capped():
    from collections import Counter

    from secai.dataset.build import balance_triage, triage_cap
    from secai.dataset.triage import TriageCase

    def case(i, rule, verdict):
        return TriageCase(
            id=str(i),
            source="history",
            date=f"2026-01-{1 + i % 28:02d}",
            tool="bandit",
            rule_id=rule,
            verdict=verdict,
            reason="r",
        )

    # 90 "fixed" true positives of 3 rules, 6 false positives of one rule, 2 accepted risks
    cases = [case(i, f"B{100 + i % 3}", "true positive") for i in range(90)]
    cases += [case(100 + i, "B105", "false positive") for i in range(6)]
    cases += [case(200 + i, "B101", "accepted risk") for i in range(2)]
    kept = balance_triage(cases, 20)
    assert len(kept) == 20 and len({c.id for c in kept}) == 20
    verdicts = Counter(c.verdict for c in kept)
    assert verdicts == {"true positive": 12, "false positive": 6, "accepted risk": 2}  # rare ones all in
    assert set(Counter(c.rule_id for c in kept if c.verdict == "true positive").values()) == {4}  # rules in turn
    assert balance_triage(cases[:5], 20) == cases[:5]
    settings = load_settings(environ={})
    assert triage_cap(0, settings) == 16 and triage_cap(200, settings) == 50
