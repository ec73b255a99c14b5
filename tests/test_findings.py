import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secai.findings import (
    Category,
    Finding,
    Location,
    Package,
    Severity,
    assign_fingerprints,
    build_finding,
    build_location,
    cwe_ids,
    dedupe,
    severity_from_score,
    severity_from_text,
    vuln_ids_in,
)


def _code(line, rule="R1", path="app/x.py", tool="semgrep"):
    return Finding(
        tool=tool,
        rule_id=rule,
        title="t",
        severity=Severity.high,
        category=Category.code,
        location=Location(path=path, start_line=line),
    )


def test_severity_scales():
    assert severity_from_text("MODERATE") is Severity.medium
    assert severity_from_text("error") is Severity.high
    assert severity_from_text("bogus") is Severity.info
    assert [severity_from_score(s) for s in (9.8, 7.0, 4.0, 0.1, 0)] == [
        Severity.critical,
        Severity.high,
        Severity.medium,
        Severity.low,
        Severity.info,
    ]


def test_id_helpers():
    assert cwe_ids("CWE-79: XSS", ["CWE-89", 22], "external/cwe/cwe-079") == [22, 79, 89]
    assert vuln_ids_in("see cve-2021-44228 and GHSA-JFH8-C2JP-5V3Q") == ["CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q"]


def test_paths_are_repo_relative():
    assert Location(path="file://./src\\a.py").path == "src/a.py"


@pytest.mark.parametrize(
    "raw, path",
    [
        ("src/a.py", "src/a.py"),
        (" src/a.py\n", "src/a.py"),
        ("././a.py", "a.py"),
        (".\\a\\b.py", "a/b.py"),
        (".a/b", ".a/b"),
        ("../a", "../a"),
        (" ./file://x", "file://x"),
        ("file:///abs/a.py", "/abs/a.py"),
        ("", ""),
    ],
)
def test_location_path_normalized_however_built(raw, path):
    built = [
        Location(path=raw),
        build_location({"path": raw}),
        Location.model_validate({"path": raw}),
        Location.model_validate_json(Location.model_construct(path=raw).model_dump_json()),
    ]
    assert [loc.path for loc in built] == [path] * len(built)
    assert (
        Finding(tool="t", rule_id="r", title="t", severity="low", category="code", location={"path": raw}).location.path
        == path
    )


def test_finding_lists_unique_however_built():
    fields = dict(
        tool="t",
        rule_id="r",
        title="t",
        severity=Severity.low,
        category=Category.code,
        cwe=[79, 22, 79],
        vulnerability_ids=["CVE-1", "", "CVE-2", "CVE-1"],
        references=["a", "a"],
    )
    built = [
        Finding(**fields),
        build_finding(fields),
        Finding.model_validate(fields),
        Finding.model_validate_json(Finding.model_construct(**fields).model_dump_json()),
    ]
    for f in built:
        assert (f.cwe, f.vulnerability_ids, f.references) == ([22, 79], ["CVE-1", "CVE-2"], ["a"])
    one = build_finding(dict(fields, cwe=[5], vulnerability_ids=[""], references=["x", "y"]))
    assert (one.cwe, one.vulnerability_ids, one.references) == ([5], [], ["x", "y"])


def test_fingerprint_survives_unrelated_line_shifts():
    before = assign_fingerprints([_code(10), _code(40), _code(5, rule="R2")])
    after = assign_fingerprints([_code(13), _code(43), _code(9, rule="R2")])
    assert [f.fingerprint for f in before] == [f.fingerprint for f in after]
    assert len({f.fingerprint for f in before}) == 3


