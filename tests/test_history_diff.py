"""Line mapping, SEARCH/REPLACE edits and suppression markers used by history mining."""

from __future__ import annotations

from secai.history.diffmap import LineMap, edit_for, window
from secai.history.suppress import find_marker, markers_in


def test_line_map_follows_shifts_and_marks_changed_lines():
    before = ["a", "b", "c", "d", "e"]
    after = ["new", "a", "b", "C!", "d", "e"]
    lm = LineMap(before, after)
    assert [lm.map(i) for i in range(1, 6)] == [2, 3, None, 5, 6]
    assert lm.map_near(3) == 4 and lm.map_back(4) == 3 and lm.map_back(1) == 1
    assert lm.hunks_near_before(3, 3, 0) and not lm.hunks_near_before(5, 5, 0)
    assert lm.hunks_near_before(4, 4, 1) and not lm.hunks_near_before(5, 5, 1)  # 1 line away from line 3, not 2
    # An insertion between lines 1 and 2 touches both.
    ins = LineMap(["a", "b", "c"], ["a", "x", "b", "c"])
    assert ins.hunks_near_before(2, 2, 0) and ins.hunks_near_before(1, 1, 0) and not ins.hunks_near_before(3, 3, 0)
    assert LineMap(before, before).hunks == []


def test_edit_is_minimal_and_unique():
    before = ["def f(a):", "    x = eval(a)", "    return x", "", "def g(a):", "    x = eval(a)", "    return x"]
    after = before[:5] + ["    x = int(a)"] + before[6:]
    lm = LineMap(before, after)
    e = edit_for(lm, lm.hunks)
    # "    x = eval(a)" occurs twice: context is added until the SEARCH is found once.
    assert e.search == "def g(a):\n    x = eval(a)" and e.replace == "def g(a):\n    x = int(a)"
    assert (e.start_line, e.end_line) == (5, 6)
    text = "\n".join(before)
    assert text.count(e.search) == 1 and text.replace(e.search, e.replace) == "\n".join(after)
    # A pure insertion is anchored on a neighbouring line.
    lm = LineMap(["import os", "os.system(x)"], ["import os", "import shlex", "os.system(x)"])
    e = edit_for(lm, lm.hunks)
    assert e.search == "import os" and e.replace == "import os\nimport shlex"


def test_window_clips_to_the_file():
    lines = [f"l{i}" for i in range(1, 11)]
    assert window(lines, 2, 3, 2) == (1, "l1\nl2\nl3\nl4\nl5")
    assert window(lines, 10, 10, 1) == (9, "l9\nl10")


def test_markers_and_justifications():
    m = find_marker("x = run(c)  # nosec B602, B607 - constant command", 4)
    assert (m.marker, m.tool, m.rules, m.justification, m.line) == (
        "nosec",
        "bandit",
        ("B602", "B607"),
        "constant command",
        4,
    )
    assert m.covers("bandit", "B602") and not m.covers("bandit", "B101") and not m.covers("semgrep", "B602")
    m = find_marker("  # checkov:skip=CKV_AWS_18:Access logs go to CloudTrail")
    assert (m.tool, m.rules, m.justification) == ("checkov", ("CKV_AWS_18",), "Access logs go to CloudTrail")
    m = find_marker("eval(x)  // nosemgrep: python.lang.security.audit.eval-detected -- vetted input")
    assert m.rules == ("python.lang.security.audit.eval-detected",) and m.justification == "vetted input"
    assert m.covers("semgrep", "rules.python.lang.security.audit.eval-detected")
    m = find_marker("#trivy:ignore:AVD-AWS-0086")
    assert m.tool == "trivy" and m.covers("trivy", "AVD-AWS-0086") and m.covers("trivy", "AWS-0086")
    assert find_marker("x = 1  # noqa: E501").tool is None
    assert find_marker("return nosecurity_check()") is None and find_marker("plain code") is None
    [m] = markers_in([(7, "    # only used by the test fixtures"), (8, "    assert x  # nosec")])
    assert (m.line, m.rules, m.justification) == (8, (), "only used by the test fixtures")


def test_code_redaction_keeps_code_and_options_and_hides_secret_literals():
    from secai.ingest.redact import redact_code, redaction_marker

    kept = [
        'SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")',
        '  http_tokens = "required"',
        'token_url = "https://auth.example.com/token"',
        'password = "${var.db_password}"',
    ]
    for line in kept:
        assert redact_code(line) == line
    assert redact_code('SMTP_PASSWORD = "hunter2-smtp"') == 'SMTP_PASSWORD = "[REDACTED:a5375c54e2f8]"'
    assert redact_code("db: {api_key: 'k3y-Value'}") == "db: {api_key: '" + redaction_marker("k3y-Value") + "'}"
    token = "ghp_" + "a1" * 18
    assert token not in redact_code(f"headers = {{'Authorization': '{token}'}}")
