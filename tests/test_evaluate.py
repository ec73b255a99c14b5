import json

import pytest

from secai.config import load_settings
from secai.dataset.build import FindingFacts, build_dataset
from secai.findings import Category, Finding, Location, Package, Severity, dedupe
from secai.run.records import ModelScore
from secai.training.evaluate import decide_gate, evaluate_adapter, score_answer, summarize

DEP = FindingFacts(
    fingerprint="f1",
    tool="trivy",
    category="dependency",
    rule_id="CVE-2021-33503",
    package="urllib3",
    installed_version="1.26.3",
    fixed_version="1.26.5",
    fixed_versions=["1.26.5", "2.0.0"],
    vulnerability_ids=["CVE-2021-33503"],
    known_ids=["CVE-2021-33503", "GHSA-q2q7-5pp4-w6pg"],
)
NOFIX = FindingFacts(
    fingerprint="f2",
    tool="trivy",
    category="dependency",
    rule_id="CVE-2011-3374",
    package="apt",
    installed_version="1.8.2.2",
    vulnerability_ids=["CVE-2011-3374"],
    known_ids=["CVE-2011-3374"],
)
CODE = FindingFacts(
    fingerprint="f3", tool="semgrep", category="code", rule_id="python.sqli", path="app/db.py", line=4, cwe=[89]
)
DAST = FindingFacts(
    fingerprint="f4",
    tool="zap",
    category="dast",
    rule_id="10011",
    title="Cookie Without Secure Flag",
    url="https://app.test/login",
    urls=["https://app.test/login", "https://app.test/home"],
)
SECRET = FindingFacts(
    fingerprint="f5", tool="gitleaks", category="secret", rule_id="aws-access-token", path="conf/aws.tf"
)


def test_right_dependency_answer():
    s = score_answer("Remediation: Upgrade urllib3 from 1.26.3 to 1.26.5.", DEP)
    assert s.faithful and s.checks == {"package": True, "fixed_version": True, "no_invented_ids": True}


def test_wrong_version_fails():
    assert not score_answer("Upgrade urllib3 to 1.26.4.", DEP).faithful
    # A longer version that merely starts with the right one is still wrong.
    assert not score_answer("Upgrade urllib3 to 1.26.50.", DEP).faithful


def test_wrong_package_fails():
    s = score_answer("Upgrade requests to 1.26.5.", DEP)
    assert not s.faithful and s.checks["package"] is False and s.checks["fixed_version"] is True


def test_hallucinated_cve_fails_and_is_reported():
    s = score_answer("Upgrade urllib3 to 1.26.5 (CVE-2021-33503, CVE-2099-0001).", DEP)
    assert not s.faithful and s.invented_ids == ["CVE-2099-0001"]
    # An alias that appears in the finding's own text is not invented.
    assert score_answer("urllib3 1.26.5 fixes GHSA-q2q7-5pp4-w6pg.", DEP).faithful


def test_honest_no_fix_answer():
    assert score_answer("No fixed version of apt is published by the scanner. Monitor the advisory.", NOFIX).faithful
    assert not score_answer("Upgrade apt to 1.8.3.", NOFIX).faithful


def test_code_needs_path_and_rule_or_cwe():
    assert score_answer("SQL injection (CWE-89) at app/db.py:4.", CODE).faithful
    assert score_answer("python.sqli fires in app/db.py.", CODE).faithful
    assert not score_answer("SQL injection (CWE-89) at app/models.py:4.", CODE).faithful
    assert not score_answer("Problem at app/db.py (CWE-79).", CODE).faithful


def test_dast_url_or_alert():
    assert score_answer("The cookie on https://app.test/home lacks Secure.", DAST).faithful
    assert score_answer("Alert 10011: set the secure flag.", DAST).faithful
    assert not score_answer("Set secure cookies everywhere.", DAST).faithful


def test_secret_answers_never_carry_a_secret():
    assert score_answer("Rotate the key found in conf/aws.tf and purge history.", SECRET).faithful
    leaked = score_answer("Rotate AKIAIOSFODNN7EXAMPLE in conf/aws.tf.", SECRET)
    assert not leaked.faithful and leaked.checks["no_secret"] is False


def test_summary_and_gate():
    scores = [score_answer("Upgrade urllib3 to 1.26.5.", DEP), score_answer("CVE-2000-1234", NOFIX)]
    s = summarize(scores, [DEP, NOFIX])
    assert (s.faithfulness, s.hallucination_rate, s.n) == (0.5, 0.5, 2)
    assert s.by_category == {"dependency": 0.5}
    settings = load_settings()
    base = ModelScore(faithfulness=0.1, hallucination_rate=0.2, n=10)
    assert decide_gate(base, ModelScore(faithfulness=0.8, hallucination_rate=0, n=10), settings).passed
    failed = decide_gate(base, ModelScore(faithfulness=0.2, hallucination_rate=0, n=10), settings)
    assert not failed.passed and failed.margin == pytest.approx(0.1) and failed.required_margin == 0.2
    off = load_settings(overrides={"evaluate": {"gate": False}})
    assert decide_gate(base, ModelScore(faithfulness=0.0, hallucination_rate=0, n=10), off).passed


def _findings(n: int) -> list[Finding]:
    return dedupe(
        Finding(
            tool="trivy",
            rule_id=f"CVE-2024-{1000 + i}",
            title="t",
            severity=Severity.high,
            category=Category.dependency,
            vulnerability_ids=[f"CVE-2024-{1000 + i}"],
            package=Package(ecosystem="pip", name=f"pkg{i}", version="1.0", fixed_versions=[f"1.{i}"]),
            location=Location(path="requirements.txt"),
        )
        for i in range(n)
    )


def test_evaluate_adapter_end_to_end_on_tiny_model(tmp_path, tiny_model):
    from secai.model.base import resolve_model
    from secai.training.train import train_adapter

    settings = load_settings(
        overrides={
            "train": {"min_iters": 4, "max_iters": 4, "steps_per_eval": 2, "rank": 4},
            "evaluate": {"max_tokens": 12, "max_examples": 3},
            "analyze": {"max_prompt_tokens": 128},
        }
    )
    build_dataset(_findings(24), tmp_path / "dataset", settings)
    resolved = resolve_model(str(tiny_model), settings)
    train_adapter(tmp_path / "dataset", tmp_path / "adapter", resolved, settings, progress=False)
    res = evaluate_adapter(
        tmp_path / "dataset", tmp_path / "adapter", resolved, settings, out=tmp_path / "eval.json", batch_size=2
    )
    data = json.loads((tmp_path / "eval.json").read_text())
    assert data["base"]["n"] == data["tuned"]["n"] == 3
    assert set(data["gate"]) == {"enabled", "passed", "margin", "required_margin"}
    # A random tiny model states no package and version: it cannot pass the gate.
    assert res.tuned.faithfulness == 0.0 and res.gate.passed is False
    ex = data["examples"][0]
    assert ex["reference"].startswith("Verdict:") and "checks" in ex["base"] and "answer" in ex["tuned"]
