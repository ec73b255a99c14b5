"""Fix examples from a mined history, split by time, and the evaluation of fixers on the held-out
fixes, on a small generated repository with the real bandit.

The repository (tests/fix_history.py) has the same kind of fix made at several sites over time
(yaml.load -> yaml.safe_load, a request without a timeout, MD5 -> SHA-256), so the latest fixes
are held out. The evaluation test swaps the model's sampling for fixed answers (the reference fix
for "tuned", junk for "base") and lets the real bandit judge them.
"""

from __future__ import annotations

import json

import pytest
from fix_history import SITES, make_fix_repo
from run_fixture import shared_adapter

from secai.config import load_settings
from secai.dataset.build import build_dataset, read_cases, read_split
from secai.dataset.fixes import history_examples, target_span
from secai.fix.prompt import FixFacts, edit_from_answer, parse_fix_answer, render_fix_prompt
from secai.history.mine import mine
from secai.run.meta import RunMeta
from secai.scanners.bandit import Bandit


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fixds")
    settings = load_settings(environ={"SECAI_HOME": str(tmp / "home")})
    if not Bandit(settings).available():
        pytest.skip("bandit is not installed")
    repo = make_fix_repo(tmp)
    result = mine(repo.path, settings, [Bandit(settings)])
    return repo, settings, result


def test_every_history_fix_becomes_the_prompt_the_fix_stage_sends(mined):
    repo, settings, result = mined
    fixed = [e for e in result.events if e.kind == "fixed"]
    assert len(fixed) >= len(SITES)
    examples, skipped = history_examples(result.events, str(repo.path), settings)
    assert len(examples) == len(fixed) and not skipped
    for ex in examples:
        case = ex.case
        before = repo.git("cat-file", "-p", f"{case.commit}~1:{case.path}") + "\n"
        lines = before.split("\n")
        start, end = target_span(case.path, before, case.line, case.end_line, settings)
        assert (ex.start, ex.end) == (start, end)
        facts = FixFacts(case.tool, case.rule_id, case.title, case.cwe, case.message, case.path)
        want = render_fix_prompt(facts, lines, start, end, settings.fix.context_lines)
        assert ex.messages[:2] == want
        # The answer, read back the way the model's answers are, turns the file into the fixed one.
        edit = edit_from_answer(parse_fix_answer(ex.messages[2]["content"]), lines, ex.start, ex.end)
        after = repo.git("cat-file", "-p", f"{case.commit}:{case.path}") + "\n"
        fixed_lines = lines[: edit.start - 1] + edit.new + lines[edit.end :]
        assert "\n".join(fixed_lines) == after
        assert ex.messages[2]["content"].rstrip().endswith(case.rationale)


def test_split_by_time_with_no_commit_in_two_splits(mined, tmp_path):
    repo, settings, result = mined
    examples, _ = history_examples(result.events, str(repo.path), settings)
    settings.dataset.test_fraction, settings.dataset.valid_fraction = 0.2, 0.1
    res = build_dataset(examples, tmp_path / "ds", settings, run_meta=RunMeta(event="push", branch="main"))
    assert res.counts["test"] >= 2 and res.counts["valid"] >= 1
    cases = read_cases(tmp_path / "ds")
    assert all(c.before_text for c in cases)
    by_split = {
        s: {json.loads(json.dumps(r))["messages"][1]["content"] for r in read_split(tmp_path / "ds", s)}
        for s in ("train", "valid", "test")
    }
    commits = {s: {ex.case.commit for ex in examples if ex.messages[1]["content"] in by_split[s]} for s in by_split}
    assert not (commits["train"] & commits["test"]) and not (commits["valid"] & commits["test"])
    newest = {ex.case.commit: ex.case.date for ex in examples}
    assert min(newest[c] for c in commits["test"]) > max(newest[c] for c in commits["train"] | commits["valid"])
    stats = json.loads((tmp_path / "ds" / "stats.json").read_text())
    card = (tmp_path / "ds" / "README.md").read_text()
    assert stats["by_split"]["test"]["dates"]["to"] in card and "| bandit/B506 |" in card


def test_an_untrusted_run_gives_no_rows(mined, tmp_path):
    repo, settings, result = mined
    examples, _ = history_examples(result.events, str(repo.path), settings)
    res = build_dataset(examples, tmp_path / "pr", settings, run_meta=RunMeta(event="pull_request", pr=3))
    assert res.counts == {"train": 0, "valid": 0, "test": 0} and not res.trusted
    assert res.excluded["untrusted run"] == len(examples)


