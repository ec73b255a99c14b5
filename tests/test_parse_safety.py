"""Safety 1.x JSON, from the real `safety check --json` run in examples/regenerate.sh."""

import json

import pytest
from conftest import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from secai.errors import InputError
from secai.findings import Finding
from secai.ingest.collect import parse_file
from secai.ingest.parsers import Document, find_parser, safety

REPORT = EXAMPLES / "artifacts" / "safety-results" / "safety.json"


@pytest.fixture(scope="module")
def parsed():
    findings, fmt = parse_file(REPORT)
    assert fmt == "safety"
    return findings


def by_rule(findings, rule_id):
    [f] = [f for f in findings if f.rule_id == rule_id]
    return f


def test_one_finding_per_row(parsed):
    raw = json.loads(REPORT.read_text())
    assert len(parsed) == len(raw) == 28
    assert {f.package.name for f in parsed} == {
        "requests",
        "pyyaml",
        "jinja2",
        "urllib3",
        "django",
        "flask",
        "werkzeug",
        "pyjwt",
    }
    assert all(f.tool == "safety" and f.category.value == "dependency" for f in parsed)
    assert all(f.package.ecosystem == "PyPI" for f in parsed)


def test_fixed_version_is_the_exclusive_upper_bound(parsed):
    pyyaml = by_rule(parsed, "pyup.io-38100")
    assert (pyyaml.package.name, pyyaml.package.version) == ("pyyaml", "5.3")
    assert pyyaml.package.fixed_versions == ["5.3.1"]
    assert pyyaml.extra["vulnerable_spec"] == "<5.3.1"
    assert "CVE-2020-1747" in pyyaml.vulnerability_ids
    assert by_rule(parsed, "pyup.io-40637").package.fixed_versions == ["2.2.24"]  # >=2.0.0a1,<2.2.24
    assert by_rule(parsed, "pyup.io-39525").package.fixed_versions == ["2.11.3"]  # jinja2 >=0.0.0,<2.11.3


def test_inclusive_bound_invents_no_fix(parsed):
    requests = by_rule(parsed, "pyup.io-36546")
    assert requests.extra["vulnerable_spec"] == "<=2.19.1"
    assert requests.package.fixed_versions == []


def test_cve_ids_only_from_the_advisory_text(parsed):
    django = by_rule(parsed, "pyup.io-38373")
    assert django.vulnerability_ids == ["CVE-2020-13254"]
    for f in parsed:
        assert all(v in f.message for v in f.vulnerability_ids)


def test_severity_without_cvss_is_medium_and_raw_empty(parsed):
    assert {(f.severity.value, f.raw_severity) for f in parsed} == {("medium", None)}


def test_cvss_scores_set_severity():
    row = [
        "pyyaml",
        "<5.4",
        "5.3",
        "Arbitrary code execution. See CVE-2020-14343.",
        "39611",
        {"base_score": 7.5},
        {"base_score": 9.8, "base_severity": "CRITICAL"},
    ]
    [f] = safety.parse([row], "r.json")
    assert (f.severity.value, f.raw_severity) == ("critical", "CRITICAL")
    assert f.package.fixed_versions == ["5.4"]
    row[6] = None
    [f] = safety.parse([row], "r.json")
    assert (f.severity.value, f.raw_severity) == ("high", "7.5")


@pytest.mark.parametrize(
    "doc",
    [
        [["x", "y", "z"]],
        [{"name": "requests"}],
        [["requests", "not a spec", "1.0", "text", "1"]],
        ["<1.0"],
        [],
    ],
)
def test_detection_needs_the_row_shape(doc):
    assert not safety.detect(doc)
    mod = find_parser(Document("json", doc, "r.json"))
    assert mod is None or mod.NAME != "safety"


def test_bad_later_row_is_skipped_with_a_note(tmp_path):
    good = ["pyyaml", "<5.4", "5.3", "advisory", "39611"]
    bad = tmp_path / "safety.json"
    bad.write_text(json.dumps([good] * 5 + [["pyyaml", "<5.4", 5, None, "1"]]))
    findings, _ = parse_file(bad)
    assert len(findings) == 5
    assert findings.skipped == ["row 5: safety row 5 is not [name, spec, version, advisory, id, ...]"]


_cell = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=12),
    st.sampled_from(["<1.0", ">=2.2,<2.2.10", "<=1", "CVE-2020-1747", ""]),
    st.dictionaries(
        st.sampled_from(["base_score", "base_severity"]), st.one_of(st.floats(), st.text(max_size=5)), max_size=2
    ),
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.lists(_cell, min_size=0, max_size=8), max_size=6), st.integers(min_value=0, max_value=27))
def test_mutated_reports_give_findings_or_a_parse_error(tmp_path_factory, rows, keep):
    real = json.loads(REPORT.read_text())
    path = tmp_path_factory.mktemp("safety") / "safety.json"
    path.write_text(json.dumps(real[keep : keep + 2] + rows))
    try:
        findings, _ = parse_file(path)
    except InputError as e:
        assert str(e).startswith(str(path))
        return
    for f in findings:
        Finding.model_validate(f.model_dump())


def test_first_sentence_ends_at_punctuation_before_whitespace():
    from secai.ingest.parsers.safety import _first_sentence

    assert _first_sentence(" Fixes v1.2.3 issues. See CVE-2020-1.") == "Fixes v1.2.3 issues."
    assert _first_sentence("Is it bad?\tYes") == "Is it bad?"
    assert _first_sentence("No end mark") == "No end mark"
    assert _first_sentence("Ends here.") == "Ends here."
    assert _first_sentence("word " * 40 + ". x", limit=12) == "word word w…"
