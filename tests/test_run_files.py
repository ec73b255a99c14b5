"""One reader per run-folder file: missing files read as absent, damaged ones are named in one log
line and treated as absent, invalid finding rows are left out, and writers round-trip."""

from __future__ import annotations

import json
import logging

from secai.findings import Category, Finding, Location, Severity, assign_fingerprints
from secai.run import files
from secai.run.meta import RunMeta
from secai.run.records import EvalResult, FixEval, FixScore, Gate, ParseRecord, ProblemRecord, ReportRecord


def _finding(n: int) -> Finding:
    return Finding(
        tool="bandit",
        rule_id=f"B10{n}",
        title="t",
        severity=Severity.high,
        category=Category.code,
        location=Location(path="app.py", start_line=n),
    )


def test_missing_files_read_as_absent(tmp_path):
    assert files.read_findings(tmp_path) == []
    assert files.read_run_meta(tmp_path) == RunMeta()
    assert files.read_parse(tmp_path) is None
    assert files.read_eval(tmp_path) is None
    assert files.read_validation(tmp_path) is None
    assert files.read_publish(tmp_path) is None
    assert files.read_training(tmp_path) is None


def test_writers_round_trip(tmp_path):
    found = assign_fingerprints([_finding(1), _finding(2)])
    files.write_findings(tmp_path, found)
    assert [f.fingerprint for f in files.read_findings(tmp_path)] == [f.fingerprint for f in found]
    meta = RunMeta(repo="o/r", run_id="7", pr=3, base_branch="main", event="pull_request", trusted=False)
    files.write_run_meta(tmp_path, meta)
    assert files.read_run_meta(tmp_path) == meta
    rec = ParseRecord(
        reports=[ReportRecord(path="b.json", format="bandit", findings=2)],
        problems=[
            ProblemRecord(path="x.json", message="invalid JSON"),
            ProblemRecord(path="r.md", message="not a report", level="skipped"),
        ],
    )
    files.write_parse(tmp_path, rec)
    assert files.read_parse(tmp_path) == rec and [p.path for p in rec.errors] == ["x.json"]
    score = FixScore(n=2, proposed=1, verified=1, verified_rate=0.5, verified_rate_at_1=0.5)
    fix = FixEval(k=4, cases=2, base=score, tuned=score, deterministic=score)
    ev = EvalResult(fix=fix, gate=Gate(enabled=True, passed=False, margin=0.0, required_margin=0.1))
    files.write_eval(tmp_path / files.EVAL, ev)
    assert files.read_eval(tmp_path) == ev


def test_damaged_files_are_named_and_treated_as_absent(tmp_path, caplog):
    (tmp_path / files.EVAL).write_text("{not json")
    (tmp_path / files.VALIDATION).write_text(json.dumps({"passed": "maybe"}))
    (tmp_path / files.RUN).write_text(json.dumps(["not", "an", "object"]))
    with caplog.at_level(logging.WARNING, logger="secai"):
        assert files.read_eval(tmp_path) is None
        assert files.read_validation(tmp_path) is None
        assert files.read_run_meta(tmp_path) == RunMeta()
    lines = [r.getMessage() for r in caplog.records]
    assert any(str(tmp_path / files.EVAL) in m and "unreadable" in m for m in lines)
    assert any(str(tmp_path / files.VALIDATION) in m and "not a valid validation.json" in m for m in lines)
    assert all("\n" not in m for m in lines)


def test_an_invalid_finding_row_is_left_out_and_the_rest_kept(tmp_path, caplog):
    good = assign_fingerprints([_finding(1)])[0]
    rows = [json.loads(good.model_dump_json()), {"tool": "x"}, "junk"]
    (tmp_path / files.FINDINGS).write_text(json.dumps(rows))
    with caplog.at_level(logging.WARNING, logger="secai"):
        assert [f.fingerprint for f in files.read_findings(tmp_path)] == [good.fingerprint]
    assert sum("is not a valid finding" in r.getMessage() for r in caplog.records) == 2