def test_dedupe_merges_copies_and_keeps_facts():
    a = Finding(
        tool="Trivy",
        rule_id="CVE-1",
        title="t",
        severity=Severity.medium,
        category=Category.dependency,
        package=Package(name="p", version="1.0", fixed_versions=["1.1"]),
        vulnerability_ids=["CVE-1"],
        source="a.sarif",
    )
    b = a.model_copy(deep=True)
    b.tool = "trivy"
    b.source = "b.json"
    b.severity = Severity.high
    b.cwe = [79]
    out = dedupe([a, b])
    assert len(out) == 1
    assert out[0].severity is Severity.high and out[0].cwe == [79]
    assert out[0].extra["also_in"] == ["b.json"]
    assert out[0].fingerprint
    assert "fingerprint" in out[0].model_fields_set
    c = b.model_copy(deep=True)
    c.source, c.extra = "c.json", {"also_in": ["a.sarif", "b.json", "d.json"]}
    assert dedupe([a, c])[0].extra["also_in"] == ["b.json", "c.json", "d.json"]


def test_dedupe_keeps_distinct_lines():
    assert len(dedupe([_code(1), _code(2), _code(1)])) == 2


def test_fingerprints_are_stable():
    # Stored analyses are keyed by fingerprint: the hashed text must never change.
    f = Finding(
        tool="Trivy",
        rule_id="CVE-1",
        title="t",
        severity=Severity.high,
        category=Category.dependency,
        package=Package(ecosystem="PyPI", name="p", version="1.0"),
        vulnerability_ids=["CVE-1"],
        location=Location(path="requirements.txt", start_line=3),
    )
    g = _code(7)
    assert [x.fingerprint for x in dedupe([f, g, _code(2)])] == [
        "4f0bc7ce5d92c65b63d67673b432c153",
        "1dbbb9e8516e97abf3ed58b51ff1993f",
        "ac27469134d041718dc9aa7569bc8012",
    ]


def _cwe_ids_reference(*values):
    """cwe_ids as first written: every value through one general loop."""
    import re

    out = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, (list, tuple, set)):
            out.extend(_cwe_ids_reference(*value))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if value > 0:
                out.append(value)
        else:
            text = str(value).strip()
            if text.isdigit():
                if int(text) > 0:
                    out.append(int(text))
            else:
                out.extend(int(m) for m in re.findall(r"CWE[-_ ]?(\d{1,5})", text, re.IGNORECASE) if int(m) > 0)
    return sorted(set(out))


_CWE_TEXTS = st.sampled_from(
    [
        "CWE-79",
        "cwe_89: SQL",
        " 22 ",
        "0",
        "00",
        "CWE-0",
        "external/cwe/cwe-079",
        "CWE 1 and CWE-2",
        "",
        "x",
        "\u0661\u0662",
        "CWE-123456",
    ]
)
_CWE_VALUES = st.recursive(
    st.one_of(_CWE_TEXTS, st.text(max_size=12), st.integers(-3, 2000), st.booleans(), st.none(), st.floats(0, 100)),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner),
    max_leaves=12,
)


@settings(max_examples=800, derandomize=True, deadline=None)
@given(st.lists(_CWE_VALUES, max_size=4))
def test_cwe_ids_reads_every_shape_like_the_general_loop(values):
    assert cwe_ids(*values) == _cwe_ids_reference(*values)


def _at(line, column):
    f = _code(line)
    f.location.start_column = column
    return f


def test_one_rule_at_two_columns_of_a_line_is_two_findings_with_stable_fingerprints():
    merged_before = dedupe([_code(5), _code(9)])  # the same results without columns
    split = dedupe([_at(5, 20), _at(5, 3), _code(9)])
    assert [(f.location.start_line, f.location.start_column) for f in split] == [(5, 20), (5, 3), (9, None)]
    by_column = {f.location.start_column: f.fingerprint for f in split}
    # the first column of line 5 and the finding after it keep the fingerprints they had
    assert by_column[3] == merged_before[0].fingerprint and by_column[None] == merged_before[1].fingerprint
    assert by_column[20] not in {f.fingerprint for f in merged_before}
    shifted = dedupe([_at(15, 20), _at(15, 3), _code(19)])  # lines inserted above
    assert [f.fingerprint for f in shifted] == [f.fingerprint for f in split]
    assert len(dedupe([_at(5, 3), _at(5, 3)])) == 1  # same column: the same finding twice
