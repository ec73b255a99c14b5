"""`.secai/ignore.yml`: accepted findings become labels and leave the new findings and the gate;
every bad entry is one warning naming its line, and the other entries still apply."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from conftest import EXAMPLES

from secai.config import load_settings
from secai.ingest.collect import collect
from secai.triage.ignore import apply_ignore_file, read_ignore_file

BANDIT = EXAMPLES / "artifacts" / "bandit-results" / "bandit.json"
TODAY = date(2026, 6, 1)

GOOD = """\
# what the team accepted
ignore:
  - rule: B602
    path: app/jobs.py
    line: 12
    reason: the command is a constant; tracked in SEC-12
    expires: 2026-12-31
  - rule: B105
    tool: bandit
    path: "app/*.py"
    reason: test fixture, not a credential
    verdict: false positive
"""

BAD = """\
ignore:
  - rule: B602
    path: app/jobs.py
    line: 16
    reason: accepted until the rewrite
  - rule: B324
    reason: legacy checksum
    owner: sam
  - rule: B506
    reason: parsed config is trusted
    expires: 31/12/2026
  - rule: B307
    path: app/web.py
  - rule: B999
    reason: a rule nobody reports
  - rule: B501
    reason: internal host only
    expires: 2026-01-31
  - rule: B608
    reason: fine
    verdict: true positive
"""


@pytest.fixture(scope="module")
def findings():
    return collect([BANDIT], load_settings(environ={}).limits).findings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".secai" / "ignore.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_entries_accept_findings_with_their_reason(findings, tmp_path):
    ign = read_ignore_file(write(tmp_path, GOOD), today=TODAY)
    assert ign.warnings == []
    labels, unmatched = apply_ignore_file(ign, findings)
    assert unmatched == []
    got = sorted((lb.rule_id, lb.path, lb.line, lb.verdict, lb.origin) for lb in labels)
    assert got == [
        ("B105", "app/settings.py", 4, "false positive", ".secai/ignore.yml:8"),
        ("B105", "app/settings.py", 6, "false positive", ".secai/ignore.yml:8"),
        ("B105", "app/settings.py", 7, "false positive", ".secai/ignore.yml:8"),
        ("B105", "app/settings.py", 8, "false positive", ".secai/ignore.yml:8"),
        ("B602", "app/jobs.py", 12, "accepted risk", ".secai/ignore.yml:3"),
    ]
    assert {lb.source for lb in labels} == {"ignore-file"}
    assert next(lb for lb in labels if lb.rule_id == "B602").reason == "the command is a constant; tracked in SEC-12"


def test_each_bad_entry_is_one_warning_naming_its_line(findings, tmp_path):
    ign = read_ignore_file(write(tmp_path, BAD), today=TODAY)
    labels, unmatched = apply_ignore_file(ign, findings)
    assert ign.warnings == [
        ".secai/ignore.yml:8: unknown key 'owner' (allowed: expires, fingerprint, line, path, reason, rule, tool,"
        " verdict); entry left out",
        ".secai/ignore.yml:9: `expires` '31/12/2026' is not a date (YYYY-MM-DD); entry left out",
        ".secai/ignore.yml:12: `reason` is required; entry left out",
        ".secai/ignore.yml:16: the entry for B501 expired on 2026-01-31; not applied",
        ".secai/ignore.yml:19: `verdict` 'true positive' is not one of: accepted risk, false positive; entry left out",
    ]
    assert unmatched == [".secai/ignore.yml:14: the entry for B999 matches no finding"]
    # the good entry still applies
    assert [(lb.rule_id, lb.line) for lb in labels] == [("B602", 16)]


@pytest.mark.parametrize(
    "text, warning",
    [
        ("ignore:\n  - rule: B602\n    reason: [unclosed\n", ".secai/ignore.yml:4: not valid YAML"),
        ("- rule: B602\n  reason: x\n", ".secai/ignore.yml:1: expected a mapping with an `ignore:` list"),
        ("ignore: []\nignored: []\n", ".secai/ignore.yml:2: unknown key 'ignored'"),
        ("ignore:\n  - B602\n", ".secai/ignore.yml:1: an entry is not a mapping"),
        (b"\xff\xfe", ".secai/ignore.yml: not UTF-8 text"),
    ],
)
def test_unreadable_files_are_one_warning(tmp_path, text, warning):
    path = write(tmp_path, "")
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    ign = read_ignore_file(path, today=TODAY)
    assert len(ign.warnings) == 1 and ign.warnings[0].startswith(warning), ign.warnings


def test_accepted_findings_leave_the_gate_the_new_findings_and_the_sarif(tmp_path, caplog):
    from secai.pipeline import run_pipeline
    from secai.report.build import compare, load_run
    from secai.report.gate import run_gate, threshold

    src = tmp_path / "src"
    write(src, GOOD + "  - rule: B999\n    reason: nothing\n")
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, environ={})
    res = run_pipeline(tmp_path / "run", settings, artifacts=[BANDIT], stages=["parse", "labels", "report"], source=src)
    note = next(s for s in res.stages if s.stage == "labels").note
    assert (
        note.startswith("5 labels: 1 accepted risk, 4 false positive (from ignore-file 5)") and "1 ignore-file" in note
    )
    assert ".secai/ignore.yml:13: the entry for B999 matches no finding" in caplog.text
    hits, _ = run_gate(tmp_path / "run", settings, threshold("high"))
    high = [f for f in collect([BANDIT], settings.limits).findings if f.severity.value == "high"]
    assert len(hits) == len(high) - 1 and all((f.rule_id, f.location.start_line) != ("B602", 12) for f in hits)
    data = load_run(tmp_path / "run", settings)
    cmp = compare(data)
    assert {(f.rule_id, f.location.start_line) for f in cmp.suppressed} == {("B602", 12)} | {
        ("B105", n) for n in (4, 6, 7, 8)
    }
    assert all(f.extra["accepted"].endswith("(.secai/ignore.yml:3)") for f in cmp.suppressed if f.rule_id == "B602")
    sarif = json.loads((tmp_path / "run" / "findings.sarif").read_text())
    suppressed = [r for r in sarif["runs"][0]["results"] if r.get("suppressions")]
    assert len(suppressed) == 5


def test_collect_carries_the_ignore_file_and_its_gate_honours_it(tmp_path, monkeypatch):
    from secai.cli import main

    for var in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(var, raising=False)
    src = tmp_path / "src"
    only_high = "ignore:\n" + "".join(
        f"  - rule: {r}\n    reason: reviewed, see SEC-7\n" for r in ("B602", "B605", "B324", "B501", "B201")
    )
    write(src, only_high)
    args = ["collect", str(BANDIT), "--source", str(src), "--fail-on", "high"]
    assert main([*args, "--out", str(tmp_path / "b1")]) == 0
    assert (tmp_path / "b1" / "sources" / ".secai" / "ignore.yml").read_text() == only_high
    write(src, only_high.replace("B201", "B999"))
    assert main([*args, "--out", str(tmp_path / "b2")]) == 1  # B201 (high) is live again