def test_events_whose_code_was_redacted_are_left_out(mined):
    repo, settings, result = mined
    events = [e.model_copy() for e in result.events if e.kind == "fixed"]
    events[0].redacted = True
    examples, skipped = history_examples(events, str(repo.path), settings)
    assert len(examples) == len(events) - 1 and skipped["its code holds a redacted secret"] == 1


def test_evaluation_verifies_each_fixer_with_the_scanner(mined, tmp_path, tmp_path_factory, monkeypatch, tiny_model):
    """Tuned answers the reference fix, base answers junk: the real bandit verifies the first and
    rejects the second, and the gate passes on the margin."""
    from secai.model import generate
    from secai.model.base import resolve_model
    from secai.training.evaluate import evaluate_adapter

    repo, settings, result = mined
    examples, _ = history_examples(result.events, str(repo.path), settings)
    res = build_dataset(examples, tmp_path / "ds", settings, run_meta=RunMeta(event="push", branch="main"))
    test_rows = read_split(tmp_path / "ds", "test")
    reference = {r["messages"][1]["content"]: r["messages"][2]["content"] for r in test_rows}
    assert res.counts["test"] == len(reference)
    calls = []

    def fake_sample(model, tokenizer, prompts, *, n, **kw):
        tuned = len(calls) % 2 == 1  # base is asked first, then tuned
        calls.append(len(prompts))
        out = []
        for ids in prompts:
            text = tokenizer.decode(ids)
            ref = next(a for p, a in reference.items() if p.split("</finding>")[0][-200:] in text)
            out.append([ref if tuned else "```fix\n    pass  # nosec\n```\nRationale: silence it"] * n)
        return out

    monkeypatch.setattr(generate, "sample", fake_sample)
    from secai.fix.verify import Verifier

    batches = []
    real_verify = Verifier.verify

    def counting_verify(self, candidates):
        batches.append(len(candidates))
        return real_verify(self, candidates)

    monkeypatch.setattr(Verifier, "verify", counting_verify)
    settings.fix.candidates = 2
    adapter = shared_adapter(tiny_model, tmp_path_factory.mktemp("adapter"))
    ev = evaluate_adapter(tmp_path / "ds", adapter, resolve_model(str(tiny_model), settings), settings)
    fx = ev.fix
    assert fx.base.n == fx.tuned.n == len(reference)
    assert fx.tuned.verified == fx.tuned.n and fx.tuned.verified_rate_at_1 == 1.0
    assert fx.base.verified == 0 and fx.base.rejections == {"adds a suppression": fx.base.n}
    assert fx.deterministic.n == fx.base.n  # codemod may or may not be installed; it is scored either way
    assert ev.gate.passed and ev.gate.margin == 1.0
    assert (tmp_path / "eval.json").is_file()
    assert batches[-1] == 2 * 2 * fx.base.n  # both models' 2 candidates a case, judged in one batch


def test_each_prompt_shows_an_earlier_fix_of_the_same_rule_from_an_earlier_commit(mined, tmp_path):
    from secai.dates import when
    from secai.fix.memory import FixMemory

    repo, settings, result = mined
    examples, _ = history_examples(result.events, str(repo.path), settings)
    settings.dataset.test_fraction, settings.dataset.valid_fraction = 0.2, 0.1
    build_dataset(examples, tmp_path / "ds", settings, run_meta=RunMeta(event="push", branch="main"))
    memory = FixMemory.read(tmp_path / "ds" / "memory.jsonl")
    cases = read_cases(tmp_path / "ds")
    held_out = {c.id for c in cases}
    assert memory.fixes and not held_out & {f.id for f in memory.fixes}  # train + valid only
    stats = json.loads((tmp_path / "ds" / "stats.json").read_text())
    assert stats["memory"] == len(memory) and stats["with_earlier_fix"]["test"] == len(cases)
    by_id = {ex.case.id: ex for ex in examples}
    for row, case in zip(read_split(tmp_path / "ds", "test"), cases):
        user = row["messages"][1]["content"]
        shown = user.split("fixed this rule before, in ")[1].split("The file around")[0]
        earlier = [f for f in memory.fixes if f.rule_id == case.rule_id and f.before in shown and f.after in shown]
        assert earlier and all(when(f.date) < when(case.date) and f.commit != case.commit for f in earlier)
        assert by_id[case.id].case.commit == case.commit
    # a train row never shows a fix from its own commit or a later one
    for ex in examples:
        user = ex.messages[1]["content"]
        if "fixed this rule before" in user and ex.case.id not in held_out:
            shown = user.split("fixed this rule before, in ")[1].split("The file around")[0]
            assert any(
                f.before in shown and f.after in shown and when(f.date) < when(ex.case.date)
                for f in memory.fixes
                if f.rule_id == ex.case.rule_id
            )
