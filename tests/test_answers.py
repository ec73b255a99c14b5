import re

from secai.analysis.prompts import parse_answer
from secai.dataset.answers import CWE_NAMES, NO_FIX_PHRASE, NO_REMEDIATION_PHRASE, build_answer, trim, verdict_for
from secai.findings import Category, Finding, Instance, Location, Package, Severity, vuln_ids_in


def dep(fixed=("2.31.0", "3.0.1"), **kw) -> Finding:
    base = dict(
        tool="trivy",
        rule_id="CVE-2023-32681",
        title="requests: leaks Proxy-Authorization",
        severity=Severity.medium,
        category=Category.dependency,
        cwe=[200],
        vulnerability_ids=["CVE-2023-32681"],
        package=Package(ecosystem="pip", name="requests", version="2.19.0", fixed_versions=list(fixed)),
        description="Requests leaks Proxy-Authorization headers to destination servers.",
        references=["https://nvd.nist.gov/vuln/detail/CVE-2023-32681"],
    )
    base.update(kw)
    return Finding(**base)


def test_dependency_answer_uses_the_first_fixed_version_only():
    a = build_answer(dep())
    assert "Upgrade requests from 2.19.0 to 2.31.0." in a
    assert "3.0.1" not in a
    assert "CWE-200 (Exposure of Sensitive Information to an Unauthorized Actor)" in a
    assert parse_answer(a).well_formed and parse_answer(a).verdict == "likely true positive"


def test_dependency_without_fix_is_honest():
    a = build_answer(dep(fixed=()))
    assert f"{NO_FIX_PHRASE} of requests is published by the scanner for CVE-2023-32681" in a
    assert "Upgrade" not in a
    # Only versions the finding holds appear in the answer.
    assert set(re.findall(r"\b\d+\.\d+(?:\.\d+)?\b", a)) <= {"2.19.0"}


def test_code_answer_carries_remediation_path_and_line():
    f = Finding(
        tool="semgrep",
        rule_id="python.lang.security.audit.formatted-sql-query",
        title="formatted sql query",
        severity=Severity.high,
        category=Category.code,
        cwe=[89],
        location=Location(path="app/db.py", start_line=42),
        message="SQL built with string formatting",
        remediation="Use parameterized queries (cursor.execute(sql, params)).",
    )
    a = build_answer(f)
    assert "at app/db.py:42" in a and "Location: app/db.py:42." in a
    assert "Use parameterized queries" in a and "CWE-89 (SQL Injection)" in a


def test_code_without_remediation_says_so():
    f = Finding(
        tool="bandit",
        rule_id="B110",
        title="Try, Except, Pass detected.",
        severity=Severity.low,
        category=Category.code,
        location=Location(path="x.py", start_line=3),
        message="Try, Except, Pass detected.",
    )
    a = build_answer(f)
    assert f"{NO_REMEDIATION_PHRASE} text is published by the scanner. Review x.py:3" in a
    assert verdict_for(f) == "needs review"


def test_secret_answer_rotates_and_never_shows_value():
    token = "ghp_" + "A1b2C3d4E5" * 4
    f = Finding(
        tool="gitleaks",
        rule_id="github-pat",
        title="GitHub Personal Access Token",
        severity=Severity.high,
        category=Category.secret,
        location=Location(path="ci/deploy.sh", start_line=7),
        message=f"token {token} found",
    )
    a = build_answer(f)
    assert token not in a and "[REDACTED:" in a
    assert "rotate" in a and "git history" in a and "ci/deploy.sh:7" in a and "not shown" in a


def test_dast_answer_names_url_and_solution():
    f = Finding(
        tool="zap",
        rule_id="10011",
        title="Cookie Without Secure Flag",
        severity=Severity.low,
        category=Category.dast,
        cwe=[614],
        url="https://app.test/login",
        instances=[Instance(url="https://app.test/login", method="GET", param="sid")],
        remediation="Set the secure flag on cookies.",
    )
    a = build_answer(f)
    assert "on https://app.test/login" in a and "GET https://app.test/login (parameter sid)" in a


def test_no_advisory_id_outside_the_finding():
    f = dep(description="Fixed together with CVE-2024-0001.")
    assert set(vuln_ids_in(build_answer(f))) <= {"CVE-2023-32681", "CVE-2024-0001"}


def test_trim_cuts_at_sentence_or_word():
    assert trim("One. Two three four five six.", 12) == "One."
    assert trim("word " * 50, 20).endswith("…") and len(trim("word " * 50, 20)) <= 22
    assert trim("## Impact\n---\nShort", 100) == "Impact Short"


def test_cwe_table_covers_the_common_ids():
    assert len(CWE_NAMES) >= 100
    for cwe in (20, 22, 78, 79, 89, 200, 285, 352, 400, 502, 611, 798, 918, 1333):
        assert cwe in CWE_NAMES
